//! Unit tests of the db module's building blocks; the behaviour is tested end to end in
//! `tests/db.rs` against the real binary.

use super::facts::{self, Check};
use super::files;
use ripcord_runtime::rhai::Dynamic;

#[test]
fn check_file_names_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("g.db");
    std::fs::write(&garbage, b"hello").expect("write");
    let e = facts::check_file(&garbage).expect_err("garbage");
    assert!(
        e.message
            .ends_with("g.db is not a SQLite database (it does not start with the SQLite header)"),
        "{}",
        e.message
    );
    let short = dir.path().join("s.db");
    std::fs::write(&short, b"SQLite format 3\0abc").expect("write");
    assert!(
        facts::check_file(&short)
            .expect_err("short")
            .message
            .contains("is truncated")
    );
    assert!(
        facts::check_file(dir.path())
            .expect_err("dir")
            .message
            .contains("is a directory")
    );
    assert!(Check::parse("fast").is_err());
}

#[test]
fn side_files_and_params() {
    assert_eq!(
        files::side_file(std::path::Path::new("a/app.db"), "-wal"),
        std::path::PathBuf::from("a/app.db-wal")
    );
    let mut m = ripcord_runtime::rhai::Map::new();
    m.insert("id".into(), Dynamic::from(3_i64));
    assert_eq!(
        super::sql::Params::from_map(&m).map(|p| p.len()).ok(),
        Some(1)
    );
    assert!(super::sql::Params::from_array(&vec![Dynamic::from(vec![Dynamic::UNIT])]).is_err());
}
