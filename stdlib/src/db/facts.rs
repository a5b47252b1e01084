//! What a database file is: its header checked before SQLite sees it, then integrity, version,
//! page counts, per-table row counts and a checksum, measured in parallel.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ripcord_runtime::Failure;
use ripcord_runtime::rhai::{Array, Dynamic, Map};
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};

use super::side_file;

/// How hard to check a database's integrity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// `PRAGMA quick_check`: every page and record, without cross-checking indexes.
    Quick,
    /// `PRAGMA integrity_check`: also that every index matches its table.
    Full,
    None,
}

impl Check {
    pub fn parse(text: &str) -> Result<Check, Failure> {
        match text {
            "quick" => Ok(Check::Quick),
            "full" => Ok(Check::Full),
            "none" => Ok(Check::None),
            other => Err(
                Failure::new(format!("verify: `{other}` is not a check")).hint(
                    "write verify: \"quick\" (the default), \"full\" (integrity_check) or \"none\"",
                ),
            ),
        }
    }

    fn pragma(self) -> Option<&'static str> {
        match self {
            Check::Quick => Some("quick_check"),
            Check::Full => Some("integrity_check"),
            Check::None => None,
        }
    }
}

/// A list of texts as a Rhai array.
pub fn texts(items: Vec<String>) -> Dynamic {
    items
        .into_iter()
        .map(Dynamic::from)
        .collect::<Array>()
        .into()
}

/// What the first 100 bytes of a database file say.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub page_size: u64,
    /// Pages in the file as of the last commit to it; WAL frames may add more.
    pub pages: u64,
}

/// The measured facts of one database file.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub path: PathBuf,
    pub bytes: u64,
    pub pages: i64,
    pub page_size: i64,
    pub free_pages: i64,
    pub integrity: String,
    pub user_version: i64,
    pub journal_mode: String,
    pub tables: Vec<(String, i64)>,
    pub sha256: String,
    /// What the operator should know about the file (e.g. a `-shm` without its `-wal`).
    pub warnings: Vec<String>,
    /// Leftover temp files of killed runs that this call removed.
    pub swept: Vec<PathBuf>,
    /// Why SQLite cannot read the file, for a byte copy of a damaged database.
    pub damage: Option<String>,
}

impl Facts {
    pub fn rows(&self) -> i64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }

    pub fn to_map(&self, ms: u64) -> Map {
        let mut tables = Map::new();
        for (name, rows) in &self.tables {
            tables.insert(name.as_str().into(), Dynamic::from(*rows));
        }
        let mut m = Map::new();
        m.insert("path".into(), self.path.display().to_string().into());
        m.insert("bytes".into(), Dynamic::from(self.bytes as i64));
        m.insert("ms".into(), Dynamic::from(ms as i64));
        m.insert("pages".into(), Dynamic::from(self.pages));
        m.insert("page_size".into(), Dynamic::from(self.page_size));
        m.insert("free_pages".into(), Dynamic::from(self.free_pages));
        m.insert("integrity".into(), self.integrity.clone().into());
        m.insert("user_version".into(), Dynamic::from(self.user_version));
        m.insert("journal_mode".into(), self.journal_mode.clone().into());
        m.insert("tables".into(), tables.into());
        m.insert("sha256".into(), self.sha256.clone().into());
        m.insert("warnings".into(), texts(self.warnings.clone()));
        m.insert("readable".into(), self.damage.is_none().into());
        m.insert(
            "swept".into(),
            texts(self.swept.iter().map(|p| p.display().to_string()).collect()),
        );
        m
    }
}

