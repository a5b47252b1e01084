//! `db::salvage`: every row that can still be read from a damaged database, copied into a new
//! one, with per-table evidence of what was recovered and what was lost.
//!
//! The source is first byte-copied under SQLite's locks (a consistent set of files, as
//! `db::backup(verify: "none")` takes it), so a running service is not disturbed. The copy is
//! then read page by page ([`super::pages`]): each table's b-tree from its root, skipping any
//! page that does not make sense and remembering the rowid range it covered; leaf pages that no
//! readable page points to any more (their parent was damaged) are given back to the table
//! whose damaged subtree covers their rowids, or kept in `ripcord_lost_and_found`. The rows
//! are written through SQLite into a temp file beside the destination, whose schema is the
//! source's own; indexes, views and triggers are created after the rows. The temp is verified,
//! fsynced and renamed onto the destination, so a failed or killed salvage leaves nothing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ripcord_runtime::Failure;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use super::copy::Deadline;
use super::facts::{self, Check};
use super::files::{self, side_file};
use super::pages::{Cell, Image, IndexPage, TablePage, WalRead};

pub struct SalvageOpts {
    pub force: bool,
    /// The last good backup: expected row counts, and the schema if the source's is unreadable.
    pub backup: Option<PathBuf>,
    pub timeout: Duration,
}

/// The table rows the salvage could not place in their table.
pub const LOST_AND_FOUND: &str = "ripcord_lost_and_found";

/// What a salvage found, table by table.
#[derive(Debug, Default)]
pub struct Salvaged {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub tables: Vec<Evidence>,
    /// Tables named in the schema whose rows could not be read at all, with the reason.
    pub unreadable: Vec<(String, String)>,
    /// Rows kept in [`LOST_AND_FOUND`].
    pub lost_and_found: i64,
    pub wal: WalRead,
    /// The source's schema could not be read whole: a table it named may be missing.
    pub schema_damaged: bool,
    pub warnings: Vec<String>,
    pub swept: Vec<PathBuf>,
    pub journal_mode: String,
}

impl Salvaged {
    /// True only when every page of every table was read and nothing was set aside.
    pub fn complete(&self) -> bool {
        self.unreadable.is_empty()
            && !self.schema_damaged
            && self.lost_and_found == 0
            && self.wal.lost == 0
            && self.tables.iter().all(Evidence::complete)
    }
}

/// One table's evidence.
#[derive(Debug, Default, Clone)]
pub struct Evidence {
    pub name: String,
    pub recovered: i64,
    /// Pages of the table's b-tree that could not be read.
    pub damaged_pages: Vec<u32>,
    /// Why the first of them could not be read.
    pub damage: Option<&'static str>,
    /// Rowid ranges `(lo, hi]` whose rows sat under a damaged page (`None`: unbounded).
    pub lost_ranges: Vec<(Option<i64>, Option<i64>)>,
    /// Rows whose rowid was read but whose values were not.
    pub lost_rows: Vec<i64>,
    /// A WITHOUT ROWID table (stored as an index b-tree: no rowids, so no rowid ranges).
    pub without_rowid: bool,
    /// Entries of a WITHOUT ROWID table that were found but did not decode.
    pub lost_entries: i64,
    /// Rows recovered from leaf pages cut off from the tree by damage above them.
    pub adopted: i64,
    /// Rows read but refused by the table (a constraint): kept in lost_and_found.
    pub set_aside: i64,
    /// Commits in a damaged stretch of the WAL were lost, and may have changed this table.
    pub wal_lost: bool,
    /// The most rows the file's dark pages can hold (see [`DarkPages`]); `None` when their
    /// number is not known, with the reason in `unbounded`.
    pub page_bound: Option<i64>,
    pub unbounded: &'static str,
    /// Per lost range (per damaged page in a WITHOUT ROWID table): its damaged page is at the
    /// depth of the tree's leaves (so one page).
    pub single_pages: Vec<bool>,
    /// The most rows one table leaf page holds (see [`DarkPages`]).
    pub leaf_room: i64,
    /// From the last good backup, when one was given.
    pub expected: Option<i64>,
    pub missing: Option<i64>,
    pub new_since_backup: Option<i64>,
}

impl Evidence {
    pub fn complete(&self) -> bool {
        self.damaged_pages.is_empty()
            && self.lost_ranges.is_empty()
            && self.lost_rows.is_empty()
            && self.lost_entries == 0
            && self.set_aside == 0
            && self.adopted == 0
            && !self.wal_lost
    }

    /// Rows lost, when that is known exactly.
    pub fn lost(&self) -> Option<i64> {
        (self.lost_ranges.is_empty() && !self.wal_lost && !self.keyless_damage())
            .then_some(self.lost_rows.len() as i64 + self.lost_entries)
    }

    /// A damaged page of a WITHOUT ROWID table: how many entries it held is not known.
    fn keyless_damage(&self) -> bool {
        self.without_rowid && !self.damaged_pages.is_empty()
    }

