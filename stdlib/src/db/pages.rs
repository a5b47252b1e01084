//! Reading a SQLite file's pages without SQLite, for `db::salvage`: the main file with the
//! committed frames of its `-wal` laid over it, table b-tree pages, cells, overflow chains,
//! records and the freelist, each checked against the file format so that a damaged page is
//! skipped (and counted) instead of stopping the read. SQLite's own reader stops at the first
//! damaged page it meets; this reads every page that still makes sense, as the `sqlite3`
//! shell's `.recover` does.
//!
//! The layout is SQLite's documented file format (fileformat2.html): a 100-byte header on
//! page 1, b-tree page headers, varints, the record format and the WAL frame format.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rusqlite::types::Value;

/// A database file as SQLite would read it: its pages, the newest committed WAL frame winning.
pub struct Image {
    file: File,
    /// Pages from the WAL, by page number.
    overlay: HashMap<u32, Vec<u8>>,
    pub page_size: usize,
    /// The page size less the bytes reserved at the end of every page.
    usable: usize,
    pub pages: u32,
    utf16: Option<bool>,
    pub wal: WalRead,
    /// The 100-byte header did not make sense: its fields were guessed.
    pub header_damaged: bool,
}

/// What was read from the `-wal`.
#[derive(Debug, Default, Clone)]
pub struct WalRead {
    /// Frames with valid checksums, up to the last commit among them: what SQLite would apply.
    pub used: u64,
    /// Frames after a checksum break that still carry this WAL's salt: commits SQLite cannot
    /// apply either (damage in the WAL), so they are lost.
    pub lost: u64,
    pub damaged: bool,
}

const MAGIC: &[u8; 16] = b"SQLite format 3\0";

impl Image {
    /// Open `db` and the `-wal` at `wal` (if it exists). `page_size_hint` is used when the
    /// header is damaged and the WAL does not say either.
    pub fn open(db: &Path, wal: Option<&Path>, page_size_hint: usize) -> std::io::Result<Image> {
        let file = File::open(db)?;
        let len = file.metadata()?.len();
        let mut head = [0u8; 100];
        let got = file.read_at(&mut head, 0).unwrap_or(0);
        let raw = u16::from_be_bytes([head[16], head[17]]) as usize;
        let from_header = if raw == 1 { 65536 } else { raw };
        let header_ok = got == 100
            && head.starts_with(MAGIC)
            && from_header.is_power_of_two()
            && (512..=65536).contains(&from_header);
        let wal_bytes = wal.and_then(|w| std::fs::read(w).ok()).unwrap_or_default();
        let wal_page_size = wal_page_size(&wal_bytes);
        let page_size = if header_ok {
            from_header
        } else {
            wal_page_size.unwrap_or(page_size_hint)
        };
        let reserved = if header_ok { head[20] as usize } else { 0 };
        let mut image = Image {
            file,
            overlay: HashMap::new(),
            page_size,
            usable: page_size.saturating_sub(reserved).max(480),
            pages: (len / page_size as u64).min(u32::MAX as u64) as u32,
            utf16: match (
                header_ok,
                u32::from_be_bytes([head[56], head[57], head[58], head[59]]),
            ) {
                (true, 2) => Some(false),
                (true, 3) => Some(true),
                _ => None,
            },
            wal: WalRead::default(),
            header_damaged: !header_ok,
        };
        if wal_page_size == Some(page_size) {
            image.apply_wal(&wal_bytes);
        } else if !wal_bytes.is_empty() {
            image.wal.damaged = true;
        }
        Ok(image)
    }

    /// Lay the WAL's committed frames over the file, as SQLite's WAL recovery does: frames
    /// count while their salts match the header and their cumulative checksums hold; only
    /// frames up to the last commit frame among them are applied.
    fn apply_wal(&mut self, wal: &[u8]) {
        let Some(mut sum) = wal_header_sum(wal) else {
            self.wal.damaged = true;
            return;
        };
        let big = wal[3] & 1 == 1;
        let frame = 24 + self.page_size;
        let salt = &wal[16..24];
        let mut pending: Vec<(u32, &[u8])> = Vec::new();
        let mut at = 32;
        let mut broken = false;
        while at + frame <= wal.len() {
            let head = &wal[at..at + 24];
            let body = &wal[at + 24..at + frame];
            at += frame;
            if head[8..16] != *salt {
                break;
            }
            if broken {
                self.wal.lost += 1;
                continue;
            }
            let next = checksum(checksum(sum, &head[..8], big), body, big);
            if next != (be32(head, 16), be32(head, 20)) {
                broken = true;
                self.wal.damaged = true;
                self.wal.lost += 1;
                continue;
            }
            sum = next;
            pending.push((be32(head, 0), body));
            let commit_size = be32(head, 4);
            if commit_size > 0 {
                self.wal.used += pending.len() as u64;
                for (page, body) in pending.drain(..) {
                    self.overlay.insert(page, body.to_vec());
                }
                self.pages = commit_size;
            }
        }
        self.wal.lost += pending.len() as u64 * u64::from(broken);
    }