const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The length of the regular, non-empty file at `path`; a missing, empty or odd one is refused.
fn nonempty_file_len(path: &Path) -> Result<u64, Failure> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Failure::new(format!("{shown}: no such file"))
            .hint("check the path (relative paths start at the current folder)"),
        _ => Failure::new(format!("{shown}: cannot read it: {e}"))
            .hint("check the file's permissions"),
    })?;
    if meta.is_dir() {
        return Err(Failure::new(format!(
            "{shown} is a directory, not a SQLite database file"
        ))
        .hint("give the path of the database file inside it"));
    }
    if !meta.is_file() {
        return Err(Failure::new(format!("{shown} is not a regular file"))
            .hint("give the path of a SQLite database file"));
    }
    if meta.len() == 0 {
        return Err(
            Failure::new(format!("{shown} is empty (0 bytes), not a SQLite database"))
                .hint("an interrupted copy leaves empty files; use another backup"),
        );
    }
    Ok(meta.len())
}

/// Refuse what is missing, not a file, not SQLite, or visibly truncated, before SQLite sees it
/// (SQLite would call an empty file an empty database and a short one merely "malformed").
pub fn check_file(path: &Path) -> Result<Header, Failure> {
    let shown = path.display();
    let len = nonempty_file_len(path)?;
    let mut head = Vec::with_capacity(100);
    File::open(path)
        .and_then(|f| f.take(100).read_to_end(&mut head))
        .map_err(|e| {
            Failure::new(format!("{shown}: cannot read it: {e}"))
                .hint("check the file's permissions")
        })?;
    let prefix = head.len().min(MAGIC.len());
    if head[..prefix] != MAGIC[..prefix] {
        return Err(Failure::new(format!(
            "{shown} is not a SQLite database (it does not start with the SQLite header)"
        ))
        .hint("check the path: this is some other kind of file"));
    }
    if head.len() < 100 {
        return Err(Failure::new(format!(
            "{shown} is truncated: {len} bytes is shorter than a SQLite header"
        ))
        .hint("the copy was cut short; use another backup"));
    }
    let raw = u16::from_be_bytes([head[16], head[17]]) as u64;
    let page_size = if raw == 1 { 65536 } else { raw };
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(Failure::new(format!(
            "{shown}: the SQLite header is damaged (page size {raw})"
        ))
        .hint("use another backup"));
    }
    if len % page_size != 0 {
        return Err(Failure::new(format!(
            "{shown} is truncated: {len} bytes is not a whole number of {page_size}-byte pages"
        ))
        .hint("the copy was cut short; use another backup"));
    }
    let word =
        |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]) as u64;
    let counted = word(28);
    // The header's page count is trusted only when "version-valid-for" matches the change counter.
    let valid = counted > 0 && word(92) == word(24);
    let wal_has_frames = std::fs::metadata(side_file(path, "-wal")).is_ok_and(|m| m.len() > 0);
    if valid && counted * page_size > len && !wal_has_frames {
        return Err(Failure::new(format!(
            "{shown} is truncated: its header says {counted} pages ({} bytes) but the file has {len} bytes",
            counted * page_size
        ))
        .hint("the copy was cut short; use another backup"));
    }
    Ok(Header {
        page_size,
        pages: if valid { counted } else { len / page_size },
    })
}

/// A WAL database with a `-shm` but no `-wal` lost its WAL: whatever was committed only there
/// (every commit since the last checkpoint) is gone, and SQLite opens the stale main file
/// without a word. Returns what to tell the operator.
pub fn missing_wal(path: &Path) -> Option<String> {
    let mut head = [0u8; 20];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .ok()?;
    let wal_mode = head[18] == 2 && head[19] == 2;
    let shm = side_file(path, "-shm");
    if wal_mode && shm.exists() && !side_file(path, "-wal").exists() {
        Some(format!(
            "{} is a WAL database with a -shm ({}) but no -wal: the commits that were only in its WAL are missing, and what it holds may be an older state",
            path.display(),
            shm.display()
        ))
    } else {
        None
    }
}