    /// An upper bound on the rows lost. The rows under a damaged page are bounded twice, and
    /// the smaller bound wins: range by range (the damaged subtree's range `(lo, hi]`, known
    /// from the keys of the interior page above it, holds at most `hi - lo` rows; a damaged
    /// page at the depth of the tree's readable leaves is a leaf, holding at most `leaf_room`;
    /// less the rows adopted back), and all together by room (they sat on the file's dark
    /// pages, which hold at most `page_bound`). `None` when neither bound exists (see [`Evidence::lost_unknown`]).
    pub fn lost_at_most(&self) -> Option<i64> {
        if self.wal_lost {
            return None;
        }
        let cells = self.lost_rows.len() as i64 + self.lost_entries;
        if self.keyless_damage() {
            // No rowid ranges: the room of the damaged pages when each is a leaf (an index
            // leaf page holds at most as many entries as a table leaf page rows), else the
            // room on the dark pages.
            let all_leaves = self.single_pages.len() == self.damaged_pages.len()
                && self.single_pages.iter().all(|one| *one)
                && self.leaf_room > 0;
            let leaves = all_leaves
                .then(|| (self.damaged_pages.len() as i64).saturating_mul(self.leaf_room));
            let under = match (leaves, self.page_bound) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b)?,
            };
            return Some(cells.saturating_add(under));
        }
        if self.lost_ranges.is_empty() {
            return Some(cells);
        }
        let by_rowid = self
            .lost_ranges
            .iter()
            .enumerate()
            .try_fold(0i64, |sum, (i, range)| {
                let width = match range {
                    (Some(lo), Some(hi)) => Some(hi.saturating_sub(*lo)),
                    _ => None,
                };
                let room = self
                    .single_pages
                    .get(i)
                    .is_some_and(|one| *one && self.leaf_room > 0)
                    .then_some(self.leaf_room);
                let most = match (width, room) {
                    (Some(a), Some(b)) => a.min(b),
                    (a, b) => a.or(b)?,
                };
                Some(sum.saturating_add(most))
            })
            .map(|width| width.saturating_sub(self.adopted).max(0));
        let under = match (by_rowid, self.page_bound) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(cells.saturating_add(under))
    }

    /// A lower bound on the rows lost: rows whose rowid was read on a page and whose values
    /// were not, and entries of a WITHOUT ROWID table found but not decoded. (A backup's `missing` rows may have been deleted since: not a bound.)
    pub fn lost_at_least(&self) -> i64 {
        self.lost_rows.len() as i64 + self.lost_entries
    }

    /// Why no bound on the rows lost is known, when none is.
    pub fn lost_unknown(&self) -> Option<&'static str> {
        if self.lost_at_most().is_some() {
            None
        } else if self.wal_lost {
            Some("commits lost in a damaged WAL may have changed it")
        } else if self.unbounded.is_empty() {
            Some("a damaged range of rowids is open-ended")
        } else if self.keyless_damage() {
            Some(
                "a damaged page of a WITHOUT ROWID table has no rowid range, and the file's page count is not known",
            )
        } else {
            Some(self.unbounded)
        }
    }
}

/// The pages of the file no readable b-tree, freelist or adopted leaf accounts for: the pages
/// that could not be read, those cut off past a truncation, and those no readable page points
/// to any more. Every row under a damaged page sat on one of them, and a table leaf page holds
/// at most `(usable - 8) / 6` rows (8 header bytes; per cell a 2-byte pointer and at least 4
/// bytes, SQLite's smallest cell). Interior, overflow and pointer-map pages among them only
/// loosen the bound. The file's page count is the header's (valid when its version-valid-for
/// matches the change counter: it still counts pages cut off by a truncation) or the WAL's
/// last commit's; without either the dark pages cannot be counted.
struct DarkPages {
    pages: u32,
    per_page: i64,
}

impl DarkPages {
    fn bound(&self) -> i64 {
        i64::from(self.pages).saturating_mul(self.per_page)
    }
}

/// The most rows a table leaf page of `usable` bytes holds.
fn rows_per_leaf(usable: usize) -> i64 {
    (usable.saturating_sub(8) / 6) as i64
}

/// The most rows a table leaf page of this file holds (the whole page when the header, which
/// says how many bytes are reserved, is damaged: a bound still).
fn leaf_room(image: &Image) -> i64 {
    let reserved = image
        .page(1)
        .filter(|p| p.len() >= 100 && !image.header_damaged)
        .map_or(0, |p| p[20] as usize);
    rows_per_leaf(image.page_size.saturating_sub(reserved))
}

/// The file's page count as its header or its WAL says, and the usable bytes of a page.
fn page_count(image: &Image) -> Result<(u32, usize), &'static str> {
    let p1 = image
        .page(1)
        .filter(|p| p.len() >= 100 && !image.header_damaged)
        .ok_or("a damaged range of rowids is open-ended and the damaged header does not say how many pages the file had")?;
    let usable = image.page_size.saturating_sub(p1[20] as usize);
    if image.wal.used > 0 {
        return Ok((image.pages, usable));
    }
    let count = u32::from_be_bytes([p1[28], p1[29], p1[30], p1[31]]);
    if count == 0 || p1[92..96] != p1[24..28] {
        return Err(
            "a damaged range of rowids is open-ended and the header's page count is not valid (a file last written by an old SQLite)",
        );
    }
    Ok((count.max(image.pages), usable))
}

/// Put the readable pages of the index b-tree at `root` in `lit` (a page already lit, or
/// damaged in a table's walk, is not walked again).
fn index_pages(image: &Image, root: u32, lit: &mut HashSet<u32>, damaged: &HashSet<u32>) {
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n < 2 || n > image.pages || lit.contains(&n) || damaged.contains(&n) {
            continue;
        }
        match image.index_page(n) {
            IndexPage::Interior { children, right } => {
                lit.insert(n);
                stack.extend(children.iter().map(|(child, _)| *child));
                stack.push(right);
            }
            IndexPage::Leaf(_) => {
                lit.insert(n);
            }
            IndexPage::Damaged(_) => {}
        }
    }
}

/// A row of `sqlite_schema`.
#[derive(Debug, Clone)]
struct Entry {
    kind: String,
    name: String,
    root: u32,
    sql: Option<String>,
}

