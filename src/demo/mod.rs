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

pub fn run(options: DemoOptions, interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>) -> i32 {
    let started = Instant::now();
    let (root, _guard) = match &options.dir {
        Some(d) => (d.clone(), None),
        None => match tempfile::Builder::new().prefix("ripcord-demo-").tempdir() {
            Ok(t) => (t.path().to_path_buf(), Some(t)),
            Err(e) => {
                return crate::app::fail(
                    exit::FAILED,
                    &format!("cannot create a temp dir for the demo: {e}"),
                );
            }
        },
    };
    let _guard = _guard.map(|g| {
        if options.keep {
            let _ = g.keep();
            None
        } else {
            Some(g)
        }
    });
    let ripcord = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ripcord"));
    eprintln!(
        "ripcord demo: building a sandbox Cortex service in {}",
        root.display()
    );
    let sb = match Sandbox::create(&root, &ripcord) {
        Ok(sb) => sb,
        Err(e) => return crate::app::fail(exit::FAILED, &e),
    };
    let systemd = match options.backend {
        crate::cli::DemoBackend::Auto => systemd_user_available(),
        crate::cli::DemoBackend::Systemd => true,
        crate::cli::DemoBackend::Process => false,
    };
    let config = match sb.write_ripcord_toml(systemd) {
        Ok(c) => c,
        Err(e) => return crate::app::fail(exit::FAILED, &e),
    };
    let scripts = root.join("scripts");
    for (name, text) in crate::shipped::FILES {
        let path = scripts.join(name);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = std::fs::write(&path, text) {
            return crate::app::fail(
                exit::FAILED,
                &format!("cannot write {}: {e}", path.display()),
            );
        }
    }
    let unit_path = systemd.then(|| user_unit_dir().join(&sb.unit));
    if let Some(path) = &unit_path {
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
        if let Err(e) = std::fs::write(path, sb.unit_file()) {
            return crate::app::fail(
                exit::FAILED,
                &format!("cannot write the unit {}: {e}", path.display()),
            );
        }
        let _ = std::process::Command::new("systemctl")
            .args(["--user", "daemon-reload"])
            .status();
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
    let code = demo.scenario(&sb);

    // Stop the service whatever happened, then clean up.
    let _ = demo.inline("service::stop(cfg.unit);");
    if let Some(path) = &unit_path {
        let _ = std::fs::remove_file(path);
        let _ = std::process::Command::new("systemctl")
            .args(["--user", "daemon-reload"])
            .status();
    }
    eprintln!();
    if options.keep || options.dir.is_some() {
        eprintln!(
            "sandbox kept in {} (journal: ripcord --journal {} history)",
            root.display(),
            demo.journal.display()
        );
    } else {
        eprintln!("sandbox removed (pass --keep to look around in it)");
    }
    if options.journal.is_some() {
        eprintln!(
            "runs journaled in {} (`ripcord history` lists them)",
            demo.journal.display()
        );
    }
    eprintln!(
        "demo {} in {:.1}s",
        if code == 0 { "finished" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    code
}

struct Demo {
    root: PathBuf,
    config: PathBuf,
    journal: PathBuf,
    interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Demo {
    /// Leave the sandbox running for runbooks run by hand (and by the tests).
    fn setup(&self, sb: &Sandbox, healthy: bool) -> i32 {
        if healthy {
            let reset = sandbox::checkout(&sb.repo, sandbox::STABLE);
            if let Err(e) = reset {
                return crate::app::fail(exit::FAILED, &e);
            }
        } else if let Err(e) = sandbox::add_storm(&sb.db) {
            return crate::app::fail(exit::FAILED, &e);
        }
        let code = self.inline("service::start(cfg.unit);");
        println!("{}", self.config.display());
        eprintln!(
            "sandbox ready in {}: run e.g. `ripcord --scripts {} run triggers --config {}`",
            self.root.display(),
            self.root.join("scripts").display(),
            self.config.display()
        );
        code
    }

    fn scenario(&self, sb: &Sandbox) -> i32 {
        eprintln!("  starting the faulty release {} …", sandbox::FAULTY);
        if self.inline("service::start(cfg.unit);") != 0 {
            return exit::FAILED;
        }
        if let Err(e) = sandbox::add_storm(&sb.db) {
            return crate::app::fail(exit::FAILED, &e);
        }
        let mut summary = Vec::new();
        for Stage {
            title,
            script,
            params,
            mode,
        } in STAGES
        {
            eprintln!("\n━━ {title}");
            let outcome = match self.runbook(script, params, *mode) {
                Ok(o) => o,
                Err(e) => return crate::app::fail(exit::FAILED, &e),
            };
            summary.push((
                *script,
                outcome.status.clone(),
                outcome.ms,
                outcome.result.clone(),
            ));
            if *script == "backup-restore-drill" {
                self.write_report(&outcome);
            }
            if outcome.exit_code != 0 {
                print_summary(&summary);
                return outcome.exit_code;
            }
        }
        print_summary(&summary);
        exit::OK
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
