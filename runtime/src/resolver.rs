//! `import "lib/checks" as checks;` resolves relative to the importing file, also for imports
//! nested inside imported modules (Rhai's FileModuleResolver resolves those against the working
//! directory instead).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope};

type SharedModule = Arc<Module>;

pub struct RelativeResolver {
    base: PathBuf,
    cache: Mutex<HashMap<PathBuf, SharedModule>>,
}

impl RelativeResolver {
    pub fn new(base: PathBuf) -> Self {
        RelativeResolver {
            base,
            cache: Mutex::new(HashMap::new()),
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

impl ModuleResolver for RelativeResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let file = self.locate(source, path);
        let key = file.canonicalize().unwrap_or_else(|_| file.clone());
        if let Some(m) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(m.clone());
        }
        let text = std::fs::read_to_string(&file).map_err(|e| {
            Box::new(EvalAltResult::ErrorModuleNotFound(
                format!("{path} (looked for {}: {e})", file.display()),
                pos,
            ))
        })?;
        let mut ast = engine.compile(&text).map_err(|e| {
            Box::new(EvalAltResult::ErrorInModule(
                file.display().to_string(),
                e.into(),
                pos,
            ))
        })?;
        let name = file.display().to_string();
        ast.set_source(name.as_str());
        let mut module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(name.clone(), e, pos)))?;
        module.set_id(name);
        module.build_index();
        let shared: SharedModule = Arc::new(module);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, shared.clone());
        Ok(shared)
    }
}
