//! `ripcord list` and `ripcord describe`: runbooks with their summaries and params, and where
//! each comes from (shipped, edited, the operator's own, or built into the binary).

use std::collections::HashSet;
use std::path::Path;

use ripcord_runtime::script::{Script, list_dir};

use crate::app::Context;
use crate::error::{Error, Result};
use crate::shipped::{self, Origin};

/// Every runbook in the folders (or in `dir`), each marked `shipped`, `edited` or `local`;
/// without `dir`, then the built-in runbooks no folder has.
pub fn list(ctx: &Context, dir: Option<&Path>) -> Result {
    let dirs: Vec<&Path> = match dir {
        Some(d) => {
            if !d.is_dir() {
                return Err(Error::usage(format!("{} is not a folder", d.display()))
                    .help("`ripcord list DIR` lists the .rhai files in DIR"));
            }
            vec![d]
        }
        None => ctx
            .scripts
            .iter()
            .map(|p| p.as_path())
            .filter(|p| p.is_dir())
            .collect(),
    };
    let mut seen: HashSet<String> = HashSet::new();
    for dir in dirs {
        for path in list_dir(dir) {
            let Ok(script) = Script::read(&path) else {
                continue;
            };
            // The first folder on the path wins, as `ripcord run NAME` finds it.
            if !seen.insert(script.name.clone()) {
                continue;
            }
            let origin = Origin::of(&script.name, &script.text);
            print_row(&script.name, origin, &script.text);
        }
    }
    if dir.is_none() {
        for (name, text) in shipped::runbooks() {
            if !seen.contains(name) {
                print_row(name, Origin::BuiltIn, text);
            }
        }
    }
    Ok(())
}

fn print_row(name: &str, origin: Origin, text: &str) {
    let summary = match ripcord_runtime::header::parse(text) {
        Ok(h) => h.summary,
        Err(e) => format!("(header error at line {}: {})", e.line, e.message),
    };
    println!("{name:<28} {:<9} {summary}", origin.label());
}

pub fn describe(ctx: &Context, spec: &str) -> Result {
    let (script, builtin_dir) = shipped::find(spec, &ctx.scripts).map_err(Error::usage)?;
    let builtin = builtin_dir.is_some();
    let header = ripcord_runtime::header::parse(&script.text).map_err(|e| {
        Error::usage(format!(
            "{}:{}:{}: {}",
            script.display_path(),
            e.line,
            e.column,
            e.message
        ))
    })?;
    println!("{} — {}", script.name, header.summary);
    if builtin {
        println!("  built-in (`ripcord init DIR` writes a copy you can edit)");
    } else {
        let origin = Origin::of(&script.name, &script.text).label();
        println!("  {} ({origin})", script.display_path());
    }
    if !header.description.trim().is_empty() {
        println!();
        for line in header.description.lines() {
            println!("  {line}");
        }
    }
    if let Some(rto) = &header.rto_text {
        println!("\n  recovery-time target: {rto}");
    }
    println!(
        "\n{}",
        ripcord_runtime::params::usage(&header.params, &script.name)
    );
    let steps = step_names(&script.text);
    if !steps.is_empty() {
        println!("\nsteps:");
        for (i, s) in steps.iter().enumerate() {
            println!("  {}. {s}", i + 1);
        }
    }
    Ok(())
}

/// Step names in source order (`step "Name" {`), for a quick outline.
fn step_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("step \""))
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_string()))
        .collect()
}