    /// Page `n` (1-based), or `None` past the end of the file.
    pub fn page(&self, n: u32) -> Option<Vec<u8>> {
        if n == 0 || n > self.pages {
            return None;
        }
        if let Some(p) = self.overlay.get(&n) {
            return Some(p.clone());
        }
        let mut buf = vec![0u8; self.page_size];
        let at = (n as u64 - 1) * self.page_size as u64;
        match self.file.read_at(&mut buf, at) {
            Ok(got) if got == self.page_size => Some(buf),
            _ => None,
        }
    }

    /// Every page on the freelist, and whether the list could be followed to its end.
    pub fn freelist(&self) -> (HashSet<u32>, bool) {
        let mut free = HashSet::new();
        let Some(page1) = self.page(1) else {
            return (free, false);
        };
        if self.header_damaged {
            return (free, false);
        }
        let mut trunk = be32(&page1, 32);
        let total = be32(&page1, 36) as usize;
        let per_trunk = self.usable / 4 - 2;
        while trunk != 0 {
            let Some(page) = self.page(trunk).filter(|_| free.insert(trunk)) else {
                return (free, false);
            };
            let count = be32(&page, 4) as usize;
            if count > per_trunk {
                return (free, false);
            }
            for i in 0..count {
                let leaf = be32(&page, 8 + 4 * i);
                if leaf == 0 || leaf > self.pages {
                    return (free, false);
                }
                free.insert(leaf);
            }
            trunk = be32(&page, 0);
        }
        let complete = free.len() == total;
        (free, complete)
    }

    /// Parse page `n` as a table b-tree page.
    pub fn table_page(&self, n: u32) -> TablePage {
        let Some(page) = self.page(n) else {
            return TablePage::Damaged("past the end of the file");
        };
        let start = if n == 1 { 100 } else { 0 };
        let kind = page[start];
        let interior = match kind {
            0x05 => true,
            0x0D => false,
            0x02 | 0x0A => return TablePage::Damaged("an index page where a table page belongs"),
            _ => return TablePage::Damaged("not a b-tree page"),
        };
        let header = start + if interior { 12 } else { 8 };
        let cells = be16(&page, start + 3);
        if header + 2 * cells > self.usable {
            return TablePage::Damaged("its cell count does not fit the page");
        }
        let pointers = (0..cells).map(|i| be16(&page, header + 2 * i));
        if interior {
            self.interior(&page, pointers, header + 2 * cells, be32(&page, start + 8))
        } else {
            TablePage::Leaf(
                pointers
                    .map(|at| self.leaf_cell(&page, at, header + 2 * cells))
                    .collect(),
            )
        }
    }

    fn interior(
        &self,
        page: &[u8],
        pointers: impl Iterator<Item = usize>,
        content: usize,
        right: u32,
    ) -> TablePage {
        let mut children = Vec::new();
        let mut last: Option<i64> = None;
        for at in pointers {
            if at < content || at + 5 > self.usable {
                return TablePage::Damaged("a cell pointer points outside the page");
            }
            let child = be32(page, at);
            let Some((key, _)) = varint(&page[at + 4..self.usable]) else {
                return TablePage::Damaged("a cell is cut off");
            };
            if child == 0 || child > self.pages || last.is_some_and(|l| key <= l) {
                return TablePage::Damaged("its keys or child pages are out of order");
            }
            last = Some(key);
            children.push((child, key));
        }
        if right == 0 || right > self.pages {
            return TablePage::Damaged("its right-most child is not a page");
        }
        TablePage::Interior { children, right }
    }

    fn leaf_cell(&self, page: &[u8], at: usize, content: usize) -> Cell {
        if at < content || at >= self.usable {
            return Cell::Bad(None);
        }
        let cell = &page[at..self.usable];
        let Some((size, a)) = varint(cell) else {
            return Cell::Bad(None);
        };
        let Some((rowid, b)) = varint(&cell[a..]) else {
            return Cell::Bad(None);
        };
        let Ok(size) = usize::try_from(size) else {
            return Cell::Bad(Some(rowid));
        };
        match self.payload(&cell[a + b..], size, self.usable - 35) {
            Some(payload) => match self.record(&payload) {
                Some(values) => Cell::Row(rowid, values),
                None => Cell::Bad(Some(rowid)),
            },
            None => Cell::Bad(Some(rowid)),
        }
    }

