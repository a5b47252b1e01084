//! `ripcord doc`: the native API from the registered functions' metadata.

use std::path::PathBuf;

use ripcord_runtime::doc::DocFormat;
use ripcord_runtime::{Catalog, NativeModule};

use crate::app::Context;
use crate::cli::DocFormatArg;
use crate::error::{Error, Result};

/// Every native function a runbook can call: the runtime's own and the stdlib's.
pub fn all_modules() -> Vec<NativeModule> {
    let mut modules = vec![
        ripcord_runtime::builtins::module(),
        ripcord_runtime::call::module(),
    ];
    modules.extend(ripcord_stdlib::modules());
    modules
}

/// `docs/runbooks.md`: what `ripcord doc language` prints.
const LANGUAGE: &str = include_str!("../../docs/runbooks.md");

pub fn doc(
    ctx: &Context,
    item: Option<&str>,
    format: DocFormatArg,
    for_script: Option<&str>,
) -> Result {
    if item == Some("language") {
        return emit(LANGUAGE);
    }
    if let Some(spec) = for_script {
        return definitions_for(ctx, spec, format);
    }
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
    let json = matches!(format, DocFormat::Json);
    emit(&text.map_err(|message| Error::usage(message).json(json))?)
}

/// Rhai definitions of the API plus one runbook's own names (its params, `cfg`).
fn definitions_for(ctx: &Context, spec: &str, format: DocFormatArg) -> Result {
    if !matches!(format, DocFormatArg::Rhai) {
        return Err(
            Error::usage("--for SCRIPT writes editor definitions").help("add --format rhai")
        );
    }
    let header = crate::shipped::find(spec, &ctx.scripts).and_then(|(script, _)| {
        ripcord_runtime::header::parse(&script.text)
            .map_err(|e| format!("{}:{e}", script.display_path()))
    });
    let header = header.map_err(Error::usage)?;
    let (engine, _host) =
        ripcord_runtime::engine::standalone(all_modules(), ripcord_runtime::Mode::DryRun);
    emit(&ripcord_runtime::doc::definitions_for(&engine, &header))
}

/// Print `text` with a final newline; a reader that went away (`| head`) is not an error.
fn emit(text: &str) -> Result {
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    crate::machine::write_stdout(format!("{text}{newline}").as_bytes())
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