/// A connection that only reads. It is opened read-write when the file allows it (with
/// `query_only` on) because SQLite then removes the `-wal`/`-shm` files it had to create when
/// ours is the last connection; a read-only connection would leave them behind.
pub fn open_reader(path: &Path) -> Result<Connection, Failure> {
    let writable = std::fs::OpenOptions::new().write(true).open(path).is_ok();
    let flags = if writable {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| cannot_read(path, e))?;
    conn.pragma_update(None, "query_only", true)
        .map_err(|e| cannot_read(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| cannot_read(path, e))?;
    // Reading through a memory map saves a copy of every page; SQLite caps the size it maps.
    let _ = conn.pragma_update(None, "mmap_size", 1_i64 << 40);
    Ok(conn)
}

pub fn cannot_read(path: &Path, e: rusqlite::Error) -> Failure {
    Failure::new(format!("{}: SQLite cannot read it: {e}", path.display()))
        .hint("the file is damaged or not a database; run db::verify on it, or use another backup")
}

/// Measure a database file. `hash: false` leaves `sha256` empty for callers that hash while
/// copying. The checksum, the integrity check and the counts run on separate threads.
pub fn measure(path: &Path, check: Check, hash: bool) -> Result<Facts, Failure> {
    check_file(path)?;
    // The descriptor the checksum reads is opened before any SQLite connection and closed after
    // all of them (declaration order): on Linux, closing any descriptor of a file drops every
    // POSIX lock the process holds on it, SQLite's included.
    let raw = hash
        .then(|| File::open(path))
        .transpose()
        .map_err(|e| Failure::new(format!("{}: cannot read it: {e}", path.display())))?;
    // Closed last of the connections, after the integrity thread's: two connections of one
    // process closing at the same moment can each see the other still open, and then neither
    // removes the `-wal`/`-shm` that readers of a WAL database make (the last one does).
    let conn = open_reader(path)?;
    std::thread::scope(|s| {
        let sha = raw
            .as_ref()
            .map(|raw| s.spawn(|| sha256_at(raw, u64::MAX, path)));
        let integrity = s.spawn(|| {
            behind_the_checksum();
            integrity(path, check)
        });
        let mut facts = describe_conn(&conn, path)?;
        facts.integrity = join(integrity)??;
        if let Some(sha) = sha {
            let (digest, bytes) = join(sha)??;
            facts.sha256 = digest;
            facts.bytes = bytes;
        }
        judge(facts, path, check)
    })
}

/// Measure the snapshot `conn` reads inside the read transaction the caller holds open: the
/// integrity check and the row counts of exactly that state. No checksum. `path` names the
/// file in messages.
pub fn measure_snapshot(conn: &Connection, path: &Path, check: Check) -> Result<Facts, Failure> {
    let mut facts = describe_in(conn, path)?;
    facts.integrity = integrity_of(conn, path, check)?;
    judge(facts, path, check)
}

/// A failed integrity check is a refusal naming `path`.
fn judge(facts: Facts, path: &Path, check: Check) -> Result<Facts, Failure> {
    if facts.integrity != "ok" && check != Check::None {
        return Err(Failure::new(format!(
            "{} fails its integrity check ({}): {}",
            path.display(),
            check.pragma().unwrap_or_default(),
            facts.integrity
        ))
        .hint(
            "the database is damaged; use another backup, or recover it with `sqlite3 DB .recover`",
        ));
    }
    Ok(facts)
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> Result<T, Failure> {
    handle
        .join()
        .map_err(|_| Failure::new("internal error: a verification thread panicked"))
}

fn integrity(path: &Path, check: Check) -> Result<String, Failure> {
    if check == Check::None {
        return Ok("skipped".to_string());
    }
    integrity_of(&open_reader(path)?, path, check)
}

fn integrity_of(conn: &Connection, path: &Path, check: Check) -> Result<String, Failure> {
    let Some(pragma) = check.pragma() else {
        return Ok("skipped".to_string());
    };
    let mut stmt = conn
        .prepare(&format!("PRAGMA {pragma}(20)"))
        .map_err(|e| cannot_read(path, e))?;
    let lines: Vec<String> = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| cannot_read(path, e))?;
    Ok(lines.join("; "))
}

/// Version, pages and row counts through one read transaction, so the counts agree.
pub fn describe(path: &Path) -> Result<Facts, Failure> {
    let conn = open_reader(path)?;
    describe_conn(&conn, path)
}

pub fn describe_conn(conn: &Connection, path: &Path) -> Result<Facts, Failure> {
    let fail = |e| cannot_read(path, e);
    conn.execute_batch("BEGIN").map_err(fail)?;
    let facts = describe_in(conn, path)?;
    conn.execute_batch("COMMIT").map_err(fail)?;
    Ok(facts)
}

/// [`describe_conn`] inside a read transaction the caller holds.
fn describe_in(conn: &Connection, path: &Path) -> Result<Facts, Failure> {
    let (mut facts, names) = shape_in(conn, path)?;
    for name in names {
        let sql = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
        let rows: i64 = conn
            .query_row(&sql, [], |r| r.get(0))
            .map_err(|e| cannot_read(path, e))?;
        facts.tables.push((name, rows));
    }
    Ok(facts)
}

/// Version, pages and the names of the tables (no row counts): what SQLite reads from the
/// header and the schema, without reading any table.
pub fn describe_shape(path: &Path) -> Result<(Facts, Vec<String>), Failure> {
    let conn = open_reader(path)?;
    let fail = |e| cannot_read(path, e);
    conn.execute_batch("BEGIN").map_err(fail)?;
    let shape = shape_in(&conn, path)?;
    conn.execute_batch("COMMIT").map_err(fail)?;
    Ok(shape)
}

fn shape_in(conn: &Connection, path: &Path) -> Result<(Facts, Vec<String>), Failure> {
    let fail = |e| cannot_read(path, e);
    let pragma = |name: &str| conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
    let facts = Facts {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        user_version: pragma("user_version").map_err(fail)?,
        page_size: pragma("page_size").map_err(fail)?,
        pages: pragma("page_count").map_err(fail)?,
        free_pages: pragma("freelist_count").map_err(fail)?,
        journal_mode: conn
            .pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))
            .map_err(fail)?,
        ..Facts::default()
    };
    let names = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL%' ORDER BY name",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(fail)?;
    Ok((facts, names))
}

