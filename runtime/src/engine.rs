//! The Rhai engine a runbook runs in: limits no stricter than stock Rhai, `step` blocks, native
//! modules, imports relative to the importing file, and a progress hook that honours Ctrl-C,
//! `--timeout` and the memory limit while costing almost nothing per operation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalContext, Expression, Position};

use crate::host::{Host, Inspect};
use crate::limits::Limits;
use crate::native::NativeModule;
use crate::resolver::RelativeResolver;

/// Build an engine with ripcord's syntax and limits and the given native modules, bound to `host`.
/// `base_dir` is where imports from code without a source file (the REPL) resolve.
pub fn build(modules: Vec<NativeModule>, host: Arc<Host>, base_dir: &Path) -> Engine {
    let mut engine = Engine::new();
    apply_limits(&mut engine, &host.limits);

    let progress_host = host.clone();
    engine.on_progress(move |operations| {
        progress_host
            .poll(operations)
            .map(|_| Dynamic::from("ripcord-stop"))
    });

    let print_host = host.clone();
    engine.on_print(move |text| print_host.print(text));
    let debug_host = host.clone();
    engine.on_debug(move |text, source, pos| {
        let at = match (source, pos.line()) {
            (Some(s), Some(l)) => format!("{s}:{l}: "),
            _ => String::new(),
        };
        debug_host.out.note(&format!("{at}{text}"));
    });

    register_step(&mut engine);
    for m in modules {
        if m.name.is_empty() {
            engine.register_global_module(m.module.into());
        } else {
            engine.register_static_module(m.name, m.module.into());
        }
    }
    crate::cfg::register(&mut engine);
    engine.set_module_resolver(RelativeResolver::new(
        base_dir.to_path_buf(),
        host.limits.imports,
    ));
    engine.set_default_tag(Dynamic::from(crate::host::RunTag::new(host)));
    engine
}

/// Limits no stricter than stock Rhai's unless the operator asked. Rhai's string, array and map
/// size limits stay off: with any of them set Rhai re-measures a whole value after every call
/// that touches it, which makes `push` in a loop quadratic (memory is guarded by the host).
/// Rhai's own module count is off too: it counts `import` statements executed, not modules, so
/// an import inside a function called 300 times would pass it; the resolver counts modules.
fn apply_limits(engine: &mut Engine, limits: &Limits) {
    engine
        .set_max_operations(limits.operations.unwrap_or(0))
        .set_max_call_levels(limits.call_depth)
        .set_max_expr_depths(limits.expr_depth, limits.expr_depth / 2)
        .set_max_string_size(0)
        .set_max_array_size(0)
        .set_max_map_size(0)
        .set_max_modules(usize::MAX);
}

/// `step "name" { ... }`: a block that is the unit of progress, journal, resume and stepping.
/// `step` stays an ordinary identifier everywhere else (see `step_syntax`).
fn register_step(engine: &mut Engine) {
    #[allow(deprecated)] // volatile, not deprecated: rhai marks `on_parse_token` so
    engine.on_parse_token(|token, pos, _| crate::step_syntax::map_token(token, pos));
    engine.register_custom_syntax_with_state_raw(
        crate::step_syntax::KEY,
        |symbols, _, _| {
            Ok(match symbols.len() {
                1 => Some("$string$".into()),
                2 => Some("$block$".into()),
                _ => None,
            })
        },
        false,
        |ctx, inputs, _| eval_step(ctx, inputs),
    );
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
        let ast = compile(self.engine, code).map_err(|e| format!("syntax error: {e}"))?;
        match self.engine.eval_ast_with_scope::<Dynamic>(self.scope, &ast) {
            Ok(v) if v.is_unit() => Ok(String::new()),
            Ok(v) => Ok(format!("{v:?}")),
            Err(e) => Err(crate::error::message_of(&e)),
        }
    }
}

/// Compile script text: every compile goes through here, so `step` forms and a `#!` line are
/// understood the same way in runs, imports, `check` and the REPL.
pub fn compile(engine: &Engine, text: &str) -> Result<rhai::AST, rhai::ParseError> {
    crate::step_syntax::compile(engine, text)
}

/// Compile a script file with its path as the AST's source (errors and imports use it).
pub fn compile_file(
    engine: &Engine,
    path: &Path,
    text: &str,
) -> Result<rhai::AST, rhai::ParseError> {
    let mut ast = compile(engine, text)?;
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
