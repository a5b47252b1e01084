//! The REPL session: read with rustyline, evaluate in one persistent scope, show the result or
//! the error exactly as `ripcord run` renders it.
//!
//! Rhai evaluates each input as its own script, so the session carries three things across
//! inputs: the [`Scope`] (variables), an AST of every script function defined so far, and an AST
//! of every `import` that succeeded (Rhai drops imports when an evaluation ends; replaying the
//! statement is cheap because the module resolver caches the module).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use ripcord_runtime::error::{Diagnostic, SourceCache};
use ripcord_runtime::host::{Host, HostOptions, Stop};
use ripcord_runtime::output::{Output, use_color};
use ripcord_runtime::rhai::{AST, Dynamic, Engine, EvalAltResult, Module, Scope, Stmt};
use ripcord_runtime::run::eval_guarded;
use ripcord_runtime::secrets::Secrets;
use ripcord_runtime::{Catalog, Mode, NativeModule};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Editor, Helper};

use crate::complete::{Names, ReplHelper};
use crate::input::needs_more;
use crate::meta::{self, Command};

/// The source name errors in typed input point at.
const INPUT: &str = "<repl>";

/// What the REPL needs from the binary.
pub struct Options {
    /// The native modules; called once per engine (a dry-run engine is built on `:dry on`).
    pub modules: fn() -> Vec<NativeModule>,
    /// Set by the process's SIGINT handler: Ctrl-C while an input runs stops it.
    pub interrupt: Arc<AtomicBool>,
    /// The history file; `None` keeps history in memory only.
    pub history: Option<PathBuf>,
    /// Where `import` and `:load` resolve relative paths.
    pub base_dir: PathBuf,
}

/// Run the REPL until `:quit` or Ctrl-D; returns the exit code.
pub fn run(options: Options) -> i32 {
    let catalog = {
        let mut modules = vec![ripcord_runtime::builtins::module()];
        modules.extend((options.modules)());
        Catalog::from_modules(&modules)
    };
    let names: Names = Arc::new(Mutex::new(Vec::new()));
    let color = use_color();
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot start the line editor: {e}");
            return ripcord_runtime::run::exit::FAILED;
        }
    };
    editor.set_helper(Some(ReplHelper::new(catalog.clone(), names.clone(), color)));
    if let Some(path) = &options.history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A missing history file is the first session, not an error.
        let _ = editor.load_history(path);
    }
    let mut session = Session::new(options, catalog, names, color);
    eprintln!("ripcord repl: Rhai with the native modules; :help lists commands, Ctrl-D leaves");
    session.repl(&mut editor);
    0
}

/// One engine and host: the session has one for real changes and builds one for `:dry on`.
struct Runtime {
    engine: Engine,
    host: Arc<Host>,
}

struct Session {
    options: Options,
    catalog: Catalog,
    names: Names,
    color: bool,
    real: Runtime,
    dry: Option<Runtime>,
    dry_on: bool,
    scope: Scope<'static>,
    functions: AST,
    imports: AST,
    sources: SourceCache,
}

impl Session {
    fn new(options: Options, catalog: Catalog, names: Names, color: bool) -> Session {
        let real = Session::runtime(&options, Mode::Run);
        Session {
            options,
            catalog,
            names,
            color,
            real,
            dry: None,
            dry_on: false,
            scope: Scope::new(),
            functions: AST::empty(),
            imports: AST::empty(),
            sources: SourceCache::default(),
        }
    }

    fn runtime(options: &Options, mode: Mode) -> Runtime {
        let host_options = HostOptions {
            mode,
            interrupt: options.interrupt.clone(),
            ..Default::default()
        };
        let host = Arc::new(Host::new(host_options, Output::new(Secrets::default())));
        let mut modules = vec![ripcord_runtime::builtins::module()];
        modules.extend((options.modules)());
        let engine = ripcord_runtime::engine::build(modules, host.clone(), &options.base_dir);
        Runtime { engine, host }
    }

    fn current(&self) -> &Runtime {
        match (&self.dry, self.dry_on) {
            (Some(dry), true) => dry,
            _ => &self.real,
        }
    }

