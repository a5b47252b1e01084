//! `ripcord check --config FILE`: whether a site's knowledge fits the state DB its config names,
//! before an incident finds out. The knowledge and the test are the runbooks' own library
//! (`lib/site.rhai`, `lib/schema.rhai`'s `problems(cfg)`), run here with changes simulated,
//! as `ripcord drill triggers` runs its first step: reads are real, nothing is written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ripcord_runtime::config::Config;
use ripcord_runtime::host::{Host, HostOptions};
use ripcord_runtime::output::{Output, eprint_line};
use ripcord_runtime::rhai::{Dynamic, EvalAltResult, Map, Scope};
use ripcord_runtime::secrets::Secrets;

use crate::app::Context;
use crate::error::{Error, Result};

/// The library file that says how a site's knowledge is checked.
const SCHEMA_LIB: &str = "lib/schema.rhai";

/// The program run in each runbook folder.
const PROGRAM: &str = r#"import "lib/schema" as schema;
#{ db: cfg.db, problems: schema::problems(cfg) }"#;

/// Check the site knowledge of each runbook folder among `paths` (default: the script path)
/// against the config's state DB. Returns the number of problems, each already shown.
pub fn check(ctx: &Context, paths: &[PathBuf], config: &Path) -> Result<usize> {
    let config = Config::load(Some(config)).map_err(Error::usage)?;
    let (roots, folders) = folders(ctx, paths);
    if folders.is_empty() {
        let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        return Err(Error::usage(format!(
            "check --config: none of the folders checked ({}) has {SCHEMA_LIB}, which says how a site's knowledge is checked",
            shown.join(", ")
        ))
        .help("check the folder `ripcord init` wrote (ripcord check DIR --config FILE), or pass --scripts DIR"));
    }
    let mut problems = 0;
    for folder in &folders {
        problems += check_folder(folder, &config);
    }
    Ok(problems)
}

/// The folders looked at (`paths`, a file's own folder), and those whose library has
/// [`SCHEMA_LIB`].
fn folders(ctx: &Context, paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let roots: Vec<PathBuf> = if paths.is_empty() {
        ctx.scripts.clone()
    } else {
        paths
            .iter()
            .map(|p| match p.is_dir() {
                true => p.clone(),
                false => p.parent().map(Path::to_path_buf).unwrap_or_default(),
            })
            .collect()
    };
    let roots: Vec<PathBuf> = roots
        .into_iter()
        .map(|r| match r.as_os_str().is_empty() {
            true => PathBuf::from("."),
            false => r,
        })
        .collect();
    let mut found: Vec<PathBuf> = Vec::new();
    for root in &roots {
        let canonical = root.canonicalize().unwrap_or_else(|_| root.clone());
        if canonical.join(SCHEMA_LIB).is_file() && !found.contains(&canonical) {
            found.push(canonical);
        }
    }
    (roots, found)
}

/// Run the library's check in `folder` and show each problem on a line of its own.
fn check_folder(folder: &Path, config: &Config) -> usize {
    let site = folder.join("lib/site.rhai");
    let (db, problems) = match run(folder, config) {
        Ok(found) => found,
        Err(message) => {
            eprint_line(&format!("site check of {}: {message}", site.display()));
            return 1;
        }
    };
    for p in &problems {
        let line = match p.what.as_str() {
            "state DB" => format!("site problem: state DB {db}: {}", p.why),
            what => format!(
                "schema misfit: {what} does not fit {db}: {}; adapt {}",
                p.why,
                site.display()
            ),
        };
        eprint_line(&line);
    }
    if problems.is_empty() {
        eprint_line(&format!(
            "the site's queries and time columns in {} fit {db}",
            site.display()
        ));
    }
    problems.len()
}

/// One problem `lib/schema.rhai` found.
struct Problem {
    what: String,
    why: String,
}

/// The DB checked and the problems found, or why the check itself could not run.
fn run(folder: &Path, config: &Config) -> std::result::Result<(String, Vec<Problem>), String> {
    let options = HostOptions {
        mode: ripcord_runtime::Mode::DryRun,
        yes: true,
        config: config.value.clone(),
        ..Default::default()
    };
    let secrets = Secrets::default();
    let host = Arc::new(Host::new(options, Output::new(secrets)));
    let engine = ripcord_runtime::engine::build(crate::command::doc::all_modules(), host, folder);
    let ast = ripcord_runtime::engine::compile(&engine, PROGRAM).map_err(|e| e.to_string())?;
    let mut scope = Scope::new();
    scope.push_dynamic("cfg", config.to_dynamic());
    let result: Map = engine
        .eval_ast_with_scope::<Dynamic>(&mut scope, &ast)
        .map_err(|e| message_of(&e))?
        .try_cast::<Map>()
        .ok_or("problems(cfg) did not return a map")?;
    let text = |d: Option<&Dynamic>| d.map(|v| v.to_string()).unwrap_or_default();
    let db = text(result.get("db"));
    let problems = result
        .get("problems")
        .and_then(|p| p.clone().try_cast::<ripcord_runtime::rhai::Array>())
        .ok_or("problems(cfg) did not return an array of problems")?
        .into_iter()
        .filter_map(|p| p.try_cast::<Map>())
        .map(|p| Problem {
            what: text(p.get("what")),
            why: text(p.get("why")),
        })
        .collect();
    Ok((db, problems))
}

/// A Rhai error as an operator reads it: a script's own message as it is (with its `help:`
/// line indented under it), anything else as Rhai words it.
fn message_of(e: &EvalAltResult) -> String {
    let text = match e {
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        other => other.to_string(),
    };
    text.lines().collect::<Vec<_>>().join("\n  ")
}
