//! `ripcord demo`: build a throwaway Cortex-shaped sandbox, then run the shipped runbooks
//! against it for real — triggers, a full rollback with DB restore, verification, and a
//! backup/restore drill with its report.

mod sandbox;
pub mod service;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ripcord_runtime::Mode;
use ripcord_runtime::run::{RunOutcome, RunRequest, exit};
use ripcord_runtime::script::Script;

use sandbox::Sandbox;

use crate::error::{Error, Result};

/// One runbook the demo runs, in order.
struct Stage {
    title: &'static str,
    script: &'static str,
    params: &'static [(&'static str, &'static str)],
    mode: Mode,
}

const STAGES: &[Stage] = &[
    Stage {
        title: "1/4  Is this a rollback? (triggers)",
        script: "triggers",
        params: &[],
        mode: Mode::Run,
    },
    Stage {
        title: "2/4  Full rollback with DB restore (rollback option=full)",
        script: "rollback",
        params: &[
            ("option", "full"),
            ("target", sandbox::STABLE),
            ("reason", "demo: gateway_critical storm after v1.5.0"),
        ],
        mode: Mode::Run,
    },
    Stage {
        title: "3/4  Post-rollback verification (verify)",
        script: "verify",
        params: &[("phase2_secs", "1"), ("phase3_secs", "1")],
        mode: Mode::Run,
    },
    Stage {
        title: "4/4  Backup/restore drill (backup-restore-drill)",
        script: "backup-restore-drill",
        params: &[],
        mode: Mode::Run,
    },
];

pub struct DemoOptions {
    pub keep: bool,
    pub dir: Option<PathBuf>,
    pub setup_only: bool,
    pub healthy: bool,
    pub backend: crate::cli::DemoBackend,
    /// `--journal` / `RIPCORD_JOURNAL`: journal the demo's runs there instead of in the sandbox.
    pub journal: Option<PathBuf>,
}

pub fn run(
    options: DemoOptions,
    interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result {
    let started = Instant::now();
    let (root, _guard) = sandbox_root(&options)?;
    let ripcord = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ripcord"));
    eprintln!(
        "ripcord demo: building a sandbox Cortex service in {}",
        root.display()
    );
    let sb = Sandbox::create(&root, &ripcord).map_err(Error::failed)?;
    let systemd = match options.backend {
        crate::cli::DemoBackend::Auto => systemd_user_available(),
        crate::cli::DemoBackend::Systemd => true,
        crate::cli::DemoBackend::Process => false,
    };
    let config = sb.write_ripcord_toml(systemd).map_err(Error::failed)?;
    write_scripts(&root.join("scripts"))?;
    let unit_path = systemd.then(|| user_unit_dir().join(&sb.unit));
    if let Some(path) = &unit_path {
        install_unit(path, &sb.unit_file())?;
    }
    eprintln!(
        "  service {} on 127.0.0.1:{} under {}",
        sb.unit,
        sb.port,
        if systemd {
            "the systemd user manager"
        } else {
            "the process backend (no systemd user manager answered)"
        }
    );

    let demo = Demo {
        root: root.clone(),
        config,
        journal: options
            .journal
            .clone()
            .unwrap_or_else(|| root.join("journal.db")),
        interrupt,
    };
    if options.setup_only {
        return demo.setup(&sb, options.healthy);
    }
    // A failure is shown where it happened, before the teardown says what it cleaned up.
    let code = match demo.scenario(&sb) {
        Ok(()) => exit::OK,
        Err(e) => e.report(),
    };
    // Stop the service whatever happened, then clean up.
    let _ = demo.inline("service::stop(cfg.unit);");
    if let Some(path) = &unit_path {
        let _ = std::fs::remove_file(path);
        daemon_reload();
    }
    demo.farewell(&options, code, started);
    Error::exit(code)
}

/// The folder the sandbox goes in (`--dir`, or a temp dir), and the guard that removes a temp
/// dir at the end unless `--keep` was given.
fn sandbox_root(options: &DemoOptions) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    let Some(dir) = &options.dir else {
        let temp = tempfile::Builder::new()
            .prefix("ripcord-demo-")
            .tempdir()
            .map_err(|e| Error::failed(format!("cannot create a temp dir for the demo: {e}")))?;
        let root = temp.path().to_path_buf();
        if options.keep {
            let _ = temp.keep();
            return Ok((root, None));
        }
        return Ok((root, Some(temp)));
    };
    Ok((dir.clone(), None))
}

