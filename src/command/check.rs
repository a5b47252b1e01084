//! `ripcord check`: find problems in runbooks without running anything.

use std::path::PathBuf;

use ripcord_runtime::Catalog;
use ripcord_runtime::error::SourceCache;
use ripcord_runtime::output::eprint_line;
use ripcord_runtime::run::exit;

use crate::app::Context;
use crate::error::{Error, Result};

pub fn check(ctx: &Context, paths: &[PathBuf]) -> Result {
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
        Err(Error::Exit(exit::USAGE))
    } else {
        eprintln!("{} runbook(s) checked: no problems{also}", files.len());
        Ok(())
    }
}