/// Salvage `src` into the new file `dst`.
pub fn run(
    src: &Path,
    dst: &Path,
    opts: &SalvageOpts,
    stop: &dyn Fn() -> bool,
) -> Result<Salvaged, Failure> {
    super::bytecopy::exists(src)?;
    super::backup::check_destination(src, dst, opts.force)?;
    let what = format!("salvage of {}", src.display());
    let needed = files::len_of(src).unwrap_or(0)
        + files::len_of(&side_file(src, "-wal")).unwrap_or(0)
        + files::len_of(&side_file(src, "-journal")).unwrap_or(0);
    let swept = files::sweep_dead_temps(dst);
    let deadline = Deadline {
        at: std::time::Instant::now() + opts.timeout,
        timeout: opts.timeout,
        stop,
    };
    let work = files::temp_beside(dst, "salvage")?;
    // A working copy of the source, and the salvaged database at most as large again.
    crate::sys::ensure_free(&files::folder_of(dst), needed * 2, &what)?;
    let mut salvaged = Salvaged {
        swept,
        ..Salvaged::default()
    };
    let (image, readable) = working_copy(src, &work, opts, &deadline, &what, &mut salvaged)?;
    let out = files::temp_beside(dst, "salvage")?;
    {
        let conn = Connection::open(&*out)
            .map_err(|e| files::sqlite_write_failure(e, &out, &what, needed))?;
        let mut writer = Writer::new(&conn, &image, readable, &out, &what, needed)?;
        let schema = read_schema(&image, opts.backup.as_deref(), &mut salvaged)?;
        writer.copy_tables(&schema, &mut salvaged, stop)?;
        files::test_pause("salvage-rows");
        writer.finish(&schema, &mut salvaged)?;
    }
    drop(image);
    drop(work);
    note_wal_loss(&mut salvaged);
    if let Some(backup) = &opts.backup {
        compare_with_backup(&out, backup, &mut salvaged);
    }
    let measured = facts::measure(&out, Check::Quick, true).map_err(|f| {
        Failure::new(format!(
            "{what}: the salvaged copy did not verify: {}",
            f.message
        ))
    })?;
    out.file()
        .sync_all()
        .map_err(|e| files::write_failure(e, &out, &what, needed))?;
    files::install(out, dst, opts.force)?;
    salvaged.path = dst.to_path_buf();
    salvaged.sha256 = measured.sha256;
    salvaged.bytes = measured.bytes;
    Ok(salvaged)
}

/// Byte-copy the source into `work` under its locks, roll back a hot journal, and read the
/// copy's pages with its WAL laid over them.
fn working_copy(
    src: &Path,
    work: &files::Temp,
    opts: &SalvageOpts,
    deadline: &Deadline,
    what: &str,
    salvaged: &mut Salvaged,
) -> Result<(Image, u32), Failure> {
    let (snap, ()) = super::bytecopy::snapshot(src, work, deadline, what, || ())?;
    if snap.side == Some("-journal") {
        roll_back_hot_journal(work, &mut salvaged.warnings);
    }
    let wal = side_file(work, "-wal");
    let hint = backup_page_size(opts.backup.as_deref());
    let mut image = Image::open(work, (snap.side == Some("-wal")).then_some(&wal), hint)
        .map_err(|e| Failure::new(format!("{what}: cannot read the working copy: {e}")))?;
    // A truncated file: its header still counts the pages cut off, so the interior pages that
    // name them stay readable and each cut-off child is a damaged page with its key range.
    // (Only the pages up to `readable` can be read: loops over pages stop there.)
    let readable = image.pages;
    if let Ok((count, _)) = page_count(&image) {
        image.pages = count;
    }
    salvaged.wal = image.wal.clone();
    salvaged.journal_mode = if snap.side == Some("-wal") || wal_mode(&image) {
        "wal".into()
    } else {
        "delete".into()
    };
    Ok((image, readable))
}

/// Commits lost in a damaged WAL may have changed any table: no table's loss is known then.
fn note_wal_loss(salvaged: &mut Salvaged) {
    if salvaged.wal.lost == 0 {
        return;
    }
    salvaged.warnings.push(format!(
        "{} frames of the WAL after a damaged one were lost: the commits in them are not in the salvage, whichever tables they changed",
        salvaged.wal.lost
    ));
    for table in &mut salvaged.tables {
        table.wal_lost = true;
    }
}

/// A hot rollback journal in the working copy holds the pages an interrupted transaction
/// overwrote: SQLite puts them back on its first read, before it looks at any table.
fn roll_back_hot_journal(work: &Path, warnings: &mut Vec<String>) {
    if let Ok(conn) = Connection::open(work) {
        let _ = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        });
    }
    if files::len_of(&side_file(work, "-journal")).is_some_and(|n| n > 0) {
        warnings.push(
            "the source's rollback journal could not be applied: rows of an interrupted transaction may be half written"
                .into(),
        );
    }
}

fn wal_mode(image: &Image) -> bool {
    image.page(1).is_some_and(|p| p[18] == 2 && p[19] == 2) && !image.header_damaged
}

fn backup_page_size(backup: Option<&Path>) -> usize {
    backup
        .and_then(|b| facts::check_file(b).ok())
        .map_or(4096, |h| h.page_size as usize)
}

