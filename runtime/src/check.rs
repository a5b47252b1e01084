//! `ripcord check`: find what would fail at run time without running anything.
//!
//! The script is compiled (never evaluated) and its syntax tree walked for calls to functions
//! that exist nowhere, calls with a number of arguments no overload takes, and variables that
//! are never defined. Imported script modules are compiled too, to know what they define.
//!
//! Variables are checked per body, soundly enough for runbooks: anything a `let`, `const`,
//! `for`, `catch` or `import` defines anywhere in the script's top level counts as defined there,
//! together with the header's params and `cfg`; a function body sees its own parameters and
//! locals and the script's top-level constants. Closures see what they capture.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rhai::{
    AST, ASTFlags, ASTNode, Engine, Expr, FnAccess, FnNamespace, Position, ScriptFuncDef, Stmt,
};

use crate::error::Diagnostic;
use crate::native::Catalog;

/// Variables the runner puts in every run's scope besides the declared params.
pub const RUNNER_VARIABLES: &[&str] = &["cfg"];

/// Functions the Rhai language itself provides, whatever the engine registers.
const LANGUAGE_FUNCTIONS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_def_var",
    "is_def_fn",
    "is_shared",
    "eval",
];

/// Check a script file; an unreadable file is one diagnostic.
pub fn check_file(engine: &Engine, catalog: &Catalog, path: &Path) -> Vec<Diagnostic> {
    match std::fs::read_to_string(path) {
        Ok(text) => check_script(engine, catalog, path, &text),
        Err(e) => vec![
            Diagnostic::new(format!("cannot read {}: {e}", path.display()))
                .help("check the path; `ripcord check` takes script files and folders of them"),
        ],
    }
}

/// Check one script's text; `path` names it in diagnostics and anchors its imports.
/// The diagnostics come sorted by line and column.
pub fn check_script(
    engine: &Engine,
    catalog: &Catalog,
    path: &Path,
    text: &str,
) -> Vec<Diagnostic> {
    let source = path.display().to_string();
    let (header, header_errors) = crate::header::parse_lenient(text);
    let mut diagnostics: Vec<Diagnostic> = header_errors
        .iter()
        .map(|e| e.diagnostic(&source))
        .chain(
            header
                .warnings
                .iter()
                .map(|w| w.diagnostic(&source).warning()),
        )
        .collect();
    match crate::engine::compile_file(engine, path, text) {
        Ok(ast) => {
            let known = Known::new(engine, catalog);
            let params: Vec<String> = header.params.iter().map(|p| p.name.clone()).collect();
            let checker = Checker {
                engine,
                catalog,
                known: &known,
                source: &source,
            };
            diagnostics.extend(checker.check(&ast, &params));
            diagnostics.extend(crate::lint::lint(&ast, &header.params, catalog, &source));
        }
        Err(e) => diagnostics.push(Diagnostic::from_parse(&e, &source)),
    }
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics
}

/// Every function callable without a script: arities by name, globally and per module.
struct Known {
    /// Unqualified names -> arities (with a signature per arity, for messages).
    global: BTreeMap<String, Vec<(usize, String)>>,
    /// Module -> name -> arities.
    modules: BTreeMap<String, BTreeMap<String, Vec<(usize, String)>>>,
}

impl Known {
    fn new(engine: &Engine, catalog: &Catalog) -> Self {
        let mut known = Known {
            global: BTreeMap::new(),
            modules: BTreeMap::new(),
        };
        // The catalog first: its signatures name the return type, which messages show.
        for (module, _) in &catalog.modules {
            known.modules.entry(module.to_string()).or_default();
        }
        for f in &catalog.functions {
            for signature in &f.signatures {
                let shown = if f.module.is_empty() {
                    signature.clone()
                } else {
                    format!("{}::{signature}", f.module)
                };
                known.add(f.module, f.name, arity_of(signature), shown);
            }
        }
        let entries = engine.collect_fn_metadata(
            None,
            |info| {
                let m = info.metadata;
                let global = info.namespace.is_empty() || m.namespace == FnNamespace::Global;
                let signature = m.gen_signature(|s| s.into());
                Some((
                    info.namespace.to_string(),
                    global,
                    m.name.to_string(),
                    m.num_params,
                    signature,
                ))
            },
            true,
        );
        for (namespace, global, name, arity, signature) in entries {
            if !namespace.is_empty() {
                let qualified = format!("{namespace}::{signature}");
                known.add(&namespace, &name, arity, qualified);
            }
            if global {
                known.add("", &name, arity, signature);
            }
        }
        known
    }

