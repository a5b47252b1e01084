//! SQL from scripts: parameters in, rows out, and WAL checkpoints.

use std::path::Path;
use std::time::Duration;

use ripcord_runtime::Failure;
use ripcord_runtime::rhai::{Array, Blob, Dynamic, Map};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use super::facts;

/// Parameters as the script gave them: `[a, b]` for `?`, `#{ id: 1 }` for `:id`.
pub enum Params {
    None,
    Positional(Vec<Value>),
    Named(Vec<(String, Value)>),
}

impl Params {
    pub fn from_array(values: &Array) -> Result<Params, Failure> {
        values
            .iter()
            .map(to_sql)
            .collect::<Result<_, _>>()
            .map(Params::Positional)
    }

    pub fn from_map(values: &Map) -> Result<Params, Failure> {
        values
            .iter()
            .map(|(k, v)| {
                let name = if k.starts_with([':', '@', '$']) {
                    k.to_string()
                } else {
                    format!(":{k}")
                };
                Ok((name, to_sql(v)?))
            })
            .collect::<Result<_, _>>()
            .map(Params::Named)
    }

    pub fn len(&self) -> usize {
        match self {
            Params::None => 0,
            Params::Positional(v) => v.len(),
            Params::Named(v) => v.len(),
        }
    }

    fn bind(&self, stmt: &mut rusqlite::Statement) -> rusqlite::Result<()> {
        match self {
            Params::None => Ok(()),
            Params::Positional(values) => {
                for (i, v) in values.iter().enumerate() {
                    stmt.raw_bind_parameter(i + 1, v)?;
                }
                Ok(())
            }
            Params::Named(values) => {
                for (name, v) in values {
                    let Some(i) = stmt.parameter_index(name)? else {
                        return Err(rusqlite::Error::InvalidParameterName(name.clone()));
                    };
                    stmt.raw_bind_parameter(i, v as &dyn ToSql)?;
                }
                Ok(())
            }
        }
    }
}

fn to_sql(v: &Dynamic) -> Result<Value, Failure> {
    if v.is_unit() {
        Ok(Value::Null)
    } else if let Some(i) = v.clone().try_cast::<i64>() {
        Ok(Value::Integer(i))
    } else if let Some(f) = v.clone().try_cast::<f64>() {
        Ok(Value::Real(f))
    } else if let Some(b) = v.clone().try_cast::<bool>() {
        Ok(Value::Integer(b as i64))
    } else if v.is_string() {
        Ok(Value::Text(v.to_string()))
    } else if let Some(b) = v.clone().try_cast::<Blob>() {
        Ok(Value::Blob(b))
    } else {
        Err(
            Failure::new(format!("a SQL parameter cannot be a {}", v.type_name()))
                .hint("parameters are numbers, strings, booleans, blobs or ()"),
        )
    }
}

fn from_sql(v: ValueRef) -> Dynamic {
    match v {
        ValueRef::Null => Dynamic::UNIT,
        ValueRef::Integer(i) => Dynamic::from(i),
        ValueRef::Real(f) => Dynamic::from(f),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => Dynamic::from_blob(b.to_vec()),
    }
}

fn sql_error(path: &Path, sql: &str, e: rusqlite::Error) -> Failure {
    Failure::new(format!("{}: {e}", path.display()))
        .hint(format!("the statement was: {}", short(sql)))
}

/// The first line of a statement, shortened for messages and the journal.
pub fn short(sql: &str) -> String {
    let line = sql.trim().lines().next().unwrap_or("");
    if line.chars().count() > 80 {
        format!("{}...", line.chars().take(77).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Rows of a read-only query, each a map of column name to value.
pub fn query(path: &Path, sql: &str, params: &Params, busy: Duration) -> Result<Array, Failure> {
    facts::check_file(path)?;
    let conn = facts::open_reader(path)?;
    let _ = conn.busy_timeout(busy);
    let fail = |e| sql_error(path, sql, e);
    let mut stmt = conn.prepare(sql).map_err(fail)?;
    params.bind(&mut stmt).map_err(fail)?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut rows = stmt.raw_query();
    let mut out = Array::new();
    while let Some(row) = rows.next().map_err(|e| sql_error(path, sql, e))? {
        let mut m = Map::new();
        for (i, name) in names.iter().enumerate() {
            let value = row.get_ref(i).map_err(|e| sql_error(path, sql, e))?;
            m.insert(name.as_str().into(), from_sql(value));
        }
        out.push(m.into());
    }
    Ok(out)
}

/// Run statements that change the database. Without parameters `sql` may hold several
/// statements; with parameters it is one.
pub fn exec(path: &Path, sql: &str, params: &Params, busy: Duration) -> Result<Map, Failure> {
    if path.is_dir() {
        return Err(Failure::new(format!(
            "{} is a directory, not a SQLite database file",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .map_err(|e| {
        Failure::new(format!("cannot open {}: {e}", path.display()))
            .hint("check the folder exists and is writable")
    })?;
    let fail = |e| sql_error(path, sql, e);
    conn.busy_timeout(busy).map_err(fail)?;
    let before = conn.total_changes();
    match params {
        Params::None => conn.execute_batch(sql).map_err(fail)?,
        _ => {
            let mut stmt = conn.prepare(sql).map_err(fail)?;
            params.bind(&mut stmt).map_err(fail)?;
            stmt.raw_execute().map_err(fail)?;
        }
    }
    let mut m = Map::new();
    m.insert(
        "changes".into(),
        Dynamic::from((conn.total_changes() - before) as i64),
    );
    m.insert(
        "last_insert_rowid".into(),
        Dynamic::from(conn.last_insert_rowid()),
    );
    Ok(m)
}

pub fn checkpoint_mode(mode: &str) -> Result<&'static str, Failure> {
    match mode.to_ascii_lowercase().as_str() {
        "passive" => Ok("PASSIVE"),
        "full" => Ok("FULL"),
        "restart" => Ok("RESTART"),
        "truncate" => Ok("TRUNCATE"),
        _ => Err(Failure::new(format!("`{mode}` is not a checkpoint mode")).hint(
            "use \"passive\" (never blocks writers), \"full\", \"restart\" or \"truncate\" (these wait for writers)",
        )),
    }
}

/// `PRAGMA wal_checkpoint(MODE)`.
pub fn checkpoint(path: &Path, mode: &str, busy: Duration) -> Result<Map, Failure> {
    facts::check_file(path)?;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| Failure::new(format!("cannot open {}: {e}", path.display())))?;
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    let fail = |e| sql_error(path, &sql, e);
    conn.busy_timeout(busy).map_err(fail)?;
    let (busy, log, done): (i64, i64, i64) = conn
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(fail)?;
    let mut m = Map::new();
    m.insert("mode".into(), mode.to_ascii_lowercase().into());
    m.insert("busy".into(), (busy != 0).into());
    m.insert("wal_frames".into(), Dynamic::from(log));
    m.insert("checkpointed".into(), Dynamic::from(done));
    Ok(m)
}