/// The schema from the source's own `sqlite_schema` (page 1's b-tree); if that cannot be read,
/// from the last good backup, whose root pages are checked against the source's pages.
fn read_schema(
    image: &Image,
    backup: Option<&Path>,
    salvaged: &mut Salvaged,
) -> Result<Vec<Entry>, Failure> {
    let mut evidence = Evidence::default();
    let mut rows = Vec::new();
    let mut visited = HashSet::new();
    let mut walk = Walk {
        image,
        visited: &mut visited,
        evidence: &mut evidence,
        broken: Vec::new(),
        leaf_depth: None,
        depths: Vec::new(),
    };
    walk.tree(1, None, None, 0, &mut |_, values| {
        rows.push(values);
        Ok(())
    })?;
    let entries: Vec<Entry> = rows.iter().filter_map(|v| entry(v)).collect();
    if evidence.complete() && !entries.is_empty() {
        return Ok(entries);
    }
    salvaged.schema_damaged = true;
    let Some(backup) = backup else {
        if entries.is_empty() {
            return Err(Failure::new(
                "the schema (page 1) of the damaged database cannot be read: no table can be found",
            )
            .hint("pass the last good backup, #{ backup: \"app-backup.db\" }: its schema is used to find the tables"));
        }
        salvaged.warnings.push(format!(
            "part of the schema could not be read (pages {:?}): tables it named are missing; pass #{{ backup: ... }} to find them",
            evidence.damaged_pages
        ));
        return Ok(entries);
    };
    salvaged.warnings.push(format!(
        "the schema of the damaged database is damaged; the tables were found through the schema of {}",
        backup.display()
    ));
    let mut known: Vec<Entry> = schema_of_backup(backup)?;
    known.retain(|e| !entries.iter().any(|s| s.name == e.name));
    Ok(entries.into_iter().chain(known).collect())
}

fn entry(values: &[Value]) -> Option<Entry> {
    let text = |i: usize| match values.get(i) {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    };
    let root = match values.get(3) {
        Some(Value::Integer(n)) => u32::try_from(*n).unwrap_or(0),
        _ => 0,
    };
    Some(Entry {
        kind: text(0)?,
        name: text(1)?,
        root,
        sql: text(4),
    })
}

fn schema_of_backup(backup: &Path) -> Result<Vec<Entry>, Failure> {
    let conn = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| facts::cannot_read(backup, e))?;
    let mut stmt = conn
        .prepare("SELECT type, name, rootpage, sql FROM sqlite_schema")
        .map_err(|e| facts::cannot_read(backup, e))?;
    stmt.query_map([], |r| {
        Ok(Entry {
            kind: r.get(0)?,
            name: r.get(1)?,
            root: r.get::<_, Option<u32>>(2)?.unwrap_or(0),
            sql: r.get(3)?,
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(|e| facts::cannot_read(backup, e))
}

/// A damaged subtree of a table: the rowid range `(lo, hi]` its rows had.
#[derive(Debug, Clone, Copy)]
struct Broken {
    lo: Option<i64>,
    hi: Option<i64>,
}

impl Broken {
    fn covers(&self, rowid: i64) -> bool {
        self.lo.is_none_or(|lo| rowid > lo) && self.hi.is_none_or(|hi| rowid <= hi)
    }
}

/// Walking one table's b-tree, reading what can be read.
struct Walk<'a> {
    image: &'a Image,
    visited: &'a mut HashSet<u32>,
    evidence: &'a mut Evidence,
    broken: Vec<Broken>,
    /// The depth of the readable leaves: every leaf of a b-tree is at one depth. `Some(None)`
    /// when they were not (a pointer led astray): then no damaged page is known to be a leaf.
    leaf_depth: Option<Option<u32>>,
    /// The depth of each damaged page, in the order of `evidence.lost_ranges`.
    depths: Vec<u32>,
}

/// Receives each row read: its rowid (`None` in a WITHOUT ROWID table) and its record.
type Sink<'s> = dyn FnMut(Option<i64>, Vec<Value>) -> Result<(), Failure> + 's;

impl Walk<'_> {
    fn tree(
        &mut self,
        page: u32,
        lo: Option<i64>,
        hi: Option<i64>,
        depth: u32,
        sink: &mut Sink,
    ) -> Result<(), Failure> {
        let parsed = if depth > 40 || !self.visited.insert(page) {
            TablePage::Damaged("reached twice")
        } else {
            self.image.table_page(page)
        };
        match parsed {
            TablePage::Interior { children, right } => {
                let mut low = lo;
                for (child, key) in children {
                    let key = hi.map_or(key, |h| key.min(h));
                    self.tree(child, low, Some(key), depth + 1, sink)?;
                    low = Some(key);
                }
                self.tree(right, low, hi, depth + 1, sink)
            }
            TablePage::Leaf(cells) => {
                if *self.leaf_depth.get_or_insert(Some(depth)) != Some(depth) {
                    self.leaf_depth = Some(None);
                }
                self.leaf(page, cells, (lo, hi, depth), sink)
            }
            TablePage::Damaged(why) => {
                self.evidence.damage.get_or_insert(why);
                self.damaged(page, lo, hi, depth);
                Ok(())
            }
        }
    }

    fn damaged(&mut self, page: u32, lo: Option<i64>, hi: Option<i64>, depth: u32) {
        self.depths.push(depth);
        self.evidence.damaged_pages.push(page);
        self.evidence.lost_ranges.push((lo, hi));
        self.broken.push(Broken { lo, hi });
    }

    /// The tree of a WITHOUT ROWID table: an index b-tree whose entries are the rows, in
    /// interior cells as well as in leaves. Its keys are not rowids, so a damaged page records
    /// no range (the loss is then unknown) and its cut-off leaves are not adopted.
    fn index_tree(&mut self, page: u32, depth: u32, sink: &mut Sink) -> Result<(), Failure> {
        let parsed = if depth > 40 || !self.visited.insert(page) {
            IndexPage::Damaged("reached twice")
        } else {
            self.image.index_page(page)
        };
        match parsed {
            IndexPage::Interior { children, right } => {
                for (child, entry) in children {
                    self.index_tree(child, depth + 1, sink)?;
                    self.entry(entry, sink)?;
                }
                self.index_tree(right, depth + 1, sink)
            }
            IndexPage::Leaf(entries) => {
                if *self.leaf_depth.get_or_insert(Some(depth)) != Some(depth) {
                    self.leaf_depth = Some(None);
                }
                for entry in entries {
                    self.entry(entry, sink)?;
                }
                Ok(())
            }
            IndexPage::Damaged(why) => {
                self.evidence.damage.get_or_insert(why);
                self.evidence.damaged_pages.push(page);
                // No rowid range, but its depth: at the leaves' depth it is one leaf.
                self.depths.push(depth);
                Ok(())
            }
        }
    }

    fn entry(&mut self, entry: Option<Vec<Value>>, sink: &mut Sink) -> Result<(), Failure> {
        match entry {
            Some(values) => sink(None, values),
            None => {
                self.evidence.lost_entries += 1;
                self.evidence
                    .damage
                    .get_or_insert("cells that do not decode");
                Ok(())
            }
        }
    }

    /// Either kind of table tree, told apart by the type of its root page.
    fn any_tree(&mut self, root: u32, sink: &mut Sink) -> Result<(), Failure> {
        if self
            .image
            .page(root)
            .is_some_and(|p| matches!(p[0], 0x02 | 0x0A))
        {
            self.evidence.without_rowid = true;
            self.index_tree(root, 0, sink)
        } else {
            self.tree(root, None, None, 0, sink)
        }
    }

    fn leaf(
        &mut self,
        page: u32,
        cells: Vec<Cell>,
        (lo, hi, depth): (Option<i64>, Option<i64>, u32),
        sink: &mut Sink,
    ) -> Result<(), Failure> {
        let bounds = Broken { lo, hi };
        let mut last = lo;
        let mut unknown = false;
        for cell in cells {
            match cell {
                Cell::Row(rowid, values)
                    if bounds.covers(rowid) && last.is_none_or(|l| rowid > l) =>
                {
                    last = Some(rowid);
                    sink(Some(rowid), values)?;
                }
                Cell::Bad(Some(rowid)) if bounds.covers(rowid) => {
                    self.evidence.lost_rows.push(rowid)
                }
                _ => unknown = true,
            }
        }
        if unknown {
            self.evidence
                .damage
                .get_or_insert("cells that do not decode");
            self.damaged(page, lo, hi, depth);
        }
        Ok(())
    }
}

/// Writes the salvaged rows into the new database.
struct Writer<'c> {
    conn: &'c Connection,
    image: &'c Image,
    visited: HashSet<u32>,
    /// Pages a walk reached but could not read (all of them dark).
    damaged: HashSet<u32>,
    /// Leaf pages cut off from the tree whose rows all went back to their table.
    adopted: HashSet<u32>,
    /// The pages that can be read (a truncated file's header counts more).
    readable: u32,
    /// Per salvaged table (in the order of `Salvaged::tables`): its damaged subtrees, for
    /// leaf pages cut off from the tree.
    tables: Vec<(Table, Vec<Broken>)>,
    out: &'c Path,
    what: &'c str,
    needed: u64,
}

