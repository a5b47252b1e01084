//! A throwaway sandbox shaped like the seeds' Cortex service: a WAL SQLite state DB with
//! realistic rows, a git checkout with a stable and a faulty release and a `make build` step,
//! the service's config, a known-good backup, and a `ripcord.toml` the runbooks read.

use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::{Connection, params};

/// Where everything in the sandbox is.
pub struct Sandbox {
    pub root: PathBuf,
    pub repo: PathBuf,
    pub db: PathBuf,
    pub config: PathBuf,
    pub backups: PathBuf,
    pub port: u16,
    pub unit: String,
}

pub const STABLE: &str = "v1.4.2";
pub const FAULTY: &str = "v1.5.0";

impl Sandbox {
    pub fn create(root: &Path, ripcord: &Path) -> Result<Sandbox, String> {
        let port = free_port()?;
        let sb = Sandbox {
            root: root.to_path_buf(),
            repo: root.join("cortex"),
            db: root.join("data/cortex.db"),
            config: root.join("cortex/cortex.toml"),
            backups: root.join("backups"),
            port,
            unit: format!("ripcord-demo-{}.service", std::process::id()),
        };
        for dir in [
            &sb.repo,
            &sb.backups,
            &root.join("data"),
            &root.join("logs"),
            &root.join("rollback-assets"),
        ] {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        create_db(&sb.db)?;
        sb.create_repo(ripcord)?;
        // The known-good backup an operator would restore from: taken before the bad release.
        let stamp = jiff::Zoned::now().strftime("%Y%m%d-%H%M%S").to_string();
        let backup = sb.backups.join(format!("cortex-backup-{stamp}.db"));
        Connection::open(&sb.db)
            .and_then(|c| c.execute("VACUUM INTO ?1", [backup.display().to_string()]))
            .map_err(|e| format!("cannot write the demo's baseline backup: {e}"))?;
        write(
            &sb.config,
            &format!(
                "[general]\ntick_interval = \"60s\"\nmax_per_tick = 3\nlog_level = \"info\"\nstate_db = \"{}\"\n\n[api]\nbind = \"127.0.0.1:{port}\"\n",
                sb.db.display()
            ),
        )?;
        write(
            &root.join("cortex-minimal-template.toml"),
            &format!(
                "[general]\ntick_interval = \"60s\"\nmax_per_tick = 1\nlog_level = \"info\"\nstate_db = \"{}\"\n\n[api]\nbind = \"127.0.0.1:{port}\"\n",
                sb.db.display()
            ),
        )?;
        Ok(sb)
    }

    fn create_repo(&self, ripcord: &Path) -> Result<(), String> {
        let repo = &self.repo;
        git(repo, &["init", "-q", "-b", "main"])?;
        write(&repo.join(".gitignore"), "bin/\ncortex.toml\n")?;
        write(
            &repo.join("Makefile"),
            "build:\n\tmkdir -p bin\n\tsed -e \"s/@VERSION@/$$(cat VERSION)/\" cortex.in > bin/cortex\n\tchmod +x bin/cortex\n",
        )?;
        let launcher = |faulty: bool| {
            format!(
                "#!/bin/sh\n# The Cortex service (demo build @VERSION@).\nexec '{}' demo-service --db '{}' --port {} --release @VERSION@{}\n",
                ripcord.display(),
                self.db.display(),
                self.port,
                if faulty { " --faulty" } else { "" }
            )
        };
        write(&repo.join("VERSION"), "1.4.1\n")?;
        write(&repo.join("cortex.in"), &launcher(false))?;
        git(repo, &["add", "-A"])?;
        git(
            repo,
            &["commit", "-q", "-m", "v1.4.1: scheduler tick tuning"],
        )?;
        write(&repo.join("VERSION"), "1.4.2\n")?;
        git(repo, &["commit", "-q", "-am", "v1.4.2: stable release"])?;
        git(repo, &["tag", STABLE])?;
        write(&repo.join("VERSION"), "1.5.0\n")?;
        write(&repo.join("cortex.in"), &launcher(true))?;
        git(
            repo,
            &["commit", "-q", "-am", "v1.5.0: new dispatch gateway"],
        )?;
        git(repo, &["tag", FAULTY])?;
        let out = Command::new("make").arg("-s").arg("build").current_dir(repo).output().map_err(|e| {
            format!("cannot run `make` ({e})\nhelp: the demo builds its service with make: install it (apt-get install make)")
        })?;
        if !out.status.success() {
            return Err(format!(
                "`make build` failed in the demo repo: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// The `ripcord.toml` the shipped runbooks read, for the given service backend.
    pub fn write_ripcord_toml(&self, systemd_user: bool) -> Result<PathBuf, String> {
        let mut text = format!(
            "# Written by `ripcord demo`: the environment the shipped runbooks run against.\n\
             db = \"{db}\"\nrepo = \"{repo}\"\nconfig = \"{config}\"\nbinary = \"{repo}/bin/cortex\"\n\
             api = \"http://127.0.0.1:{port}\"\nunit = \"{unit}\"\nbackups = \"{backups}\"\n\
             assets = \"{assets}\"\nminimal_config = \"{minimal}\"\nlog = \"{log}\"\n\n",
            db = self.db.display(),
            repo = self.repo.display(),
            config = self.config.display(),
            port = self.port,
            unit = self.unit,
            backups = self.backups.display(),
            assets = self.root.join("rollback-assets").display(),
            minimal = self.root.join("cortex-minimal-template.toml").display(),
            log = self.root.join("rollback-log.txt").display(),
        );
        if systemd_user {
            text.push_str("[service]\nscope = \"user\"\n");
        } else {
            text.push_str(&format!(
                "[service.units.\"{unit}\"]\nbackend = \"process\"\ncommand = \"{repo}/bin/cortex\"\ncwd = \"{repo}\"\npidfile = \"{root}/cortex.pid\"\nlog = \"{root}/logs/cortex.log\"\n",
                unit = self.unit,
                repo = self.repo.display(),
                root = self.root.display(),
            ));
        }
        let path = self.root.join("ripcord.toml");
        write(&path, &text)?;
        Ok(path)
    }

    /// The systemd user unit for the service.
    pub fn unit_file(&self) -> String {
        format!(
            "[Unit]\nDescription=Cortex (ripcord demo)\n\n[Service]\nExecStart={repo}/bin/cortex\nWorkingDirectory={repo}\nRestart=no\n",
            repo = self.repo.display()
        )
    }
}

fn create_db(path: &Path) -> Result<(), String> {
    let fail = |e: rusqlite::Error| format!("cannot create the demo DB {}: {e}", path.display());
    let mut conn = Connection::open(path).map_err(fail)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(fail)?;
    conn.execute_batch(
        "CREATE TABLE dispatches (id INTEGER PRIMARY KEY, bead TEXT NOT NULL, project TEXT NOT NULL,
             status TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER);
         CREATE INDEX dispatches_started ON dispatches(started_at);
         CREATE TABLE health_events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, severity TEXT NOT NULL,
             message TEXT NOT NULL, created_at INTEGER NOT NULL);
         PRAGMA user_version = 34;",
    )
    .map_err(fail)?;
    let now = jiff::Timestamp::now().as_second();
    let tx = conn.transaction().map_err(fail)?;
    {
        let mut ins = tx
            .prepare("INSERT INTO dispatches (bead, project, status, started_at, finished_at) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(fail)?;
        for i in 0..1183i64 {
            // One dispatch every ~4 minutes over three days, about 3% failed, a few running.
            let started = now - (1183 - i) * 220;
            let status = if i > 1178 {
                "running"
            } else if i % 33 == 0 {
                "failed"
            } else {
                "completed"
            };
            let finished = (status != "running").then_some(started + 90);
            let project = ["cortex", "atlas", "hermes"][(i % 3) as usize];
            ins.execute(params![
                format!("bead-{i:04}"),
                project,
                status,
                started,
                finished
            ])
            .map_err(fail)?;
        }
        let mut ev = tx
            .prepare("INSERT INTO health_events (kind, severity, message, created_at) VALUES (?1, ?2, ?3, ?4)")
            .map_err(fail)?;
        for i in 0..406i64 {
            let (kind, severity) = if i % 50 == 0 {
                ("gateway_warning", "warning")
            } else {
                ("heartbeat", "info")
            };
            ev.execute(params![
                kind,
                severity,
                "periodic check",
                now - (406 - i) * 600 - 3600
            ])
            .map_err(fail)?;
        }
    }
    tx.commit().map_err(fail)?;
    Ok(())
}

/// Put the checkout at `rev` and rebuild (the stable release for a healthy sandbox).
pub fn checkout(repo: &Path, rev: &str) -> Result<(), String> {
    git(repo, &["reset", "-q", "--hard", rev])?;
    let out = Command::new("make")
        .arg("-s")
        .arg("build")
        .current_dir(repo)
        .output()
        .map_err(|e| format!("cannot run make: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`make build` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Add the gateway_critical storm the faulty release causes (12 events in the last 15 minutes).
pub fn add_storm(db: &Path) -> Result<(), String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now().as_second();
    for i in 0..12i64 {
        conn.execute(
            "INSERT INTO health_events (kind, severity, message, created_at) VALUES ('gateway_critical', 'critical', 'dispatch failure cascade', ?1)",
            [now - 60 * i],
        )
        .map_err(|e| format!("cannot write the storm into the demo DB: {e}"))?;
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn git(repo: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=ripcord demo",
            "-c",
            "user.email=demo@ripcord.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .map_err(|e| format!("cannot run git ({e})\nhelp: the demo needs git installed"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}