    fn prompt(&self) -> &'static str {
        if self.dry_on {
            "ripcord (dry)> "
        } else {
            "ripcord> "
        }
    }

    fn repl<H: Helper>(&mut self, editor: &mut Editor<H, FileHistory>) {
        while let Some(input) = self.read_input(editor) {
            let _ = editor.add_history_entry(input.trim_end());
            if let Some(path) = &self.options.history {
                let _ = editor.append_history(path);
            }
            if input.trim_start().starts_with(':') {
                match meta::parse(&input) {
                    Ok(Command::Quit) => return,
                    Ok(Command::History) => {
                        for (i, entry) in editor.history().iter().enumerate() {
                            println!("{:>5}  {entry}", i + 1);
                        }
                    }
                    Ok(command) => self.meta(command),
                    Err(message) => self.show(&Diagnostic::new(message)),
                }
                continue;
            }
            self.sources.insert(INPUT, &input);
            self.evaluate(&input, INPUT, None);
        }
    }

    /// Read one complete input: more lines while the parser says the input stops too early.
    /// `None` on Ctrl-D (or end of input) at the first line.
    fn read_input<H: Helper>(&self, editor: &mut Editor<H, FileHistory>) -> Option<String> {
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() { self.prompt() } else { "...> " };
            match editor.readline(prompt) {
                Ok(line) => {
                    if !buffer.is_empty() {
                        buffer.push('\n');
                    }
                    buffer.push_str(&line);
                }
                // Ctrl-C at the prompt cancels the input, not the REPL.
                Err(ReadlineError::Interrupted) => {
                    buffer.clear();
                    continue;
                }
                Err(ReadlineError::Eof) if buffer.is_empty() => return None,
                Err(ReadlineError::Eof) => return Some(buffer),
                Err(e) => {
                    eprintln!("cannot read input: {e}");
                    return None;
                }
            }
            if buffer.trim().is_empty() {
                buffer.clear();
                continue;
            }
            if buffer.trim_start().starts_with(':') {
                return Some(buffer);
            }
            match self.current().engine.compile(&buffer) {
                Err(e) if needs_more(&buffer, &e) => continue,
                _ => return Some(buffer),
            }
        }
    }

    fn meta(&mut self, command: Command) {
        match command {
            Command::Help => {
                println!("{}", meta::help());
                println!("\nmodules (:doc MODULE lists its functions; Tab completes):");
                for (name, summary) in self.catalog.modules.iter().filter(|(n, _)| !n.is_empty()) {
                    println!("  {name:<10}  {summary}");
                }
            }
            Command::Doc(item) => match crate::doc::render(&self.catalog, item.as_deref()) {
                Ok(text) => println!("{text}"),
                Err(message) => self.show(&Diagnostic::new(message)),
            },
            Command::Load(file) => {
                let path = self.options.base_dir.join(&file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let name = path.display().to_string();
                        self.sources.insert(&name, &text);
                        self.evaluate(&text, &name, Some(&path));
                    }
                    Err(e) => self.show(&Diagnostic::new(format!(
                        "cannot read {}: {e}",
                        path.display()
                    ))),
                }
            }
            Command::Dry(on) => {
                if on && self.dry.is_none() {
                    self.dry = Some(Session::runtime(&self.options, Mode::DryRun));
                }
                self.dry_on = on;
                eprintln!(
                    "{}",
                    if on {
                        "dry run: changes are printed and simulated, reads and probes run"
                    } else {
                        "changes are made"
                    }
                );
            }
            Command::History | Command::Quit => {}
        }
    }

    /// Compile and evaluate `text` with the session's functions, imports and scope.
    fn evaluate(&mut self, text: &str, source: &str, file: Option<&Path>) {
        let runtime = match (&self.dry, self.dry_on) {
            (Some(dry), true) => dry,
            _ => &self.real,
        };
        runtime.host.clear_stop();
        let compiled = match file {
            Some(path) => ripcord_runtime::engine::compile_file(&runtime.engine, path, text),
            None => runtime.engine.compile(text),
        };
        let ast = match compiled {
            Ok(ast) => ast,
            Err(e) => return self.show(&Diagnostic::from_parse(&e, source)),
        };
        let imports: Vec<Stmt> = ast
            .statements()
            .iter()
            .filter(|s| matches!(s, Stmt::Import(..)))
            .cloned()
            .collect();
        // Earlier imports first, then the functions so far (this input's override), then the input.
        let program = self.imports.merge(&self.functions.merge(&ast));
        let result = eval_guarded(&runtime.engine, &mut self.scope, &program);
        let stop = runtime.host.stop_reason();
        self.functions = self.functions.merge(&ast.clone_functions_only());
        match result {
            Ok(value) => {
                if !imports.is_empty() {
                    let mut kept = self.imports.clone();
                    kept.combine(AST::new(imports, Module::new()));
                    self.imports = kept;
                }
                if !value.is_unit() {
                    println!("{}", show_value(&value));
                }
            }
            Err(err) => {
                let d = diagnostic(&err, stop, source);
                self.show(&d);
            }
        }
        self.refresh_names();
    }

    fn show(&mut self, d: &Diagnostic) {
        eprintln!("{}", d.render(&mut self.sources, self.color));
    }

    /// Tell completion about the variables and functions defined so far.
    fn refresh_names(&self) {
        let mut names: Vec<String> = self
            .scope
            .iter_raw()
            .map(|(name, ..)| name.to_string())
            .chain(self.functions.iter_functions().map(|f| f.name.to_string()))
            .collect();
        names.sort();
        names.dedup();
        *self.names.lock().unwrap_or_else(|p| p.into_inner()) = names;
    }
}

/// The same words `ripcord run` uses for a stop, else the error itself.
fn diagnostic(err: &EvalAltResult, stop: Option<Stop>, source: &str) -> Diagnostic {
    match stop {
        Some(Stop::Aborted(m)) | Some(Stop::Locked(m)) => Diagnostic::new(m).at(source, err.position()),
        Some(Stop::Interrupted) => {
            Diagnostic::new("interrupted (Ctrl-C or SIGTERM); stopped at a safe point")
                .at(source, err.position())
        }
        Some(Stop::TimedOut(_)) | None => Diagnostic::from_eval(err, source),
    }
}

/// Strings with quotes, everything else as Rhai writes it.
fn show_value(value: &Dynamic) -> String {
    format!("{value:?}")
}