impl<'c> Writer<'c> {
    fn new(
        conn: &'c Connection,
        image: &'c Image,
        readable: u32,
        out: &'c Path,
        what: &'c str,
        needed: u64,
    ) -> Result<Self, Failure> {
        let writer = Writer {
            conn,
            image,
            visited: HashSet::new(),
            damaged: HashSet::new(),
            adopted: HashSet::new(),
            readable,
            tables: Vec::new(),
            out,
            what,
            needed,
        };
        // The new file is a temp one: no journal while filling it; the rename is the commit.
        let page_size = image.page_size as i64;
        writer.batch(&format!(
            "PRAGMA page_size = {page_size}; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE \"{LOST_AND_FOUND}\" (tbl TEXT, rowid_was INTEGER, page INTEGER, reason TEXT, fields TEXT);"
        ))?;
        if let Some(p1) = image.page(1).filter(|_| !image.header_damaged) {
            let word = |at: usize| i32::from_be_bytes([p1[at], p1[at + 1], p1[at + 2], p1[at + 3]]);
            writer.batch(&format!(
                "PRAGMA user_version = {}; PRAGMA application_id = {};",
                word(60),
                word(68)
            ))?;
        }
        Ok(writer)
    }

    fn batch(&self, sql: &str) -> Result<(), Failure> {
        self.conn
            .execute_batch(sql)
            .map_err(|e| files::sqlite_write_failure(e, self.out, self.what, self.needed))
    }

    fn copy_tables(
        &mut self,
        schema: &[Entry],
        salvaged: &mut Salvaged,
        stop: &dyn Fn() -> bool,
    ) -> Result<(), Failure> {
        self.visited.insert(1);
        self.batch("BEGIN")?;
        for entry in schema.iter().filter(|e| e.kind == "table") {
            if stop() {
                return Err(Failure::new(format!("{}: stopped", self.what)));
            }
            if entry.name.starts_with("sqlite_stat") || entry.name == "sqlite_sequence" {
                continue;
            }
            match self.create(entry) {
                Ok(table) => {
                    let evidence = self.copy_table(entry, table)?;
                    salvaged.tables.push(evidence);
                }
                Err(reason) => {
                    // Its rows are still kept, in lost_and_found, not left as orphan pages.
                    salvaged.lost_and_found += self.set_aside_tree(entry, &reason)?;
                    salvaged.unreadable.push((entry.name.clone(), reason));
                }
            }
        }
        self.copy_sequence(schema)?;
        self.adopt_orphans(salvaged)?;
        salvaged.lost_and_found += salvaged.tables.iter().map(|t| t.set_aside).sum::<i64>();
        self.bound_by_dark_pages(schema, salvaged);
        self.batch("COMMIT")
    }

