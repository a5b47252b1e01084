//! `ripcord check`: find problems in runbooks without running anything.

use std::path::PathBuf;

use ripcord_runtime::run::exit;

use crate::app::Context;

pub fn check(ctx: &Context, paths: &[PathBuf]) -> i32 {
    let files = crate::command::doc::expand_paths(ctx, paths);
    let (engine, _host) = ripcord_runtime::engine::standalone(
        ripcord_stdlib::modules(),
        ripcord_runtime::Mode::DryRun,
    );
    let mut findings = 0;
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                findings += 1;
                continue;
            }
        };
        if let Err(e) = engine.compile(&text) {
            let d = ripcord_runtime::error::Diagnostic::from_parse(&e, &file.display().to_string());
            eprintln!("{}", d.render(&mut Default::default(), false));
            findings += 1;
        }
    }
    if findings > 0 { exit::USAGE } else { exit::OK }
}
