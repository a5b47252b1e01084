//! `ripcord doc`: the native API from the registered functions' metadata.

use std::path::PathBuf;

use ripcord_runtime::doc::DocFormat;
use ripcord_runtime::run::exit;
use ripcord_runtime::{Catalog, NativeModule};

use crate::app::Context;
use crate::cli::DocFormatArg;

/// Every native function a runbook can call: the runtime's own and the stdlib's.
pub fn all_modules() -> Vec<NativeModule> {
    let mut modules = vec![
        ripcord_runtime::builtins::module(),
        ripcord_runtime::call::module(),
    ];
    modules.extend(ripcord_stdlib::modules());
    modules
}

pub fn doc(item: Option<&str>, format: DocFormatArg) -> i32 {
    let modules = all_modules();
    let catalog = Catalog::from_modules(&modules);
    let format = match format {
        DocFormatArg::Text => DocFormat::Text,
        DocFormatArg::Md => DocFormat::Md,
        DocFormatArg::Json => DocFormat::Json,
        DocFormatArg::Rhai => DocFormat::Rhai,
    };
    let text = if matches!(format, DocFormat::Rhai) && item.is_none() {
        let (engine, _host) =
            ripcord_runtime::engine::standalone(modules, ripcord_runtime::Mode::DryRun);
        Ok(ripcord_runtime::doc::definitions(&engine))
    } else {
        ripcord_runtime::doc::render(&catalog, item, format)
    };
    match text {
        Ok(text) => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            exit::OK
        }
        Err(message) => crate::app::fail(exit::USAGE, &message),
    }
}

/// Files named on the command line, folders expanded to their `.rhai` files; default: the
/// script path.
pub fn expand_paths(ctx: &Context, paths: &[PathBuf]) -> Vec<PathBuf> {
    let roots: Vec<PathBuf> = if paths.is_empty() {
        ctx.scripts.iter().filter(|p| p.is_dir()).cloned().collect()
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for p in roots {
        if p.is_dir() {
            files.extend(ripcord_runtime::script::list_dir(&p));
        } else {
            files.push(p);
        }
    }
    files
}