    /// Create the table from its own SQL and work out which record field goes where.
    fn create(&self, entry: &Entry) -> Result<Table, String> {
        let sql = entry
            .sql
            .as_deref()
            .ok_or("no CREATE statement in the schema")?;
        let upper = sql.to_ascii_uppercase();
        if upper.trim_start().starts_with("CREATE VIRTUAL") {
            return Err(format!(
                "a virtual table: it has no rows of its own (its module keeps them in its shadow tables `{}_*`, salvaged as plain tables); create it again with its CREATE statement and fill it from them",
                entry.name
            ));
        }
        if entry.root < 2 || entry.root > self.image.pages {
            return Err(format!("its root page {} is not in the file", entry.root));
        }
        self.conn.execute_batch(sql).map_err(|e| e.to_string())?;
        Table::describe(self.conn, &entry.name).map_err(|e| e.to_string())
    }

    fn copy_table(&mut self, entry: &Entry, table: Table) -> Result<Evidence, Failure> {
        let mut evidence = Evidence {
            name: entry.name.clone(),
            ..Evidence::default()
        };
        let mut set_aside = Vec::new();
        let broken = {
            let mut walk = Walk {
                image: self.image,
                visited: &mut self.visited,
                evidence: &mut evidence,
                broken: Vec::new(),
                leaf_depth: None,
                depths: Vec::new(),
            };
            let (conn, out, what, needed) = (self.conn, self.out, self.what, self.needed);
            let mut recovered = 0;
            let mut sink = |rowid: Option<i64>, values: Vec<Value>| {
                match table.insert(conn, rowid, &values) {
                    Ok(()) => recovered += 1,
                    Err(Refused::DiskFull(e)) => {
                        return Err(files::sqlite_write_failure(e, out, what, needed));
                    }
                    Err(Refused::Row(reason)) => set_aside.push((rowid, reason, values)),
                }
                Ok(())
            };
            if table.without_rowid {
                walk.evidence.without_rowid = true;
                walk.index_tree(entry.root, 0, &mut sink)?;
            } else {
                walk.tree(entry.root, None, None, 0, &mut sink)?;
            }
            walk.evidence.recovered = recovered;
            // A damaged page at the leaves' depth is one page: its rows fit on it.
            walk.evidence.single_pages = walk
                .depths
                .iter()
                .map(|d| walk.leaf_depth == Some(Some(*d)))
                .collect();
            walk.broken
        };
        self.damaged.extend(&evidence.damaged_pages);
        evidence.set_aside = set_aside.len() as i64;
        for (rowid, reason, values) in set_aside {
            self.lost_and_found(&entry.name, rowid, 0, &reason, &values)?;
        }
        self.tables.push((table, broken));
        Ok(evidence)
    }

    /// The rows of a table that could not be created, kept in lost_and_found.
    fn set_aside_tree(&mut self, entry: &Entry, reason: &str) -> Result<i64, Failure> {
        let mut rows = Vec::new();
        let mut evidence = Evidence::default();
        if (2..=self.image.pages).contains(&entry.root) {
            let mut walk = Walk {
                image: self.image,
                visited: &mut self.visited,
                evidence: &mut evidence,
                broken: Vec::new(),
                leaf_depth: None,
                depths: Vec::new(),
            };
            walk.any_tree(entry.root, &mut |rowid, values| {
                rows.push((rowid, values));
                Ok(())
            })?;
        }
        self.damaged.extend(&evidence.damaged_pages);
        for (rowid, values) in &rows {
            self.lost_and_found(&entry.name, *rowid, 0, reason, values)?;
        }
        Ok(rows.len() as i64)
    }

    /// Table leaf pages that no readable page points to (their parent was damaged): each is
    /// given to the one table that has a damaged subtree covering all its rowids and room for
    /// its fields, else kept in lost_and_found. If the freelist could not be read, such a page
    /// may be a freed one holding deleted rows, so none is given to a table.
    fn adopt_orphans(&mut self, salvaged: &mut Salvaged) -> Result<(), Failure> {
        let (free, free_ok) = self.image.freelist();
        if !free_ok {
            salvaged
                .warnings
                .push("the freelist could not be read: pages cut off from their table were kept in lost_and_found, not put back".into());
        }
        for page in 2..=self.readable.min(self.image.pages) {
            if self.visited.contains(&page) || free.contains(&page) {
                continue;
            }
            if self.image.page(page).is_none_or(|p| p[0] != 0x0D) {
                continue;
            }
            let TablePage::Leaf(cells) = self.image.table_page(page) else {
                continue;
            };
            let rows: Vec<(i64, Vec<Value>)> = cells
                .into_iter()
                .filter_map(|c| match c {
                    Cell::Row(rowid, values) => Some((rowid, values)),
                    Cell::Bad(_) => None,
                })
                .collect();
            let owner = if free_ok { self.owner_of(&rows) } else { None };
            let before = salvaged.lost_and_found;
            for (rowid, values) in rows {
                self.place_orphan(owner, page, rowid, values, salvaged)?;
            }
            if owner.is_some() && salvaged.lost_and_found == before {
                self.adopted.insert(page);
            }
        }
        Ok(())
    }

    /// Count the dark pages ([`DarkPages`]) and give every table their bound.
    fn bound_by_dark_pages(&self, schema: &[Entry], salvaged: &mut Salvaged) {
        let mut lit: HashSet<u32> = self.visited.difference(&self.damaged).copied().collect();
        lit.extend(&self.adopted);
        let (free, free_ok) = self.image.freelist();
        if free_ok {
            lit.extend(free);
        }
        for entry in schema.iter().filter(|e| e.kind == "index") {
            index_pages(self.image, entry.root, &mut lit, &self.damaged);
        }
        let dark = page_count(self.image).and_then(|(pages, usable)| {
            if self.visited.iter().any(|p| *p > pages) {
                return Err("a damaged range of rowids is open-ended and the b-tree names pages past the file's page count");
            }
            Ok(DarkPages {
                // Pages past the readable ones are all dark: counted, not walked (the
                // header's count can be large).
                pages: (1..=pages.min(self.readable))
                    .filter(|p| !lit.contains(p))
                    .count() as u32
                    + pages.saturating_sub(self.readable),
                per_page: rows_per_leaf(usable),
            })
        });
        let room = leaf_room(self.image);
        for table in &mut salvaged.tables {
            table.leaf_room = room;
            match &dark {
                Ok(dark) => table.page_bound = Some(dark.bound()),
                Err(why) => table.unbounded = why,
            }
        }
    }

