//! `ripcord watch install TRIGGERS`: a systemd unit that runs the watch, restarted on failure,
//! for the user's manager or the system's.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::app::Context;
use crate::error::Error;

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The trigger runbook the watch evaluates (path or name)
    pub triggers: String,
    /// Install for the system manager (/etc/systemd/system) instead of the user's
    #[arg(long)]
    pub system: bool,
    /// Config file the watch reads (its [watch] table is the policy)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also enable and start the unit
    #[arg(long)]
    pub now: bool,
}

pub fn install(ctx: &Context, args: &InstallArgs) -> crate::error::Result {
    match write_unit(ctx, args) {
        Ok((name, path)) => {
            let scope: &[&str] = if args.system { &[] } else { &["--user"] };
            if let Err(message) = systemctl(scope, &["daemon-reload"]) {
                return Err(Error::failed(message));
            }
            eprintln!("wrote {}", path.display());
            if args.now {
                if let Err(message) = systemctl(scope, &["enable", "--now", &name]) {
                    return Err(Error::failed(message));
                }
                eprintln!("{name} enabled and started");
            } else {
                eprintln!(
                    "start it with: systemctl {}enable --now {name}",
                    if args.system { "" } else { "--user " }
                );
            }
            println!("{name}");
            Ok(())
        }
        Err(message) => Err(Error::usage(message)),
    }
}

fn write_unit(ctx: &Context, args: &InstallArgs) -> Result<(String, PathBuf), String> {
    let (script, _) = crate::shipped::find(&args.triggers, &ctx.scripts)?;
    let name = format!("ripcord-watch-{}.service", script.name);
    let dir = unit_dir(args.system);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let text = unit_text(ctx, args, &script.path)?;
    let path = dir.join(&name);
    crate::files::write_atomic(&path, text.as_bytes(), 0o644)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((name, path))
}

fn unit_dir(system: bool) -> PathBuf {
    if system {
        return PathBuf::from("/etc/systemd/system");
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| ripcord_runtime::dirs::home().join(".config"))
        .join("systemd/user")
}

/// The unit names absolute paths only: systemd starts it from `/` with a bare environment.
fn unit_text(ctx: &Context, args: &InstallArgs, triggers: &Path) -> Result<String, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the ripcord binary: {e}"))?;
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut command = vec![
        quote(&abs(&exe)),
        "--journal".into(),
        quote(&abs(&ctx.journal)),
    ];
    for dir in &ctx.scripts {
        command.push("--scripts".into());
        command.push(quote(&abs(dir)));
    }
    command.push("watch".into());
    command.push(quote(&abs(triggers)));
    if let Some(config) = &args.config {
        command.push("--config".into());
        command.push(quote(&abs(config)));
    }
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?;
    // Where locks and the service manager are, as the installing shell sees them.
    let mut environment = String::new();
    let carried: &[&str] = if args.system {
        &["XDG_STATE_HOME"]
    } else {
        &["XDG_STATE_HOME", "XDG_RUNTIME_DIR"]
    };
    for name in carried {
        if let Some(value) = std::env::var_os(name).filter(|v| !v.is_empty()) {
            environment.push_str(&format!(
                "Environment={name}={}\n",
                quote(&abs(Path::new(&value)))
            ));
        }
    }
    Ok(format!(
        "# Written by `ripcord watch install`: the watch's policy is the config's [watch] table.\n\
         [Unit]\nDescription=ripcord watch on {name}: automatic rollback\nAfter=network-online.target\n\n\
         [Service]\nType=simple\nWorkingDirectory={cwd}\n{environment}ExecStart={command}\n\
         # SIGTERM (systemctl stop) ends the watch with 130 between evaluations: a clean stop.\n\
         SuccessExitStatus=130\nRestart=on-failure\nRestartSec=2s\n\n\
         [Install]\nWantedBy={wanted}\n",
        name = triggers.display(),
        cwd = quote(&cwd),
        command = command.join(" "),
        wanted = if args.system {
            "multi-user.target"
        } else {
            "default.target"
        },
    ))
}

/// A path as one systemd command-line word.
fn quote(p: &Path) -> String {
    let text = p.display().to_string();
    if text
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

fn systemctl(scope: &[&str], args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("systemctl")
        .args(scope)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "systemctl {} {} failed: {}",
            scope.join(" "),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