    fn add(&mut self, module: &str, name: &str, arity: usize, signature: String) {
        let table = if module.is_empty() {
            &mut self.global
        } else {
            self.modules.entry(module.to_string()).or_default()
        };
        let arities = table.entry(name.to_string()).or_default();
        if !arities.iter().any(|(a, _)| *a == arity) {
            arities.push((arity, signature));
        }
    }
}

/// Number of parameters in a catalog signature such as `write(path: String, content: String) -> ()`.
fn arity_of(signature: &str) -> usize {
    let head = signature.split_once(" -> ").map_or(signature, |(h, _)| h);
    let inner = match (head.find('('), head.rfind(')')) {
        (Some(open), Some(close)) if open < close => &head[open + 1..close],
        _ => "",
    };
    if inner.trim().is_empty() {
        0
    } else {
        inner.split(',').count()
    }
}

/// What one body (the script's top level, or one function) defines and uses.
#[derive(Default)]
struct Body {
    defined: BTreeSet<String>,
    constants: BTreeSet<String>,
    uses: Vec<(String, Position)>,
    calls: Vec<Call>,
    imports: Vec<Import>,
}

struct Call {
    namespace: Vec<String>,
    name: String,
    arity: usize,
    pos: Position,
}

struct Import {
    path: String,
    alias: String,
    pos: Position,
}

/// What an imported script module offers: its public functions and their arities.
enum ModuleInfo {
    Functions(BTreeMap<String, Vec<usize>>, PathBuf),
    /// Missing or broken; already reported at the import.
    Unavailable,
}

struct Checker<'a> {
    engine: &'a Engine,
    catalog: &'a Catalog,
    known: &'a Known,
    source: &'a str,
}