    fn owner_of(&self, rows: &[(i64, Vec<Value>)]) -> Option<usize> {
        let fits = |(table, broken): &(Table, Vec<Broken>)| {
            !table.without_rowid
                && rows.iter().all(|(rowid, values)| {
                    values.len() <= table.fields.len() && broken.iter().any(|b| b.covers(*rowid))
                })
        };
        let mut owners = self.tables.iter().enumerate().filter(|(_, t)| fits(t));
        match (owners.next(), owners.next()) {
            (Some((i, _)), None) if !rows.is_empty() => Some(i),
            _ => None,
        }
    }

    fn place_orphan(
        &mut self,
        owner: Option<usize>,
        page: u32,
        rowid: i64,
        values: Vec<Value>,
        salvaged: &mut Salvaged,
    ) -> Result<(), Failure> {
        let reason = match owner {
            Some(i) => match self.tables[i].0.insert(self.conn, Some(rowid), &values) {
                Ok(()) => {
                    salvaged.tables[i].adopted += 1;
                    salvaged.tables[i].recovered += 1;
                    return Ok(());
                }
                Err(Refused::DiskFull(e)) => {
                    return Err(files::sqlite_write_failure(
                        e,
                        self.out,
                        self.what,
                        self.needed,
                    ));
                }
                Err(Refused::Row(reason)) => reason,
            },
            None => "on a page no readable page points to; its table is not known".to_string(),
        };
        let table = owner
            .map(|i| self.tables[i].0.name.clone())
            .unwrap_or_default();
        salvaged.lost_and_found += 1;
        self.lost_and_found(&table, Some(rowid), page, &reason, &values)
    }

    /// Indexes, views and triggers, after the rows (triggers must not fire on salvaged rows).
    /// One that cannot be created (a UNIQUE index the salvaged rows break) is a warning.
    fn finish(&self, schema: &[Entry], salvaged: &mut Salvaged) -> Result<(), Failure> {
        for kind in ["index", "view", "trigger"] {
            for entry in schema.iter().filter(|e| e.kind == kind) {
                let Some(sql) = &entry.sql else { continue };
                if let Err(e) = self.conn.execute_batch(sql) {
                    salvaged
                        .warnings
                        .push(format!("{kind} {} was not recreated: {e}", entry.name));
                }
            }
        }
        if salvaged.lost_and_found == 0 {
            self.batch(&format!("DROP TABLE \"{LOST_AND_FOUND}\""))?;
        }
        let mode = if salvaged.journal_mode == "wal" {
            "WAL"
        } else {
            "DELETE"
        };
        self.conn
            .query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| {
                r.get::<_, String>(0)
            })
            .map(|_| ())
            .map_err(|e| files::sqlite_write_failure(e, self.out, self.what, self.needed))
    }

    /// `sqlite_sequence` (AUTOINCREMENT's high-water marks) exists in the new file once an
    /// AUTOINCREMENT table was created; its rows are copied so ids are never reused.
    fn copy_sequence(&mut self, schema: &[Entry]) -> Result<(), Failure> {
        let Some(entry) = schema.iter().find(|e| e.name == "sqlite_sequence") else {
            return Ok(());
        };
        let exists = Table::describe(self.conn, "sqlite_sequence").is_ok();
        let mut evidence = Evidence::default();
        let mut walk = Walk {
            image: self.image,
            visited: &mut self.visited,
            evidence: &mut evidence,
            broken: Vec::new(),
            leaf_depth: None,
            depths: Vec::new(),
        };
        let conn = self.conn;
        walk.tree(entry.root, None, None, 0, &mut |_, values| {
            if let (true, [Value::Text(name), Value::Integer(seq)]) = (exists, values.as_slice()) {
                // Inserting rows with their rowids already set a mark; the source's wins.
                let _ = conn.execute(
                    "DELETE FROM sqlite_sequence WHERE name = ?1",
                    rusqlite::params![name],
                );
                let _ = conn.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                    rusqlite::params![name, seq],
                );
            }
            Ok(())
        })?;
        self.damaged.extend(&evidence.damaged_pages);
        Ok(())
    }

    fn lost_and_found(
        &self,
        table: &str,
        rowid: Option<i64>,
        page: u32,
        reason: &str,
        values: &[Value],
    ) -> Result<(), Failure> {
        self.conn
            .execute(
                &format!("INSERT INTO \"{LOST_AND_FOUND}\" VALUES (?1, ?2, ?3, ?4, ?5)"),
                rusqlite::params![table, rowid, page, reason, fields_json(values)],
            )
            .map(|_| ())
            .map_err(|e| files::sqlite_write_failure(e, self.out, self.what, self.needed))
    }
}

fn fields_json(values: &[Value]) -> String {
    let items: Vec<serde_json::Value> = values
        .iter()
        .map(|v| match v {
            Value::Null => serde_json::Value::Null,
            Value::Integer(n) => (*n).into(),
            Value::Real(f) => (*f).into(),
            Value::Text(t) => t.clone().into(),
            Value::Blob(b) => format!("x'{}'", facts::hex(b)).into(),
        })
        .collect();
    serde_json::Value::from(items).to_string()
}

/// A created table: where each record field goes.
struct Table {
    name: String,
    /// Stored as an index b-tree keyed by its PRIMARY KEY; the record holds every column, the
    /// key's first.
    without_rowid: bool,
    /// Per record field: the column it fills, or `None` (the rowid alias, stored as NULL, or a
    /// stored generated column, which cannot be inserted).
    fields: Vec<Option<String>>,
}

