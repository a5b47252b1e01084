//! `ripcord doc`: the native API from the registered functions' metadata.

use std::path::PathBuf;

use ripcord_runtime::Catalog;
use ripcord_runtime::run::exit;

use crate::app::Context;
use crate::cli::DocFormatArg;

pub fn doc(item: Option<&str>, _format: DocFormatArg) -> i32 {
    let mut modules = vec![ripcord_runtime::builtins::module()];
    modules.extend(ripcord_stdlib::modules());
    let catalog = Catalog::from_modules(&modules);
    for f in &catalog.functions {
        if item.is_none_or(|i| f.qualified().starts_with(i)) {
            println!(
                "{:<24} {:<7} {}",
                f.qualified(),
                f.effect.as_str(),
                f.summary()
            );
        }
    }
    exit::OK
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
