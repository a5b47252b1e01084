//! Writing the files ripcord hands to an operator (`init`, the built-in copy): whole or not at
//! all, with their final mode from the start.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Write `bytes` to `path` through a temp file in the same folder: fsync, rename, fsync the
/// folder. Missing parent folders are created (mode 0755 less the umask). A reader never sees a
/// half-written file, and a killed run leaves the old file or none.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(parent)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    // On error the temp file is dropped, which deletes it.
    temp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(parent)?.sync_all()
}
