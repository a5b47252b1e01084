//! The Rhai engine a runbook runs in: explicit limits, `step` blocks, native modules, imports
//! relative to the importing file, and a progress hook that honours Ctrl-C and `--timeout`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalContext, Expression, Position};

use crate::host::{Host, Inspect};
use crate::native::NativeModule;
use crate::resolver::RelativeResolver;

/// Limits are set explicitly: Rhai's defaults differ between debug and release builds.
pub const MAX_OPERATIONS: u64 = 2_000_000_000;
pub const MAX_CALL_LEVELS: usize = 64;
pub const MAX_EXPR_DEPTH: usize = 128;
pub const MAX_FN_EXPR_DEPTH: usize = 64;
pub const MAX_STRING_SIZE: usize = 256 * 1024 * 1024;
pub const MAX_ARRAY_SIZE: usize = 10_000_000;
pub const MAX_MAP_SIZE: usize = 10_000_000;
pub const MAX_MODULES: usize = 256;

/// Build an engine with ripcord's syntax and limits and the given native modules, bound to `host`.
/// `base_dir` is where imports from code without a source file (the REPL) resolve.
pub fn build(modules: Vec<NativeModule>, host: Arc<Host>, base_dir: &Path) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH)
        .set_max_string_size(MAX_STRING_SIZE)
        .set_max_array_size(MAX_ARRAY_SIZE)
        .set_max_map_size(MAX_MAP_SIZE)
        .set_max_modules(MAX_MODULES)
        .set_fail_on_invalid_map_property(true);

    let progress_host = host.clone();
    engine.on_progress(move |_| {
        progress_host
            .check_stop()
            .map(|_| Dynamic::from("ripcord-stop"))
    });

    let print_host = host.clone();
    engine.on_print(move |text| print_host.out.info(text));
    let debug_host = host.clone();
    engine.on_debug(move |text, source, pos| {
        let at = match (source, pos.line()) {
            (Some(s), Some(l)) => format!("{s}:{l}: "),
            _ => String::new(),
        };
        debug_host.out.note(&format!("{at}{text}"));
    });

    // `step "name" { ... }`: a block that is the unit of progress, journal, resume and stepping.
    if let Err(e) = engine.register_custom_syntax(["step", "$string$", "$block$"], false, eval_step)
    {
        // The syntax is a constant; failing to register it is a programming error caught by tests.
        host.out
            .error(&format!("internal error: cannot register `step`: {e}"));
    }

    for m in modules {
        if m.name.is_empty() {
            engine.register_global_module(m.module.into());
        } else {
            engine.register_static_module(m.name, m.module.into());
        }
    }
    engine.set_module_resolver(RelativeResolver::new(base_dir.to_path_buf()));
    engine.set_default_tag(Dynamic::from(host));
    engine
}

/// Evaluate one `step` block through the host (which may skip it, pause, or journal it).
fn eval_step(
    ctx: &mut EvalContext,
    inputs: &[Expression],
) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    let name = inputs[0].get_string_value().unwrap_or_default().to_string();
    let pos = inputs[0].position();
    let Some(host) = Host::from_tag(ctx.tag()) else {
        // An engine without a host (e.g. `ripcord check` compiling) just runs the block.
        return ctx.eval_expression_tree(&inputs[1]);
    };
    let source = ctx.source().unwrap_or("<script>").to_string();
    let position = match pos.line() {
        Some(line) => format!("{source}:{line}"),
        None => source,
    };
    let run = {
        let engine = ctx.engine();
        let mut inspect = ScopeInspect {
            engine,
            scope: ctx.scope_mut(),
        };
        host.begin_step(&name, &position, &mut inspect, pos)?
    };
    if !run {
        return Ok(Dynamic::UNIT);
    }
    let result = ctx.eval_expression_tree(&inputs[1]);
    host.end_step(result.as_ref().err().map(|e| e.as_ref()));
    result
}

/// Evaluates operator input against the script's live scope at a step-through pause.
struct ScopeInspect<'a, 's> {
    engine: &'a Engine,
    scope: &'a mut rhai::Scope<'s>,
}

impl Inspect for ScopeInspect<'_, '_> {
    fn eval(&mut self, code: &str) -> Result<String, String> {
        match self.engine.eval_with_scope::<Dynamic>(self.scope, code) {
            Ok(v) if v.is_unit() => Ok(String::new()),
            Ok(v) => Ok(format!("{v:?}")),
            Err(e) => Err(crate::error::message_of(&e)),
        }
    }
}

/// Compile a script file with its path as the AST's source (errors and imports use it).
pub fn compile_file(
    engine: &Engine,
    path: &Path,
    text: &str,
) -> Result<rhai::AST, rhai::ParseError> {
    let mut ast = engine.compile(text)?;
    ast.set_source(path.display().to_string());
    Ok(ast)
}

/// An engine and host for tests and tools that run code outside `ripcord run`.
pub fn standalone(modules: Vec<NativeModule>, mode: crate::Mode) -> (Engine, Arc<Host>) {
    let secrets = crate::secrets::Secrets::default();
    let options = crate::host::HostOptions {
        mode,
        yes: true,
        ..Default::default()
    };
    let host = Arc::new(Host::new(options, crate::output::Output::new(secrets)));
    let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    (build(modules, host.clone(), &base), host)
}

/// Position of a native call as `line:col`, for messages that mention it.
pub fn position_text(pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        (Some(l), None) => l.to_string(),
        _ => "?".to_string(),
    }
}
