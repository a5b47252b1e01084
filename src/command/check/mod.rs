//! `ripcord check`: find problems in runbooks without running anything; with `--config FILE`,
//! also whether the site's knowledge fits the state DB that config names (`site`).

mod site;

use std::path::{Path, PathBuf};

use ripcord_runtime::Catalog;
use ripcord_runtime::error::SourceCache;
use ripcord_runtime::output::eprint_line;
use ripcord_runtime::run::exit;

use crate::app::Context;
use crate::error::{Error, Result};

pub fn check(ctx: &Context, paths: &[PathBuf], config: Option<&Path>) -> Result {
    let files = crate::command::doc::expand_paths(ctx, paths);
    if files.is_empty() {
        return Err(Error::usage("no runbooks to check")
            .help("name files or folders, or run it where ./scripts exists"));
    }
    let modules = crate::command::doc::all_modules();
    let catalog = Catalog::from_modules(&modules);
    let (engine, _host) =
        ripcord_runtime::engine::standalone(modules, ripcord_runtime::Mode::DryRun);
    let color = ripcord_runtime::output::use_color();
    let mut sources = SourceCache::default();
    let (mut findings, mut warnings) = (0, 0);
    for file in &files {
        let diagnostics = ripcord_runtime::check::check_file(&engine, &catalog, file);
        for d in &diagnostics {
            eprint_line(&d.render(&mut sources, color));
        }
        let warned = diagnostics.iter().filter(|d| d.warning).count();
        warnings += warned;
        findings += diagnostics.len() - warned;
    }
    let also = match warnings {
        0 => String::new(),
        n => format!(" ({n} warning(s))"),
    };
    if findings > 0 {
        eprintln!(
            "{findings} problem(s) in {} runbook(s){also}; nothing was run",
            files.len()
        );
    } else {
        eprintln!("{} runbook(s) checked: no problems{also}", files.len());
    }
    let misfits = match config {
        Some(config) => site::check(ctx, paths, config)?,
        None => 0,
    };
    if misfits > 0 {
        eprintln!(
            "{misfits} site problem(s) with the config {}; nothing was run",
            config
                .map(Path::display)
                .map(|d| d.to_string())
                .unwrap_or_default()
        );
    }
    match findings + misfits {
        0 => Ok(()),
        _ => Err(Error::Exit(exit::USAGE)),
    }
}