    /// A cell's payload: the part on the page, then its overflow chain. `max_local` is the most
    /// a cell keeps on its page: `usable - 35` on table leaves, less on index pages.
    fn payload(&self, local: &[u8], size: usize, max_local: usize) -> Option<Vec<u8>> {
        let u = self.usable;
        let on_page = if size <= max_local {
            size
        } else {
            let min_local = (u - 12) * 32 / 255 - 23;
            let k = min_local + (size - min_local) % (u - 4);
            if k <= max_local { k } else { min_local }
        };
        if on_page > local.len() || size > 1 << 31 {
            return None;
        }
        let mut out = local[..on_page].to_vec();
        if on_page == size {
            return Some(out);
        }
        let mut next = be32(local.get(on_page..on_page + 4)?, 0);
        let mut seen = HashSet::new();
        while out.len() < size {
            if !seen.insert(next) {
                return None;
            }
            let page = self.page(next)?;
            let take = (size - out.len()).min(u - 4);
            out.extend_from_slice(&page[4..4 + take]);
            next = be32(&page, 0);
        }
        Some(out)
    }

    /// Parse page `n` as an index b-tree page: how a WITHOUT ROWID table is stored, its rows
    /// being the index's entries (in interior cells as well as in leaves).
    pub fn index_page(&self, n: u32) -> IndexPage {
        let Some(page) = self.page(n) else {
            return IndexPage::Damaged("past the end of the file");
        };
        let start = if n == 1 { 100 } else { 0 };
        let interior = match page[start] {
            0x02 => true,
            0x0A => false,
            0x05 | 0x0D => return IndexPage::Damaged("a table page where an index page belongs"),
            _ => return IndexPage::Damaged("not a b-tree page"),
        };
        let header = start + if interior { 12 } else { 8 };
        let cells = be16(&page, start + 3);
        let content = header + 2 * cells;
        if content > self.usable {
            return IndexPage::Damaged("its cell count does not fit the page");
        }
        let pointers = (0..cells).map(|i| be16(&page, header + 2 * i));
        if !interior {
            return IndexPage::Leaf(
                pointers
                    .map(|at| {
                        if at >= content && at < self.usable {
                            self.index_entry(&page[at..self.usable])
                        } else {
                            None
                        }
                    })
                    .collect(),
            );
        }
        let mut children = Vec::new();
        for at in pointers {
            if at < content || at + 5 > self.usable {
                return IndexPage::Damaged("a cell pointer points outside the page");
            }
            let child = be32(&page, at);
            if child == 0 || child > self.pages {
                return IndexPage::Damaged("a child page is not in the file");
            }
            children.push((child, self.index_entry(&page[at + 4..self.usable])));
        }
        let right = be32(&page, start + 8);
        if right == 0 || right > self.pages {
            return IndexPage::Damaged("its right-most child is not a page");
        }
        IndexPage::Interior { children, right }
    }

    /// The record of an index cell (payload size, payload, overflow), `None` if it does not decode.
    fn index_entry(&self, cell: &[u8]) -> Option<Vec<Value>> {
        let (size, at) = varint(cell)?;
        let max_local = (self.usable - 12) * 64 / 255 - 23;
        let payload = self.payload(&cell[at..], usize::try_from(size).ok()?, max_local)?;
        self.record(&payload)
    }

    /// Decode a record; `None` when its header or values do not fit.
    fn record(&self, payload: &[u8]) -> Option<Vec<Value>> {
        let (header_len, mut at) = varint(payload)?;
        let header_len = usize::try_from(header_len).ok()?;
        if header_len > payload.len() || header_len < at {
            return None;
        }
        let mut body = header_len;
        let mut values = Vec::new();
        while at < header_len {
            let (serial, n) = varint(&payload[at..header_len])?;
            at += n;
            let (value, len) = self.value(serial, payload.get(body..)?)?;
            body += len;
            values.push(value);
        }
        (body == payload.len()).then_some(values)
    }

    fn value(&self, serial: i64, data: &[u8]) -> Option<(Value, usize)> {
        let int = |n: usize| -> Option<(Value, usize)> {
            let bytes = data.get(..n)?;
            let mut v: i64 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
            for b in bytes {
                v = (v << 8) | i64::from(*b);
            }
            Some((Value::Integer(v), n))
        };
        match serial {
            0 => Some((Value::Null, 0)),
            1..=4 => int(serial as usize),
            5 => int(6),
            6 => int(8),
            7 => {
                let bytes: [u8; 8] = data.get(..8)?.try_into().ok()?;
                Some((Value::Real(f64::from_be_bytes(bytes)), 8))
            }
            8 => Some((Value::Integer(0), 0)),
            9 => Some((Value::Integer(1), 0)),
            n if n >= 12 && n % 2 == 0 => {
                let len = usize::try_from((n - 12) / 2).ok()?;
                Some((Value::Blob(data.get(..len)?.to_vec()), len))
            }
            n if n >= 13 => {
                let len = usize::try_from((n - 13) / 2).ok()?;
                Some((Value::Text(self.text(data.get(..len)?)?), len))
            }
            _ => None,
        }
    }

