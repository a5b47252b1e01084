//! `--approve FILE`: the non-interactive answer to `confirm()` for fleet runs.
//!
//! A fleet has no terminal and `--yes` would answer every question, including ones nobody
//! reviewed. An approval file lists the exact confirm messages a person approved, with who and
//! under which ticket; a matching confirm is answered yes and journaled with the approver, any
//! other confirm aborts the run (exit 3).
//!
//! ```toml
//! [[approval]]
//! confirm = "Roll back cortex to v1.4.2?"
//! approver = "alice"
//! ticket = "CHG-1234"
//! expires = "2026-12-01T00:00:00Z"   # optional
//! ```

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalFile {
    #[serde(default)]
    approval: Vec<Approval>,
}

/// One approved confirm message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The confirm message, exactly as the runbook asks it.
    pub confirm: String,
    pub approver: String,
    pub ticket: String,
    /// After this instant the approval no longer answers (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// The approvals of one run, read once at its start.
#[derive(Debug, Clone)]
pub struct Approvals {
    path: PathBuf,
    /// Of the file as read: the journal names the exact version that approved.
    sha256: String,
    entries: Vec<(Approval, Option<jiff::Timestamp>)>,
}

/// The policy's answer to one confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approved(Approval),
    /// Listed, but its `expires` has passed.
    Expired(Approval),
    NotListed,
}

impl Approvals {
    /// Read and check an approval file. Any problem is a usage error: nothing runs.
    pub fn load(path: &Path) -> Result<Approvals, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--approve {shown}: cannot read it: {e}"))?;
        check_owner(path)?;
        let file: ApprovalFile = toml::from_str(&text).map_err(|e| {
            format!("--approve {shown}: not a valid approval file: {e}\nhelp: each entry is [[approval]] with confirm, approver and ticket")
        })?;
        let mut entries = Vec::with_capacity(file.approval.len());
        for (i, a) in file.approval.into_iter().enumerate() {
            entries.push(check_entry(path, i + 1, a, &entries)?);
        }
        if entries.is_empty() {
            return Err(format!(
                "--approve {shown}: it approves nothing\nhelp: add an [[approval]] entry with confirm, approver and ticket"
            ));
        }
        Ok(Approvals {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            sha256: crate::script::sha256_hex(text.as_bytes()),
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The verdict on a confirm message (already redacted, as the operator would see it).
    pub fn verdict(&self, message: &str, now: jiff::Timestamp) -> Verdict {
        match self.entries.iter().find(|(a, _)| a.confirm == message) {
            None => Verdict::NotListed,
            Some((a, Some(expires))) if *expires <= now => Verdict::Expired(a.clone()),
            Some((a, _)) => Verdict::Approved(a.clone()),
        }
    }
}

fn check_entry(
    path: &Path,
    n: usize,
    a: Approval,
    seen: &[(Approval, Option<jiff::Timestamp>)],
) -> Result<(Approval, Option<jiff::Timestamp>), String> {
    let at = format!("--approve {}: approval {n}", path.display());
    for (field, value) in [
        ("confirm", &a.confirm),
        ("approver", &a.approver),
        ("ticket", &a.ticket),
    ] {
        if value.trim().is_empty() {
            return Err(format!(
                "{at}: `{field}` is empty\nhelp: every approval names the confirm message, the approver and the ticket"
            ));
        }
    }
    if seen.iter().any(|(s, _)| s.confirm == a.confirm) {
        return Err(format!(
            "{at}: the confirm message {:?} is approved twice\nhelp: keep one entry per message, so the journal names one approver",
            a.confirm
        ));
    }
    let expires = a
        .expires
        .as_deref()
        .map(|t| {
            t.parse::<jiff::Timestamp>().map_err(|e| {
                format!("{at}: `expires = {t:?}` is not an RFC 3339 time: {e}\nhelp: e.g. expires = \"2026-12-01T00:00:00Z\"")
            })
        })
        .transpose()?;
    Ok((a, expires))
}

/// An approval file anyone else can write is no approval: refuse group/world-writable files and
/// files owned by another user (root's are accepted).
fn check_owner(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("--approve {}: cannot read it: {e}", path.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "--approve {}: it is writable by other users (mode {:o}), so anyone could approve\nhelp: chmod go-w {}",
            path.display(),
            meta.mode() & 0o777,
            path.display()
        ));
    }
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "--approve {}: it belongs to uid {}, not to you or root\nhelp: copy it to a file you own",
            path.display(),
            meta.uid()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("approvals.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    const ONE: &str =
        "[[approval]]\nconfirm = \"Roll back?\"\napprover = \"alice\"\nticket = \"CHG-1\"\n";

    #[test]
    fn exact_messages_only() {
        let (_d, path) = file(ONE, 0o600);
        let a = Approvals::load(&path).unwrap();
        let now = jiff::Timestamp::now();
        assert!(
            matches!(a.verdict("Roll back?", now), Verdict::Approved(x) if x.approver == "alice")
        );
        assert_eq!(a.verdict("Roll back? ", now), Verdict::NotListed);
        assert_eq!(a.verdict("roll back?", now), Verdict::NotListed);
    }

    #[test]
    fn expired_approvals_do_not_answer() {
        let text = format!("{ONE}expires = \"2020-01-01T00:00:00Z\"\n");
        let (_d, path) = file(&text, 0o600);
        let a = Approvals::load(&path).unwrap();
        assert!(matches!(
            a.verdict("Roll back?", jiff::Timestamp::now()),
            Verdict::Expired(_)
        ));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let cases = [
            (ONE, 0o666, "writable by other users"),
            ("", 0o600, "approves nothing"),
            (
                "[[approval]]\nconfirm = \"x\"\n",
                0o600,
                "not a valid approval file",
            ),
            (
                "[[approval]]\nconfirm = \"x\"\napprover = \" \"\nticket = \"T\"\n",
                0o600,
                "`approver` is empty",
            ),
            (&format!("{ONE}{ONE}"), 0o600, "approved twice"),
            (
                &format!("{ONE}colour = 1\n"),
                0o600,
                "not a valid approval file",
            ),
            (
                &format!("{ONE}expires = \"soon\"\n"),
                0o600,
                "not an RFC 3339 time",
            ),
        ];
        for (text, mode, want) in cases {
            let (_d, path) = file(text, mode);
            let err = Approvals::load(&path).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let err = Approvals::load(Path::new("/nonexistent/approvals.toml")).unwrap_err();
        assert!(err.contains("cannot read it"), "{err}");
    }
}