/// The file's sha256 (hex) and its length.
pub fn sha256_file(path: &Path) -> Result<(String, u64), Failure> {
    sha256_prefix(path, u64::MAX)
}

/// The sha256 of the first `limit` bytes of a file, and how many bytes that was.
pub fn sha256_prefix(path: &Path, limit: u64) -> Result<(String, u64), Failure> {
    let file = File::open(path)
        .map_err(|e| Failure::new(format!("{}: cannot read it: {e}", path.display())))?;
    sha256_at(&file, limit, path)
}

/// The sha256 of the first `limit` bytes of an open file, read with `pread` so the file's
/// offset (which another thread may be copying from) is left alone.
pub fn sha256_at(file: &File, limit: u64, path: &Path) -> Result<(String, u64), Failure> {
    use std::os::unix::fs::FileExt;
    let fail = |e: std::io::Error| Failure::new(format!("{}: cannot read it: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    while total < limit {
        let want = buf
            .len()
            .min(usize::try_from(limit - total).unwrap_or(usize::MAX));
        let n = match file.read_at(&mut buf[..want], total) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(e)),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((format!("{:x}", hasher.finalize()), total))
}

/// Lower this thread's priority, so the checksum beside it gets a core of its own. The
/// checksum (sha256 cannot be split across cores) is the longest job of a verification; the
/// integrity check has time to spare and takes what the checksum leaves.
pub fn behind_the_checksum() {
    // SAFETY: gettid and setpriority touch no memory; a failure only leaves the priority as is.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// Bytes as lowercase hex (a blob in an SQL literal).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