impl Checker<'_> {
    fn check(&self, ast: &AST, params: &[String]) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let main = top_level(ast);
        let functions: Vec<&ScriptFuncDef> = ast.iter_fn_def().map(|f| &**f).collect();
        let bodies: Vec<Body> = functions.iter().map(|f| function_body(ast, f)).collect();
        let mut script_fns: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for f in &functions {
            script_fns
                .entry(f.name.to_string())
                .or_default()
                .push(f.params.len());
        }
        let modules = self.load_modules(&main, &bodies, &mut out);
        let names = Names {
            params,
            script_fns: &script_fns,
            modules: &modules,
        };
        self.check_top_level(&main, &names, &mut out);
        for (f, body) in functions.iter().zip(&bodies) {
            self.check_function(f, body, &main, &names, &mut out);
        }
        out
    }

    /// Imports anywhere in the file, resolved once per alias.
    fn load_modules(
        &self,
        main: &Body,
        bodies: &[Body],
        out: &mut Vec<Diagnostic>,
    ) -> HashMap<String, ModuleInfo> {
        let mut modules: HashMap<String, ModuleInfo> = HashMap::new();
        for import in main
            .imports
            .iter()
            .chain(bodies.iter().flat_map(|b| b.imports.iter()))
        {
            if import.alias.is_empty() || modules.contains_key(&import.alias) {
                continue;
            }
            let info = self.load_module(import, out);
            modules.insert(import.alias.clone(), info);
        }
        modules
    }

    /// The top level sees its own variables, the params, the runner's variables and every
    /// script function.
    fn check_top_level(&self, main: &Body, names: &Names<'_>, out: &mut Vec<Diagnostic>) {
        let mut visible: BTreeSet<String> = main.defined.clone();
        visible.extend(names.params.iter().cloned());
        visible.extend(RUNNER_VARIABLES.iter().map(|s| s.to_string()));
        visible.extend(names.script_fns.keys().cloned());
        for (name, pos) in &main.uses {
            if visible.contains(name) {
                continue;
            }
            let d = Diagnostic::new(format!("undefined variable `{name}`")).at(self.source, *pos);
            let help = match nearest(name, visible.iter().map(String::as_str)) {
                Some(near) => format!(
                    "did you mean `{near}`? If not, declare it in the header: `//! @param {name}: ...`, or define it with `let`"
                ),
                None => format!(
                    "declare it in the header: `//! @param {name}: ...`, or define it with `let`"
                ),
            };
            out.push(d.help(help));
        }
        for call in &main.calls {
            self.check_call(call, &visible, names.script_fns, names.modules, out);
        }
    }

    /// A function body sees its own parameters and locals, and the top level's constants.
    fn check_function(
        &self,
        f: &ScriptFuncDef,
        body: &Body,
        main: &Body,
        names: &Names<'_>,
        out: &mut Vec<Diagnostic>,
    ) {
        let mut visible: BTreeSet<String> = body.defined.clone();
        visible.extend(f.params.iter().map(|p| p.to_string()));
        visible.extend(main.constants.iter().cloned());
        visible.extend(names.script_fns.keys().cloned());
        for (name, pos) in &body.uses {
            if visible.contains(name) {
                continue;
            }
            let place = if f.name.starts_with("anon$") {
                "a closure".to_string()
            } else {
                format!("function `{}`", f.name)
            };
            let d = Diagnostic::new(format!("undefined variable `{name}` in {place}"))
                .at(self.source, *pos);
            let outside = main.defined.contains(name)
                || names.params.contains(name)
                || RUNNER_VARIABLES.contains(&name.as_str());
            let help = if outside {
                format!(
                    "a function sees only its own parameters and the script's constants: pass `{name}` in as an argument"
                )
            } else {
                match nearest(name, visible.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean `{near}`? If not, define it with `let`"),
                    None => "define it with `let`, or pass it in as an argument".to_string(),
                }
            };
            out.push(d.help(help));
        }
        for call in &body.calls {
            self.check_call(call, &visible, names.script_fns, names.modules, out);
        }
    }

    /// Compile an imported module to learn its functions; report what stops it from loading.
    fn load_module(&self, import: &Import, out: &mut Vec<Diagnostic>) -> ModuleInfo {
        let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let file = crate::resolver::locate(&base, Some(self.source), &import.path);
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                out.push(
                    Diagnostic::new(format!(
                        "cannot load module `{}`: cannot read {}: {e}",
                        import.path,
                        file.display()
                    ))
                    .at(self.source, import.pos)
                    .help("imports resolve relative to the importing file; check the path"),
                );
                return ModuleInfo::Unavailable;
            }
        };
        match crate::engine::compile_file(self.engine, &file, &text) {
            Ok(ast) => {
                let mut chain = vec![canonical(Path::new(self.source))];
                if let Some(cycle) =
                    find_cycle(self.engine, &mut chain, &file, &mut Default::default())
                {
                    out.push(
                        Diagnostic::new(format!("import cycle: {cycle}"))
                            .at(self.source, import.pos)
                            .help("modules cannot import each other; move what both need into a third module"),
                    );
                    return ModuleInfo::Unavailable;
                }
                let mut fns: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                for f in ast.iter_fn_def().filter(|f| f.access != FnAccess::Private) {
                    fns.entry(f.name.to_string())
                        .or_default()
                        .push(f.params.len());
                }
                ModuleInfo::Functions(fns, file)
            }
            Err(e) => {
                let inner = Diagnostic::from_parse(&e, &file.display().to_string());
                let at = inner
                    .location()
                    .unwrap_or_else(|| file.display().to_string());
                out.push(
                    Diagnostic::new(format!(
                        "module `{}` does not compile: {}",
                        import.path, inner.message
                    ))
                    .at(self.source, import.pos)
                    .note(format!("at {at}"))
                    .help(format!("run `ripcord check {}`", file.display())),
                );
                ModuleInfo::Unavailable
            }
        }
    }

    fn check_call(
        &self,
        call: &Call,
        variables: &BTreeSet<String>,
        script_fns: &BTreeMap<String, Vec<usize>>,
        modules: &HashMap<String, ModuleInfo>,
        out: &mut Vec<Diagnostic>,
    ) {
        let name = call.name.as_str();
        if !rhai::is_valid_identifier(name) {
            return; // operators
        }
        let Some(root) = call.namespace.first() else {
            if let Some(d) = self.check_plain_call(call, variables, script_fns) {
                out.push(d);
            }
            return;
        };
        if call.namespace.len() > 1 || root == "global" {
            return; // nested module paths and `global::` are left to the run
        }
        let found = match (modules.get(root), self.known.modules.get(root)) {
            (Some(ModuleInfo::Functions(fns, file)), _) => script_module(root, fns, file),
            (Some(ModuleInfo::Unavailable), _) => return,
            (None, Some(fns)) => native_module(root, fns),
            (None, None) => {
                out.push(self.unknown_module(call, root, modules));
                return;
            }
        };
        if let Some(d) = self.check_module_call(call, root, &found) {
            out.push(d);
        }
    }

    /// A call without a module path: a script function, a native in the global namespace, or
    /// a function pointer held in a variable.
    fn check_plain_call(
        &self,
        call: &Call,
        variables: &BTreeSet<String>,
        script_fns: &BTreeMap<String, Vec<usize>>,
    ) -> Option<Diagnostic> {
        let name = call.name.as_str();
        if LANGUAGE_FUNCTIONS.contains(&name)
            || variables.contains(name) && !script_fns.contains_key(name)
        {
            return None; // a keyword, or a function pointer held in a variable
        }
        let script = script_fns.get(name);
        let native = self.known.global.get(name);
        if script.is_none() && native.is_none() {
            let candidates = script_fns
                .keys()
                .map(String::as_str)
                .chain(self.known.global.keys().map(String::as_str));
            let help = if let Some(near) = nearest(name, candidates) {
                format!("did you mean `{near}`?")
            } else if let Some(module) = self.module_defining(name) {
                format!("did you mean `{module}::{name}`?")
            } else {
                "define it with `fn`, or see `ripcord doc` for the native functions".to_string()
            };
            return Some(
                self.at(call, format!("unknown function `{name}`"))
                    .help(help),
            );
        }
        let takes = script.is_some_and(|a| a.contains(&call.arity))
            || native.is_some_and(|a| a.iter().any(|(x, _)| *x == call.arity));
        if takes {
            return None;
        }
        let mut signatures: Vec<String> = native
            .map(|a| a.iter().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default();
        if let Some(arities) = script {
            signatures.extend(arities.iter().map(|n| format!("fn {name}({n} parameters)")));
        }
        Some(arity_error(
            self.at(call, String::new()),
            name,
            call.arity,
            &signatures,
        ))
    }

    /// A call of `root::name` against what the module `root` (script or native) defines.
    fn check_module_call(
        &self,
        call: &Call,
        root: &str,
        module: &Module<'_>,
    ) -> Option<Diagnostic> {
        let name = call.name.as_str();
        let qualified = format!("{root}::{name}");
        let Some(overloads) = module.functions.get(name) else {
            let help = match nearest(name, module.functions.keys().map(String::as_str)) {
                Some(near) => format!("did you mean `{root}::{near}`?"),
                None => module.lists.clone(),
            };
            return Some(
                self.at(call, format!("unknown function `{qualified}`"))
                    .help(help),
            );
        };
        if overloads.iter().any(|(n, _)| *n == call.arity) {
            return None;
        }
        let signatures: Vec<String> = overloads.iter().map(|(_, s)| s.clone()).collect();
        Some(arity_error(
            self.at(call, String::new()),
            &qualified,
            call.arity,
            &signatures,
        ))
    }

    /// `root::name` where no module `root` is imported or native.
    fn unknown_module(
        &self,
        call: &Call,
        root: &str,
        modules: &HashMap<String, ModuleInfo>,
    ) -> Diagnostic {
        let name = call.name.as_str();
        let mut names: Vec<&str> = self.known.modules.keys().map(String::as_str).collect();
        names.extend(modules.keys().map(String::as_str));
        let d = self.at(
            call,
            format!("unknown function `{root}::{name}`: there is no module `{root}`"),
        );
        match nearest(root, names.iter().copied()) {
            Some(near) => d.help(format!("did you mean `{near}::{name}`?")),
            None => d.help(format!(
                "the native modules are {}; for a script module, `import \"path\" as {root};`",
                self.catalog
                    .modules
                    .iter()
                    .filter(|(m, _)| !m.is_empty())
                    .map(|(m, _)| *m)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    fn at(&self, call: &Call, message: String) -> Diagnostic {
        Diagnostic::from_text(message).at(self.source, call.pos)
    }

    /// A native module with a function of this name, for "did you mean `fs::write`?".
    fn module_defining(&self, name: &str) -> Option<&str> {
        self.catalog
            .functions
            .iter()
            .find(|f| !f.module.is_empty() && f.name == name)
            .map(|f| f.module)
    }
}

/// The names a script defines outside any one scope.
struct Names<'a> {
    params: &'a [String],
    script_fns: &'a BTreeMap<String, Vec<usize>>,
    modules: &'a HashMap<String, ModuleInfo>,
}

/// The top level's statements, with its constants.
fn top_level(ast: &AST) -> Body {
    let mut main = collect(|visit| {
        for stmt in ast.statements() {
            stmt.walk(&mut Vec::new(), visit);
        }
    });
    for stmt in ast.statements() {
        if let Stmt::Var(x, flags, _) = stmt
            && flags.contains(ASTFlags::CONSTANT)
        {
            main.constants.insert(x.0.name.to_string());
        }
    }
    main
}

/// One function's body. (Rhai's `clone_functions_only_filtered` ignores its filter when cloning
/// into an empty module, so retain instead: an AST holding one function walks just its body.)
fn function_body(ast: &AST, f: &ScriptFuncDef) -> Body {
    let (name, arity) = (f.name.as_str(), f.params.len());
    let mut only = ast.clone_functions_only();
    only.retain_functions(|_, _, n, a| n == name && a == arity);
    collect(|visit| {
        only.walk(visit);
    })
}

fn arity_error(d: Diagnostic, name: &str, given: usize, signatures: &[String]) -> Diagnostic {
    let plural = if given == 1 { "" } else { "s" };
    let mut d = Diagnostic {
        message: format!("`{name}` does not take {given} argument{plural}"),
        ..d
    };
    for s in signatures {
        d = d.note(format!("signature: {s}"));
    }
    d.help(format!("see `ripcord doc {name}`"))
}

/// What a module offers a call: each function's overloads as (arity, signature), and what to
/// say when a name is not among them and none is close.
struct Module<'a> {
    functions: Cow<'a, BTreeMap<String, Vec<(usize, String)>>>,
    lists: String,
}

/// An imported script module as [`Module`].
fn script_module(root: &str, fns: &BTreeMap<String, Vec<usize>>, file: &Path) -> Module<'static> {
    let functions = fns
        .iter()
        .map(|(name, arities)| {
            let overloads = arities
                .iter()
                .map(|n| {
                    let signature =
                        format!("fn {root}::{name}({n} parameters) in {}", file.display());
                    (*n, signature)
                })
                .collect();
            (name.clone(), overloads)
        })
        .collect();
    let lists = if fns.is_empty() {
        format!("{} defines no public functions", file.display())
    } else {
        let names: Vec<&str> = fns.keys().map(String::as_str).collect();
        format!("{} defines: {}", file.display(), names.join(", "))
    };
    Module {
        functions: Cow::Owned(functions),
        lists,
    }
}

/// A native module as [`Module`].
fn native_module<'a>(root: &str, fns: &'a BTreeMap<String, Vec<(usize, String)>>) -> Module<'a> {
    Module {
        functions: Cow::Borrowed(fns),
        lists: format!("`ripcord doc {root}` lists the functions of `{root}`"),
    }
}