/// The shipped runbooks, as the demo runs them.
fn write_scripts(scripts: &Path) -> Result {
    for (name, text) in crate::shipped::FILES {
        let path = scripts.join(name);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&path, text)
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// The sandbox service's unit for the systemd user manager.
fn install_unit(path: &Path, unit: &str) -> Result {
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
    std::fs::write(path, unit)
        .map_err(|e| Error::failed(format!("cannot write the unit {}: {e}", path.display())))?;
    daemon_reload();
    Ok(())
}

fn daemon_reload() {
    let _ = std::process::Command::new("systemctl")
        .args(["--user", "daemon-reload"])
        .status();
}

struct Demo {
    root: PathBuf,
    config: PathBuf,
    journal: PathBuf,
    interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Demo {
    /// Leave the sandbox running for runbooks run by hand (and by the tests).
    fn setup(&self, sb: &Sandbox, healthy: bool) -> Result {
        if healthy {
            sandbox::checkout(&sb.repo, sandbox::STABLE).map_err(Error::failed)?;
        } else {
            sandbox::add_storm(&sb.db).map_err(Error::failed)?;
        }
        let code = self.inline("service::start(cfg.unit);");
        println!("{}", self.config.display());
        eprintln!(
            "sandbox ready in {}: run e.g. `ripcord --scripts {} run triggers --config {}`",
            self.root.display(),
            self.root.join("scripts").display(),
            self.config.display()
        );
        Error::exit(code)
    }

    fn scenario(&self, sb: &Sandbox) -> Result {
        eprintln!("  starting the faulty release {} …", sandbox::FAULTY);
        if self.inline("service::start(cfg.unit);") != 0 {
            return Err(Error::Exit(exit::FAILED));
        }
        sandbox::add_storm(&sb.db).map_err(Error::failed)?;
        let mut summary = Vec::new();
        for Stage {
            title,
            script,
            params,
            mode,
        } in STAGES
        {
            eprintln!("\n━━ {title}");
            let outcome = self.runbook(script, params, *mode).map_err(Error::failed)?;
            summary.push((
                *script,
                outcome.status.to_string(),
                outcome.ms,
                outcome.result.clone(),
            ));
            if *script == "backup-restore-drill" {
                self.write_report(&outcome);
            }
            if outcome.exit_code != 0 {
                print_summary(&summary);
                return Error::exit(outcome.exit_code);
            }
        }
        print_summary(&summary);
        Ok(())
    }

    /// Where the sandbox and the journal are now, and how the demo ended.
    fn farewell(&self, options: &DemoOptions, code: i32, started: Instant) {
        eprintln!();
        if options.keep || options.dir.is_some() {
            eprintln!(
                "sandbox kept in {} (journal: ripcord --journal {} history)",
                self.root.display(),
                self.journal.display()
            );
        } else {
            eprintln!("sandbox removed (pass --keep to look around in it)");
        }
        if options.journal.is_some() {
            eprintln!(
                "runs journaled in {} (`ripcord history` lists them)",
                self.journal.display()
            );
        }
        eprintln!(
            "demo {} in {:.1}s",
            if code == 0 { "finished" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
    }

    fn runbook(
        &self,
        name: &str,
        params: &[(&str, &str)],
        mode: Mode,
    ) -> Result<RunOutcome, String> {
        let path = self.root.join("scripts").join(format!("{name}.rhai"));
        let script = Script::read(&path)?;
        let mut request = RunRequest::new(script);
        request.params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        request.config = Some(self.config.clone());
        request.journal = Some(self.journal.clone());
        request.mode = mode;
        request.yes = true;
        request.interrupt = self.interrupt.clone();
        request.sub_modules = Some(ripcord_stdlib::modules);
        request.script_dirs = vec![self.root.join("scripts")];
        let outcome = ripcord_runtime::run::run(request, ripcord_stdlib::modules());
        if let Some(e) = &outcome.rendered_error {
            eprintln!("{e}");
        }
        eprintln!("{}", outcome.summary);
        Ok(outcome)
    }

    /// The drill's report (Markdown, JSON, SVG timeline), as `ripcord drill` writes it.
    fn write_report(&self, outcome: &RunOutcome) {
        let started = ripcord_runtime::time::now_rfc3339();
        let report = ripcord_runtime::report::Report::from_outcome(outcome, &started, &[]);
        // Beside the operator (as `ripcord drill` writes them), so they outlive the sandbox.
        let stamp = ripcord_runtime::time::stamp();
        let dir = PathBuf::from("drill-reports").join(format!("demo-{}-{stamp}", outcome.script));
        match report.write(&dir) {
            Ok(files) => {
                eprintln!("  {}", report.rto_line());
                for f in files {
                    eprintln!("  report: {}", f.display());
                }
            }
            Err(e) => eprintln!("  cannot write the drill report: {e}"),
        }
    }

    /// Run a line of ripcord code against the sandbox (setup and teardown), unjournaled.
    fn inline(&self, code: &str) -> i32 {
        let path = self.root.join("scripts/.inline.rhai");
        if std::fs::write(&path, code).is_err() {
            return exit::FAILED;
        }
        let Ok(script) = Script::read(&path) else {
            return exit::FAILED;
        };
        let mut request = RunRequest::new(script);
        request.config = Some(self.config.clone());
        request.journal = Some(PathBuf::from("off"));
        request.yes = true;
        request.quiet = true;
        let outcome = ripcord_runtime::run::run(request, ripcord_stdlib::modules());
        if let Some(e) = &outcome.rendered_error {
            eprintln!("{e}");
        }
        outcome.exit_code
    }
}

fn print_summary(rows: &[(&str, String, u64, serde_json::Value)]) {
    eprintln!("\n━━ Summary");
    for (script, status, ms, result) in rows {
        let detail = match result {
            serde_json::Value::Object(m) if m.contains_key("decision") => {
                format!(
                    "decision: {} {}",
                    m["decision"].as_str().unwrap_or("?"),
                    m.get("priority").and_then(|p| p.as_str()).unwrap_or("")
                )
            }
            serde_json::Value::Object(m) if m.contains_key("report") => {
                format!("report: {}", m["report"].as_str().unwrap_or("?"))
            }
            _ => String::new(),
        };
        eprintln!(
            "  {script:<22} {status:<8} {:>7.2}s  {detail}",
            *ms as f64 / 1000.0
        );
    }
}

fn systemd_user_available() -> bool {
    std::process::Command::new("systemctl")
        .args(["--user", "is-system-running"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .output()
        .map(|o| {
            let state = String::from_utf8_lossy(&o.stdout);
            matches!(state.trim(), "running" | "degraded" | "starting")
        })
        .unwrap_or(false)
}

fn user_unit_dir() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| ripcord_runtime::dirs::home().join(".config"))
        .join("systemd/user")
}
