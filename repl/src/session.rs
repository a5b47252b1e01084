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

use ripcord_runtime::config::Config;
use ripcord_runtime::error::{Diagnostic, SourceCache};
use ripcord_runtime::host::{Host, HostOptions, Stop, SubRunner};
use ripcord_runtime::output::Output;
use ripcord_runtime::rhai::{AST, Dynamic, Engine, EvalAltResult, Module, Scope, Stmt};
use ripcord_runtime::run::eval_guarded;
use ripcord_runtime::secrets::Secrets;
use ripcord_runtime::term::{self, Stream};
use ripcord_runtime::{Catalog, Mode, NativeModule};
use rustyline::config::{CompletionType, Config as EditorConfig};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Editor, Helper};

use crate::complete::{Names, ReplHelper};
use crate::input::is_incomplete;
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
    /// The `--config` file (default: `./ripcord.toml` if present), visible as `cfg`.
    pub config: Option<PathBuf>,
    /// Where `runbook::run` records its sub-runs (`None`: the default journal).
    pub journal: Option<PathBuf>,
    /// Where `runbook::run` finds runbooks by name.
    pub script_dirs: Vec<PathBuf>,
}

/// Run the REPL until `:quit` or Ctrl-D; returns the exit code.
pub fn run(options: Options) -> i32 {
    let catalog = Catalog::from_modules(&all_modules(options.modules));
    let names: Names = Arc::new(Mutex::new(Vec::new()));
    // Diagnostics go to stderr; the line editor (and its hints) draws on stdout.
    let color = term::colors(Stream::Stderr);
    let config = EditorConfig::builder()
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
    let (parser, _) = ripcord_runtime::engine::standalone(all_modules(options.modules), Mode::Run);
    editor.set_helper(Some(ReplHelper::new(
        catalog.clone(),
        names.clone(),
        term::colors(Stream::Stdout),
        std::rc::Rc::new(parser),
    )));
    if let Some(path) = &options.history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A missing history file is the first session, not an error.
        let _ = editor.load_history(path);
    }
    let mut session = match Session::new(options, catalog, names, color) {
        Ok(s) => s,
        Err(message) => {
            let mut sources = SourceCache::default();
            eprintln!(
                "{}",
                Diagnostic::from_text(message).render(&mut sources, color)
            );
            return ripcord_runtime::run::exit::USAGE;
        }
    };
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
    config: Config,
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
    fn new(
        options: Options,
        catalog: Catalog,
        names: Names,
        color: bool,
    ) -> Result<Session, String> {
        let config = Config::load(options.config.as_deref())?;
        let real = Session::runtime(&options, &config, Mode::Run);
        let mut scope = Scope::new();
        scope.push_dynamic("cfg", config.to_dynamic());
        Ok(Session {
            options,
            config,
            catalog,
            names,
            color,
            real,
            dry: None,
            dry_on: false,
            scope,
            functions: AST::empty(),
            imports: AST::empty(),
            sources: SourceCache::default(),
        })
    }

    fn runtime(options: &Options, config: &Config, mode: Mode) -> Runtime {
        let host_options = HostOptions {
            mode,
            config: config.value.clone(),
            interrupt: options.interrupt.clone(),
            ..Default::default()
        };
        let host = Arc::new(Host::new(host_options, Output::new(Secrets::default())));
        host.set_sub_runner(SubRunner {
            modules: options.modules,
            config: config.path.clone(),
            journal: options.journal.clone(),
            dirs: options.script_dirs.clone(),
            yes: false,
            interrupt: options.interrupt.clone(),
            prompter: None,
            limits: Vec::new(),
        });
        let engine = ripcord_runtime::engine::build(
            all_modules(options.modules),
            host.clone(),
            &options.base_dir,
        );
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
            // The history file outlives the session: no secret goes into it.
            let entry = self.real.host.secrets.redact(input.trim_end());
            let _ = editor.add_history_entry(entry.as_str());
            if let Some(path) = &self.options.history {
                let _ = editor.append_history(path);
            }
            if input.trim_start().starts_with(':') {
                match meta::parse(&input) {
                    Ok(Command::Quit) => return,
                    Ok(Command::History) => {
                        for (i, entry) in editor.history().iter().enumerate() {
                            println!("{:>5}  {}", i + 1, entry.replace('\n', "\n       "));
                        }
                    }
                    Ok(command) => self.meta(command),
                    Err(message) => self.show(&Diagnostic::from_text(message)),
                }
                continue;
            }
            self.sources.insert(INPUT, &input);
            self.evaluate(&input, INPUT, None);
        }
    }

    /// Read one complete input. On a terminal the helper's validator keeps an incomplete input
    /// in one edit buffer; without one (input piped in), more lines are read here while the
    /// parser says the input stops too early. `None` on Ctrl-D (or end of input) at the first
    /// line.
    fn read_input<H: Helper>(&self, editor: &mut Editor<H, FileHistory>) -> Option<String> {
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() {
                self.prompt()
            } else {
                "...> "
            };
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
            if !is_incomplete(&self.current().engine, &buffer) {
                return Some(buffer);
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
                Err(message) => self.show(&Diagnostic::from_text(message)),
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
                    self.dry = Some(Session::runtime(&self.options, &self.config, Mode::DryRun));
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

    /// Evaluate `text` and show its value or its error.
    fn evaluate(&mut self, text: &str, source: &str, file: Option<&Path>) {
        match self.eval(text, source, file) {
            Ok(value) if value.is_unit() => {}
            Ok(value) => println!("{}", show_value(&value)),
            Err(d) => self.show(&d),
        }
    }

    /// Compile and evaluate `text` with the session's functions, imports and scope.
    fn eval(
        &mut self,
        text: &str,
        source: &str,
        file: Option<&Path>,
    ) -> Result<Dynamic, Box<Diagnostic>> {
        let runtime = match (&self.dry, self.dry_on) {
            (Some(dry), true) => dry,
            _ => &self.real,
        };
        runtime.host.clear_stop();
        let compiled = match file {
            Some(path) => ripcord_runtime::engine::compile_file(&runtime.engine, path, text),
            None => ripcord_runtime::engine::compile(&runtime.engine, text),
        };
        let ast = compiled.map_err(|e| Box::new(Diagnostic::from_parse(&e, source)))?;
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
        self.refresh_names();
        match result {
            Ok(value) => {
                if !imports.is_empty() {
                    self.imports.combine(AST::new(imports, Module::new()));
                }
                Ok(value)
            }
            Err(err) => {
                if stop == Some(Stop::Interrupted) {
                    // The terminal echoed `^C` without a newline.
                    eprintln!();
                }
                Err(Box::new(diagnostic(&err, stop, source)))
            }
        }
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

/// The runtime's top-level functions, then the binary's modules.
fn all_modules(modules: fn() -> Vec<NativeModule>) -> Vec<NativeModule> {
    let mut all = vec![
        ripcord_runtime::builtins::module(),
        ripcord_runtime::call::module(),
    ];
    all.extend(modules());
    all
}

/// The same words `ripcord run` uses for a stop, else the error itself.
fn diagnostic(err: &EvalAltResult, stop: Option<Stop>, source: &str) -> Diagnostic {
    match stop {
        Some(Stop::Aborted(m)) | Some(Stop::Locked(m)) | Some(Stop::Unsafe(m)) => {
            Diagnostic::from_text(m).at(source, err.position())
        }
        Some(Stop::Interrupted) => {
            Diagnostic::new("interrupted (Ctrl-C or SIGTERM); stopped at a safe point")
                .at(source, err.position())
        }
        Some(Stop::Limit(m)) => Diagnostic::from_text(m),
        Some(Stop::OutputClosed) => Diagnostic::new("stopped: the output was closed"),
        Some(Stop::TimedOut(_)) | None => Diagnostic::from_eval(err, source),
    }
}

/// Strings with quotes, everything else as Rhai writes it.
fn show_value(value: &Dynamic) -> String {
    format!("{value:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(dir: &Path) -> Session {
        let options = Options {
            modules: Vec::new,
            interrupt: Arc::new(AtomicBool::new(false)),
            history: None,
            base_dir: dir.to_path_buf(),
            config: Some(dir.join("none.toml")).filter(|p| p.exists()),
            journal: Some(dir.join("journal.db")),
            script_dirs: Vec::new(),
        };
        Session::new(options, Catalog::default(), Names::default(), false).unwrap()
    }

    fn eval(s: &mut Session, text: &str) -> Result<String, String> {
        s.eval(text, INPUT, None)
            .map(|v| show_value(&v))
            .map_err(|d| d.message)
    }

    #[test]
    fn variables_functions_and_imports_persist_across_inputs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lib.rhai"), "fn twice(x) { x * 2 }\n").unwrap();
        let mut s = session(dir.path());
        assert_eq!(eval(&mut s, "40 + 2"), Ok("42".into()));
        assert_eq!(eval(&mut s, "let a = 5;"), Ok("()".into()));
        assert_eq!(
            eval(&mut s, "fn add(x, y) {\n    x + y\n}"),
            Ok("()".into())
        );
        assert_eq!(eval(&mut s, "add(a, 1)"), Ok("6".into()));
        assert_eq!(eval(&mut s, "import \"lib\" as lib;"), Ok("()".into()));
        assert_eq!(eval(&mut s, "lib::twice(a)"), Ok("10".into()));
        assert_eq!(eval(&mut s, "add(lib::twice(1), a)"), Ok("7".into()));
    }

    #[test]
    fn errors_name_the_input_and_a_failed_import_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path());
        assert!(eval(&mut s, "import \"missing\" as m;").is_err());
        assert_eq!(eval(&mut s, "1"), Ok("1".into()));
        let err = s.eval("nope(1)", INPUT, None).unwrap_err();
        assert_eq!(err.location().as_deref(), Some("<repl>:1:1"));
    }
}