    fn text(&self, bytes: &[u8]) -> Option<String> {
        let Some(big) = self.utf16 else {
            return Some(String::from_utf8_lossy(bytes).into_owned());
        };
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| {
                if big {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        Some(String::from_utf16_lossy(&units))
    }
}

/// A table b-tree page, parsed.
pub enum TablePage {
    /// Child pages with the largest rowid each holds, and the right-most child.
    Interior {
        children: Vec<(u32, i64)>,
        right: u32,
    },
    Leaf(Vec<Cell>),
    Damaged(&'static str),
}

/// An index b-tree page, parsed: each entry is `None` when it does not decode.
pub enum IndexPage {
    /// Per cell the child page left of it and the cell's own entry; then the right-most child.
    Interior {
        children: Vec<(u32, Option<Vec<Value>>)>,
        right: u32,
    },
    Leaf(Vec<Option<Vec<Value>>>),
    Damaged(&'static str),
}

/// One cell of a table leaf: a row, or a cell that does not decode (with its rowid if that much
/// could be read).
pub enum Cell {
    Row(i64, Vec<Value>),
    Bad(Option<i64>),
}

fn be16(b: &[u8], at: usize) -> usize {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]) as usize)
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// A SQLite varint (1-9 bytes, big-endian, 7 bits a byte, all 8 in the ninth) and its length.
pub fn varint(b: &[u8]) -> Option<(i64, usize)> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let byte = *b.get(i)?;
        if i == 8 {
            return Some((((v << 8) | u64::from(byte)) as i64, 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((v as i64, i + 1));
        }
    }
    None
}

fn wal_page_size(wal: &[u8]) -> Option<usize> {
    let magic = be32(wal, 0);
    let size = be32(wal, 8) as usize;
    ((magic & !1) == 0x377f_0682 && size.is_power_of_two() && (512..=65536).contains(&size))
        .then_some(size)
}

/// The WAL header's checksum, if the header is intact.
fn wal_header_sum(wal: &[u8]) -> Option<(u32, u32)> {
    if wal.len() < 32 {
        return None;
    }
    let big = wal[3] & 1 == 1;
    let sum = checksum((0, 0), &wal[..24], big);
    (sum == (be32(wal, 24), be32(wal, 28))).then_some(sum)
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `sum`.
fn checksum(sum: (u32, u32), data: &[u8], big: bool) -> (u32, u32) {
    let (mut s0, mut s1) = sum;
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let w = [b[0], b[1], b[2], b[3]];
            if big {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        };
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_as_sqlite_writes_them() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9]), Some((-1, 9)));
        assert_eq!(varint(&[0x81]), None);
    }

    #[test]
    fn a_database_reads_back_row_for_row_with_its_wal_applied() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("t.db");
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BLOB, c REAL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
             INSERT INTO t SELECT i, 'row ' || i, zeroblob(i * 20), i / 2.0 FROM n;",
        )
        .expect("fill");
        let root: u32 = conn
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 't'",
                [],
                |r| r.get(0),
            )
            .expect("root");
        let wal = dir.path().join("t.db-wal");
        let image = Image::open(&db, Some(&wal), 4096).expect("image");
        assert!(image.wal.used > 0 && !image.wal.damaged);
        let mut rows = Vec::new();
        let mut stack = vec![root];
        while let Some(p) = stack.pop() {
            match image.table_page(p) {
                TablePage::Interior { children, right } => {
                    stack.push(right);
                    stack.extend(children.iter().map(|c| c.0));
                }
                TablePage::Leaf(cells) => rows.extend(cells.into_iter().map(|c| match c {
                    Cell::Row(id, v) => (id, v),
                    Cell::Bad(_) => panic!("a bad cell in a healthy file"),
                })),
                TablePage::Damaged(why) => panic!("page {p}: {why}"),
            }
        }
        rows.sort_by_key(|r| r.0);
        assert_eq!(rows.len(), 500);
        assert_eq!(rows[499].1[1], Value::Text("row 500".into()));
        assert_eq!(rows[499].1[2], Value::Blob(vec![0; 10_000]));
        assert_eq!(rows[2].1[3], Value::Real(1.5));
        drop(conn);
    }
}