/// The first import cycle among the static imports of a compiled script: the cycle and the
/// script's import that leads into it. `run` refuses such a script before running anything.
pub fn import_cycle(engine: &Engine, path: &Path, ast: &AST) -> Option<(String, Position)> {
    let body = collect(|visit| {
        ast.walk(visit);
    });
    let source = path.display().to_string();
    let base = path.parent().unwrap_or(Path::new("."));
    let mut explored = BTreeSet::new();
    body.imports.iter().find_map(|import| {
        let mut chain = vec![canonical(path)];
        let next = crate::resolver::locate(base, Some(&source), &import.path);
        find_cycle(engine, &mut chain, &next, &mut explored).map(|c| (c, import.pos))
    })
}

/// The import cycle reached from `file` while `chain` (outermost first) is being imported, as
/// `a.rhai -> b.rhai -> a.rhai`. Files already explored without finding one are not walked again.
fn find_cycle(
    engine: &Engine,
    chain: &mut Vec<PathBuf>,
    file: &Path,
    explored: &mut BTreeSet<PathBuf>,
) -> Option<String> {
    let key = canonical(file);
    if let Some(cycle) = crate::resolver::cycle_through(chain, &key) {
        return Some(cycle);
    }
    if !explored.insert(key.clone()) {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let ast = crate::engine::compile_file(engine, file, &text).ok()?;
    let body = collect(|visit| {
        ast.walk(visit);
    });
    let source = file.display().to_string();
    chain.push(key);
    let base = file.parent().unwrap_or(Path::new("."));
    let found = body.imports.iter().find_map(|import| {
        let next = crate::resolver::locate(base, Some(&source), &import.path);
        find_cycle(engine, chain, &next, explored)
    });
    chain.pop();
    found
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Walk one body, recording definitions, variable uses, calls and imports.
fn collect(walk: impl FnOnce(&mut dyn FnMut(&[ASTNode]) -> bool)) -> Body {
    let mut body = Body::default();
    walk(&mut |nodes: &[ASTNode]| {
        match nodes.last() {
            Some(ASTNode::Stmt(stmt)) => visit_stmt(stmt, &mut body),
            Some(ASTNode::Expr(expr)) => visit_expr(expr, &mut body),
            _ => {}
        }
        true
    });
    body
}

fn visit_stmt(stmt: &Stmt, body: &mut Body) {
    match stmt {
        Stmt::Var(x, ..) => {
            body.defined.insert(x.0.name.to_string());
        }
        Stmt::For(x, ..) => {
            body.defined.insert(x.0.name.to_string());
            if let Some(counter) = &x.1 {
                body.defined.insert(counter.name.to_string());
            }
        }
        Stmt::TryCatch(x, ..) => {
            if let Expr::Variable(v, ..) = &x.expr {
                body.defined.insert(v.1.to_string());
            }
        }
        Stmt::Import(x, pos) => {
            body.defined.insert(x.1.name.to_string());
            if let Expr::StringConstant(path, _) = &x.0 {
                body.imports.push(Import {
                    path: path.to_string(),
                    alias: x.1.name.to_string(),
                    pos: *pos,
                });
            }
        }
        Stmt::FnCall(call, pos) => record_call(call, *pos, body),
        _ => {}
    }
}

fn visit_expr(expr: &Expr, body: &mut Body) {
    match expr {
        Expr::Variable(v, _, pos) if v.2.is_empty() => body.uses.push((v.1.to_string(), *pos)),
        Expr::FnCall(call, pos) => record_call(call, *pos, body),
        _ => {}
    }
}

fn record_call(call: &rhai::FnCallExpr, pos: Position, body: &mut Body) {
    if call.op_token.is_some() {
        return;
    }
    // A qualified call is shown from its module name (`fs::wirte`), not from the function name.
    let pos = if call.namespace.is_empty() {
        pos
    } else {
        call.namespace.position()
    };
    body.calls.push(Call {
        namespace: call
            .namespace
            .path
            .iter()
            .map(|i| i.name.to_string())
            .collect(),
        name: call.name.to_string(),
        arity: call.args.len(),
        pos,
    });
}

/// The candidate closest to `name` by edit distance, if close enough to be a likely typo.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = name.chars().count().div_ceil(3);
    candidates
        .into_iter()
        .filter(|c| *c != name && !c.contains('$'))
        .map(|c| (strsim::osa_distance(name, c), c))
        .filter(|(d, _)| *d <= limit.max(1))
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decl, Effect, Mode, NativeModule};

    fn write(_path: &str, _content: &str) {}
    fn read(_path: &str) -> String {
        String::new()
    }
    fn sh(_cmd: &str) -> rhai::INT {
        0
    }

    fn modules() -> Vec<NativeModule> {
        let mut fs = NativeModule::new("fs", "Files");
        let decl = Decl {
            name: "write",
            effect: Effect::Change,
            params: &["path: String", "content: String", "()"],
            doc: "Write a file.",
            example: r#"fs::write("a", "b");"#,
        };
        fs.function(decl, write);
        let decl = Decl {
            name: "read",
            effect: Effect::Read,
            params: &["path: String", "String"],
            doc: "Read a file.",
            example: r#"fs::read("a")"#,
        };
        fs.function(decl, read);
        let mut top = NativeModule::new("", "Top level");
        let decl = Decl {
            name: "sh",
            effect: Effect::Change,
            params: &["cmd: String", "int"],
            doc: "Run a command.",
            example: r#"sh("true")"#,
        };
        top.function(decl, sh);
        vec![fs, top]
    }

    struct Fixture {
        dir: tempfile::TempDir,
        engine: Engine,
        catalog: Catalog,
    }

    impl Fixture {
        fn new() -> Self {
            let catalog = Catalog::from_modules(&modules());
            let (engine, _host) = crate::engine::standalone(modules(), Mode::DryRun);
            Fixture {
                dir: tempfile::tempdir().expect("temp dir"),
                engine,
                catalog,
            }
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&path, text).expect("write");
            path
        }

        fn check(&self, name: &str, text: &str) -> Vec<Diagnostic> {
            let path = self.write(name, text);
            check_file(&self.engine, &self.catalog, &path)
        }

        fn at(&self, name: &str, line: usize, col: usize) -> String {
            format!("{}:{line}:{col}", self.dir.path().join(name).display())
        }
    }

    fn messages(ds: &[Diagnostic]) -> Vec<String> {
        ds.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn a_clean_runbook_has_no_findings() {
        let f = Fixture::new();
        let text = r#"//! Clean.
//! @param target: where to
//! @param n = 3: how many
const LIMIT = 10;
let total = 0;
step "Write" {
    let body = fs::read(`${cfg.dir}/${target}`);
    for (x, i) in [1, 2, n] { total += x + i; }
    try { sh("true"); } catch (err) { print(err); }
    fs::write(target, body + helper(total));
    let f = |y| y + total;
    debug(f.call(1));
    print(type_of(f) + body.len() + `${LIMIT}`);
}
fn helper(v) { v + LIMIT + max(v, 2) }
"#;
        let ds = f.check("clean.rhai", text);
        assert!(ds.is_empty(), "{ds:#?}");
    }

    #[test]
    fn a_misspelt_native_is_flagged_with_a_suggestion() {
        let f = Fixture::new();
        let ds = f.check("t.rhai", "let a = 1;\n\nfs::wirte(\"a\", \"b\");\n");
        assert_eq!(messages(&ds), ["unknown function `fs::wirte`"]);
        assert_eq!(ds[0].location(), Some(f.at("t.rhai", 3, 1)));
        assert_eq!(ds[0].help.as_deref(), Some("did you mean `fs::write`?"));
    }

    #[test]
    fn unknown_modules_and_global_functions_are_flagged() {
        let f = Fixture::new();
        let ds = f.check(
            "t.rhai",
            "fz::write(\"a\", \"b\");\nshh(\"ls\");\nfrobnicate();\nwrite(\"a\", \"b\");\n",
        );
        assert_eq!(
            messages(&ds),
            [
                "unknown function `fz::write`: there is no module `fz`",
                "unknown function `shh`",
                "unknown function `frobnicate`",
                "unknown function `write`",
            ]
        );
        assert_eq!(ds[0].help.as_deref(), Some("did you mean `fs::write`?"));
        assert_eq!(ds[1].help.as_deref(), Some("did you mean `sh`?"));
        assert_eq!(ds[3].help.as_deref(), Some("did you mean `fs::write`?"));
        assert_eq!(ds[2].location(), Some(f.at("t.rhai", 3, 1)));
    }

    #[test]
    fn wrong_arity_lists_the_signatures() {
        let f = Fixture::new();
        let ds = f.check("t.rhai", "fs::write(\"a\");\nsh(\"a\", 1);\n");
        assert_eq!(
            messages(&ds),
            [
                "`fs::write` does not take 1 argument",
                "`sh` does not take 2 arguments"
            ]
        );
        assert!(
            ds[0]
                .notes
                .iter()
                .any(|n| n == "signature: fs::write(path: String, content: String) -> ()"),
            "{:?}",
            ds[0].notes
        );
        assert!(
            ds[1]
                .notes
                .iter()
                .any(|n| n.contains("sh(cmd: String) -> int")),
            "{:?}",
            ds[1].notes
        );
    }

    #[test]
    fn undefined_variable_inside_a_step_block() {
        let f = Fixture::new();
        let ds = f.check(
            "t.rhai",
            "//! Steps.\nstep \"x\" {\n    undefined_var + 1\n}\n",
        );
        assert_eq!(messages(&ds), ["undefined variable `undefined_var`"]);
        assert_eq!(ds[0].location(), Some(f.at("t.rhai", 3, 5)));
    }

    #[test]
    fn params_in_the_header_are_defined_and_others_get_the_header_hint() {
        let f = Fixture::new();
        let ds = f.check(
            "t.rhai",
            "//! Roll back.\n//! @param target: commit\nprint(target);\nprint(reason);\n",
        );
        assert_eq!(messages(&ds), ["undefined variable `reason`"]);
        assert_eq!(
            ds[0].help.as_deref(),
            Some("declare it in the header: `//! @param reason: ...`, or define it with `let`")
        );
        let ds = f.check("u.rhai", "//! @param target: commit\nprint(tagret);\n");
        assert_eq!(
            ds[0]
                .help
                .as_deref()
                .map(|h| h.starts_with("did you mean `target`?")),
            Some(true)
        );
    }

    #[test]
    fn functions_see_only_their_own_variables() {
        let f = Fixture::new();
        let text = "//! @param target: t\nconst LIMIT = 1;\nlet local = 2;\nwork(1);\nfn work(a) {\n    a + LIMIT + local + target\n}\n";
        let ds = f.check("t.rhai", text);
        assert_eq!(
            messages(&ds),
            [
                "undefined variable `local` in function `work`",
                "undefined variable `target` in function `work`"
            ]
        );
        assert!(
            ds[0]
                .help
                .as_deref()
                .unwrap_or("")
                .contains("pass `local` in as an argument")
        );
        assert_eq!(ds[1].location(), Some(f.at("t.rhai", 6, 25)));
    }

    #[test]
    fn script_functions_may_be_defined_below_their_use() {
        let f = Fixture::new();
        let ds = f.check("t.rhai", "step \"a\" { later(1); }\nfn later(x) { x }\n");
        assert!(ds.is_empty(), "{ds:#?}");
        let ds = f.check("u.rhai", "later(1, 2);\nfn later(x) { x }\n");
        assert_eq!(messages(&ds), ["`later` does not take 2 arguments"]);
    }

    #[test]
    fn imported_modules_are_compiled_to_know_their_functions() {
        let f = Fixture::new();
        f.write(
            "lib/helpers.rhai",
            "fn deploy() { 1 }\nfn stop(x) { x }\nprivate fn hidden() { 2 }\n",
        );
        let ds = f.check(
            "ok.rhai",
            "import \"lib/helpers\" as h;\nh::deploy();\nh::stop(1);\n",
        );
        assert!(ds.is_empty(), "{ds:#?}");

        let ds = f.check(
            "bad.rhai",
            "import \"lib/helpers\" as h;\nh::deplyo();\nh::hidden();\nh::stop();\n",
        );
        assert_eq!(
            messages(&ds),
            [
                "unknown function `h::deplyo`",
                "unknown function `h::hidden`",
                "`h::stop` does not take 0 arguments"
            ]
        );
        assert_eq!(ds[0].help.as_deref(), Some("did you mean `h::deploy`?"));
        assert_eq!(ds[0].location(), Some(f.at("bad.rhai", 2, 1)));

        let ds = f.check(
            "missing.rhai",
            "import \"lib/nothing\" as n;\nn::deploy();\n",
        );
        assert_eq!(ds.len(), 1, "{ds:#?}");
        assert!(
            ds[0]
                .message
                .starts_with("cannot load module `lib/nothing`: cannot read "),
            "{}",
            ds[0].message
        );

        f.write("lib/broken.rhai", "fn deploy( { }\n");
        let ds = f.check("broken.rhai", "import \"lib/broken\" as b;\nb::deploy();\n");
        assert_eq!(ds.len(), 1, "{ds:#?}");
        assert!(
            ds[0]
                .message
                .starts_with("module `lib/broken` does not compile: syntax error"),
            "{}",
            ds[0].message
        );
    }

    #[test]
    fn a_syntax_error_is_one_diagnostic_with_its_line() {
        let f = Fixture::new();
        let ds = f.check(
            "t.rhai",
            "//! Broken.\nlet a = 1;\nlet b = (a + ;\nundefined_thing();\n",
        );
        assert_eq!(ds.len(), 1, "{ds:#?}");
        assert!(
            ds[0].message.starts_with("syntax error"),
            "{}",
            ds[0].message
        );
        assert_eq!(ds[0].line, Some(3));
    }

    #[test]
    fn header_errors_are_reported_with_their_position() {
        let f = Fixture::new();
        let ds = f.check(
            "t.rhai",
            "//! Summary\n//! @param 1x: bad\n//! @rto soon\nlet a = 1;\n",
        );
        assert_eq!(ds.len(), 2, "{ds:#?}");
        assert_eq!(ds[0].location(), Some(f.at("t.rhai", 2, 12)));
        assert_eq!(ds[1].line, Some(3));
    }

    #[test]
    fn nothing_is_evaluated() {
        let f = Fixture::new();
        let marker = f.dir.path().join("ran");
        f.write(
            "lib/side.rhai",
            &format!(
                "fn deploy() {{ 1 }}\nfs::write(\"{}\", \"x\");\n",
                marker.display()
            ),
        );
        let ds = f.check(
            "t.rhai",
            &format!(
                "import \"lib/side\" as s;\nfs::write(\"{}\", \"x\");\ns::deploy();\n",
                marker.display()
            ),
        );
        assert!(ds.is_empty(), "{ds:#?}");
        assert!(!marker.exists());
    }

    #[test]
    fn an_unreadable_file_is_one_diagnostic() {
        let f = Fixture::new();
        let ds = check_file(&f.engine, &f.catalog, &f.dir.path().join("nope.rhai"));
        assert_eq!(ds.len(), 1);
        assert!(ds[0].message.starts_with("cannot read "));
    }

    #[test]
    fn nearest_prefers_the_closest_name() {
        assert_eq!(nearest("wirte", ["write", "read", "remove"]), Some("write"));
        assert_eq!(nearest("xyz", ["write", "read"]), None);
    }
}
