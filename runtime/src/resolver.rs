//! `import "lib/checks" as checks;` resolves relative to the importing file, also for imports
//! nested inside imported modules (Rhai's FileModuleResolver resolves those against the working
//! directory instead).
//!
//! Each module is loaded once per run and cached, so an `import` inside a function called many
//! times costs one load; the import limit counts distinct modules. Modules that import each other
//! are an error naming the cycle (Rhai itself would recurse until the stack overflows).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope};

use crate::Failure;

type SharedModule = rhai::Shared<Module>;

pub struct RelativeResolver {
    base: PathBuf,
    /// Distinct modules a run may load (`--limit imports`); `None`: no cap.
    max_modules: Option<usize>,
    cache: Mutex<HashMap<PathBuf, SharedModule>>,
    /// Modules being loaded, outermost first: an import of one of them is a cycle.
    loading: Mutex<Vec<PathBuf>>,
}

impl RelativeResolver {
    pub fn new(base: PathBuf, max_modules: Option<usize>) -> Self {
        RelativeResolver {
            base,
            max_modules,
            cache: Mutex::new(HashMap::new()),
            loading: Mutex::new(Vec::new()),
        }
    }

    /// The file an import names, seen from the importing source (a file path) or the base.
    pub fn locate(&self, source: Option<&str>, path: &str) -> PathBuf {
        locate(&self.base, source, path)
    }
}

/// Where `import "path"` points from a file named `source` (or from `base` without one).
pub fn locate(base: &Path, source: Option<&str>, path: &str) -> PathBuf {
    let mut file = PathBuf::from(path);
    if file.extension().is_none() {
        file.set_extension("rhai");
    }
    if file.is_absolute() {
        return file;
    }
    let dir = source
        .map(Path::new)
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| base.to_path_buf());
    dir.join(file)
}

impl RelativeResolver {
    /// Mark `key` as loading (and, for the outermost import, the script it came from, so a
    /// module importing the main script back is a cycle too); refused for a cycle or past the
    /// module limit. Returns how many entries to pop when the load ends.
    fn start_loading(
        &self,
        source: Option<&str>,
        path: &str,
        key: &Path,
        pos: Position,
    ) -> Result<usize, Box<EvalAltResult>> {
        let mut loading = lock(&self.loading);
        if let Some(cycle) = cycle_through(&loading, key) {
            return Err(runtime_error(
                Failure::new(format!("import cycle: {cycle}")).hint(
                    "modules cannot import each other; move what both need into a third module",
                ),
                pos,
            ));
        }
        if let Some(max) = self.max_modules
            && lock(&self.cache).len() >= max
        {
            return Err(runtime_error(
                Failure::new(format!(
                    "`import \"{path}\"` would load more than {max} modules (--limit imports)"
                ))
                .hint("raise it with `--limit imports=N` or `//! @limit imports=N`"),
                pos,
            ));
        }
        let root = source
            .filter(|_| loading.is_empty())
            .map(|s| canonical(Path::new(s)));
        let pushed = 1 + usize::from(root.is_some());
        if let Some(root) = root {
            if root == key {
                return Err(runtime_error(
                    Failure::new(format!("import cycle: {} imports itself", key.display()))
                        .hint("remove the import"),
                    pos,
                ));
            }
            loading.push(root);
        }
        loading.push(key.to_path_buf());
        Ok(pushed)
    }
}

impl ModuleResolver for RelativeResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let file = self.locate(source, path);
        let key = canonical(&file);
        if let Some(m) = lock(&self.cache).get(&key) {
            return Ok(m.clone());
        }
        let pushed = self.start_loading(source, path, &key, pos)?;
        let loaded = load(engine, &file, path, pos);
        {
            let mut loading = lock(&self.loading);
            let keep = loading.len().saturating_sub(pushed);
            loading.truncate(keep);
        }
        let shared = loaded?;
        lock(&self.cache).insert(key, shared.clone());
        Ok(shared)
    }
}

/// Compile and evaluate one module file.
fn load(
    engine: &Engine,
    file: &Path,
    path: &str,
    pos: Position,
) -> Result<SharedModule, Box<EvalAltResult>> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Box::new(EvalAltResult::ErrorModuleNotFound(
            format!("{path} (looked for {}: {e})", file.display()),
            pos,
        ))
    })?;
    let name = file.display().to_string();
    let ast = crate::engine::compile_file(engine, file, &text)
        .map_err(|e| Box::new(EvalAltResult::ErrorInModule(name.clone(), e.into(), pos)))?;
    let mut module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
        .map_err(|e| Box::new(EvalAltResult::ErrorInModule(name.clone(), e, pos)))?;
    module.set_id(name);
    module.build_index();
    Ok(SharedModule::new(module))
}

/// `a.rhai -> b.rhai -> a.rhai` if importing `key` while `loading` (outermost first) closes a
/// cycle.
pub fn cycle_through(loading: &[PathBuf], key: &Path) -> Option<String> {
    let start = loading.iter().position(|p| p == key)?;
    let names: Vec<String> = loading[start..]
        .iter()
        .map(PathBuf::as_path)
        .chain(std::iter::once(key))
        .map(|p| p.display().to_string())
        .collect();
    Some(names.join(" -> "))
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime_error(failure: Failure, pos: Position) -> Box<EvalAltResult> {
    failure.at_position(pos)
}