impl Table {
    fn describe(conn: &Connection, name: &str) -> rusqlite::Result<Table> {
        let record_order = key_first_columns(conn, name)?;
        if !record_order.is_empty() {
            return Self::describe_without_rowid(conn, name, record_order);
        }
        let quoted = quote(name);
        conn.prepare(&format!("SELECT rowid FROM {quoted} LIMIT 0"))?;
        let mut stmt = conn.prepare(&format!(
            "SELECT name, upper(type), pk, hidden FROM pragma_table_xinfo({})",
            quote_literal(name)
        ))?;
        let columns: Vec<(String, String, i64, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let pks = columns.iter().filter(|c| c.2 > 0).count();
        let fields = columns
            .iter()
            // Virtual generated columns are not stored in the record.
            .filter(|c| c.3 != 2)
            .map(|(col, ty, pk, hidden)| {
                let alias = pks == 1 && *pk == 1 && ty == "INTEGER";
                (!alias && *hidden == 0).then(|| col.clone())
            })
            .collect();
        Ok(Table {
            name: name.to_string(),
            without_rowid: false,
            fields,
        })
    }

    /// A WITHOUT ROWID table's record holds its columns key first (`record_order`); a
    /// generated column in it cannot be inserted.
    fn describe_without_rowid(
        conn: &Connection,
        name: &str,
        record_order: Vec<(String, bool)>,
    ) -> rusqlite::Result<Table> {
        let mut stmt = conn.prepare(&format!(
            "SELECT name FROM pragma_table_xinfo({}) WHERE hidden != 0",
            quote_literal(name)
        ))?;
        let generated: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(Table {
            name: name.to_string(),
            without_rowid: true,
            fields: record_order
                .into_iter()
                .map(|(col, _)| (!generated.contains(&col)).then_some(col))
                .collect(),
        })
    }

    fn insert(
        &self,
        conn: &Connection,
        rowid: Option<i64>,
        values: &[Value],
    ) -> Result<(), Refused> {
        if values.len() > self.fields.len() {
            return Err(Refused::Row(format!(
                "{} fields, the table has {}",
                values.len(),
                self.fields.len()
            )));
        }
        let rowid = rowid.filter(|_| !self.without_rowid).map(Value::Integer);
        let mut columns: Vec<String> = rowid.iter().map(|_| "rowid".to_string()).collect();
        let mut params: Vec<&Value> = rowid.iter().collect();
        for (field, value) in self.fields.iter().zip(values) {
            if let Some(col) = field {
                columns.push(quote(col));
                params.push(value);
            }
        }
        let marks = (1..=columns.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({marks})",
            quote(&self.name),
            columns.join(", ")
        );
        let all: Vec<&dyn rusqlite::ToSql> = params
            .into_iter()
            .map(|v| v as &dyn rusqlite::ToSql)
            .collect();
        conn.prepare_cached(&sql)
            .and_then(|mut stmt| stmt.execute(all.as_slice()))
            .map(|_| ())
            .map_err(Refused::from)
    }
}

/// Why a row was not inserted: the disk is full (the salvage fails), or the table refused
/// this row (it goes to lost_and_found).
enum Refused {
    DiskFull(rusqlite::Error),
    Row(String),
}

impl From<rusqlite::Error> for Refused {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(err, _) if err.code == rusqlite::ErrorCode::DiskFull => {
                Refused::DiskFull(e)
            }
            _ => Refused::Row(e.to_string()),
        }
    }
}

/// The columns of a WITHOUT ROWID table in the order its records store them, each with whether
/// it is part of the PRIMARY KEY; empty for a rowid table.
fn key_first_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<(String, bool)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT name, key FROM pragma_index_xinfo({}) WHERE name IS NOT NULL ORDER BY seqno",
        quote_literal(table)
    ))?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Expected rows from the last good backup, and which rows (by rowid) are in one and not the
/// other. A comparison that cannot be made is a warning: the salvage itself stands.
fn compare_with_backup(out: &Path, backup: &Path, salvaged: &mut Salvaged) {
    let compared = (|| -> rusqlite::Result<()> {
        let conn = Connection::open_with_flags(out, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.execute("ATTACH DATABASE ?1 AS b", [backup.to_string_lossy()])?;
        for table in &mut salvaged.tables {
            let t = quote(&table.name);
            let in_backup: bool = conn.query_row(
                "SELECT count(*) > 0 FROM b.sqlite_schema WHERE type = 'table' AND name = ?1",
                [&table.name],
                |r| r.get(0),
            )?;
            if !in_backup {
                continue;
            }
            // Rows are matched by rowid, or by PRIMARY KEY in a WITHOUT ROWID table.
            let key: Vec<String> = key_first_columns(&conn, &table.name)?
                .into_iter()
                .filter(|(_, in_key)| *in_key)
                .map(|(col, _)| quote(&col))
                .collect();
            let key = if key.is_empty() {
                "rowid".to_string()
            } else {
                key.join(", ")
            };
            let (expected, missing, new): (i64, i64, i64) = conn.query_row(
                &format!(
                    "SELECT (SELECT count(*) FROM b.{t}),
                            (SELECT count(*) FROM (SELECT {key} FROM b.{t} EXCEPT SELECT {key} FROM main.{t})),
                            (SELECT count(*) FROM (SELECT {key} FROM main.{t} EXCEPT SELECT {key} FROM b.{t}))"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            table.expected = Some(expected);
            table.missing = Some(missing);
            table.new_since_backup = Some(new);
        }
        Ok(())
    })();
    if let Err(e) = compared {
        salvaged.warnings.push(format!(
            "the salvage was not compared with {}: {e}",
            backup.display()
        ));
    }
}
