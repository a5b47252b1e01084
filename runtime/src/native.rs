//! Native functions are declared once: name, effect, parameters, doc and an example.
//!
//! From that one declaration come the Rhai registration (with metadata for editors), `ripcord
//! doc`, `ripcord check`'s list of known functions, REPL completion, and a test that compiles
//! every example.

use rhai::{FuncRegistration, Module, NativeCallContext, RhaiNativeFunc, Variant};

use crate::Effect;

/// The metadata of one native function (all overloads share it).
#[derive(Debug, Clone)]
pub struct FnDoc {
    pub module: &'static str,
    pub name: &'static str,
    pub effect: Effect,
    /// One signature per overload, e.g. `backup(src: String, dst: String, opts: Map) -> Map`.
    pub signatures: Vec<String>,
    /// Markdown; the first line is the summary.
    pub doc: &'static str,
    /// Rhai code that uses the function; a test compiles every example.
    pub example: &'static str,
}

impl FnDoc {
    pub fn qualified(&self) -> String {
        if self.module.is_empty() {
            self.name.to_string()
        } else {
            format!("{}::{}", self.module, self.name)
        }
    }

    pub fn summary(&self) -> &'static str {
        self.doc.lines().next().unwrap_or("").trim()
    }
}

/// A declaration passed to [`NativeModule::function`].
#[derive(Debug, Clone, Copy)]
pub struct Decl {
    pub name: &'static str,
    pub effect: Effect,
    /// Parameters as `name: Type`, then the return type last (Rhai's metadata convention).
    pub params: &'static [&'static str],
    pub doc: &'static str,
    pub example: &'static str,
}

/// A module of native functions (`fs`, `db`, ...) or the global namespace (name `""`).
pub struct NativeModule {
    pub name: &'static str,
    pub summary: &'static str,
    pub module: Module,
    pub docs: Vec<FnDoc>,
}

impl NativeModule {
    pub fn new(name: &'static str, summary: &'static str) -> Self {
        let mut module = Module::new();
        module.set_id(name);
        NativeModule {
            name,
            summary,
            module,
            docs: Vec::new(),
        }
    }

    /// Register one overload of a function. Overloads repeat the same `Decl` with other params.
    pub fn function<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
        &mut self,
        decl: Decl,
        func: FUNC,
    ) -> &mut Self
    where
        R: Variant + Clone,
        FUNC: RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
    {
        // The declared params are what `doc`, `check` and completion show: they must be the
        // function's own (the return type is listed last).
        debug_assert_eq!(
            decl.params.len(),
            FUNC::num_params() + 1,
            "`{}::{}`: Decl.params {:?} must list the function's {} params and its return type",
            self.name,
            decl.name,
            decl.params,
            FUNC::num_params()
        );
        let comments: Vec<String> = decl.doc.lines().map(|l| format!("/// {l}")).collect();
        let mut reg = FuncRegistration::new(decl.name)
            .with_params_info(decl.params)
            .with_comments(comments)
            .with_volatility(true)
            // Rhai's purity: the function does not change its first argument in place.
            .with_purity(matches!(decl.effect, Effect::Pure | Effect::Control));
        if self.name.is_empty() {
            reg = reg.in_global_namespace();
        }
        reg.set_into_module(&mut self.module, func);

        self.document(decl)
    }

    /// Document a function without registering it: one the Rhai language itself provides
    /// (`print`, `debug`) that runbooks use and the doc must show.
    pub fn document(&mut self, decl: Decl) -> &mut Self {
        let signature = signature(decl.name, decl.params);
        match self.docs.iter_mut().find(|d| d.name == decl.name) {
            Some(doc) if doc.signatures.contains(&signature) => {}
            Some(doc) => doc.signatures.push(signature),
            None => self.docs.push(FnDoc {
                module: self.name,
                name: decl.name,
                effect: decl.effect,
                signatures: vec![signature],
                doc: decl.doc,
                example: decl.example,
            }),
        }
        self
    }
}

/// The qualified name of the native being called (`fs::copy`), from the call itself: Rhai
/// gives a module's function the module's id (set by [`NativeModule::new`]) as its source.
/// Messages and the journal name a native this way instead of repeating its name.
pub fn called(ctx: &NativeCallContext) -> String {
    match ctx.fn_source() {
        Some(module) if !module.is_empty() => format!("{module}::{}", ctx.fn_name()),
        _ => ctx.fn_name().to_string(),
    }
}

fn signature(name: &str, params: &[&str]) -> String {
    match params.split_last() {
        Some((ret, args)) => format!("{name}({}) -> {ret}", args.join(", ")),
        None => format!("{name}()"),
    }
}

/// Every native function known to the engine, for doc, check and completion.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub modules: Vec<(&'static str, &'static str)>,
    pub functions: Vec<FnDoc>,
}

impl Catalog {
    /// One entry per module name: several native modules may add to one namespace (the top
    /// level has the runtime's functions and `sh`); the first one's summary names it.
    pub fn from_modules(modules: &[NativeModule]) -> Self {
        let mut names: Vec<(&'static str, &'static str)> = Vec::new();
        for m in modules {
            if !names.iter().any(|(name, _)| *name == m.name) {
                names.push((m.name, m.summary));
            }
        }
        let mut functions: Vec<FnDoc> = Vec::new();
        for (name, _) in &names {
            for m in modules.iter().filter(|m| m.name == *name) {
                functions.extend(m.docs.iter().cloned());
            }
        }
        Catalog {
            modules: names,
            functions,
        }
    }

    pub fn find(&self, module: &str, name: &str) -> Option<&FnDoc> {
        self.functions
            .iter()
            .find(|f| f.module == module && f.name == name)
    }

    pub fn has_module(&self, module: &str) -> bool {
        self.modules.iter().any(|(m, _)| *m == module)
    }

    pub fn in_module<'a>(&'a self, module: &'a str) -> impl Iterator<Item = &'a FnDoc> + 'a {
        self.functions.iter().filter(move |f| f.module == module)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(params: &'static [&'static str]) -> Decl {
        Decl {
            name: "twice",
            effect: Effect::Pure,
            params,
            doc: "Twice `n`.",
            example: "m::twice(2)",
        }
    }

    #[test]
    fn a_decl_listing_the_functions_params_registers() {
        let mut m = NativeModule::new("m", "test");
        m.function(decl(&["n: i64", "i64"]), |n: i64| n * 2);
        assert_eq!(m.docs[0].signatures, ["twice(n: i64) -> i64"]);
    }

    /// A native names itself from the call: Rhai gives a static module's function the module's
    /// id as its source (pinned here against a Rhai upgrade).
    #[test]
    fn called_is_the_qualified_name_of_the_native_being_called() {
        let who = Decl {
            name: "who",
            effect: Effect::Pure,
            params: &["String"],
            doc: "Who is called.",
            example: "m::who()",
        };
        let mut m = NativeModule::new("m", "test");
        m.function(who, |ctx: NativeCallContext| called(&ctx));
        let mut top = NativeModule::new("", "test");
        top.function(who, |ctx: NativeCallContext| called(&ctx));
        let mut engine = rhai::Engine::new_raw();
        engine.register_static_module("m", m.module.into());
        engine.register_global_module(top.module.into());
        assert_eq!(engine.eval::<String>("m::who()").unwrap(), "m::who");
        assert_eq!(engine.eval::<String>("who()").unwrap(), "who");
        assert_eq!(
            engine.eval::<String>("fn f() { m::who() } f()").unwrap(),
            "m::who"
        );
    }

    #[test]
    #[should_panic(
        expected = "`m::twice`: Decl.params [\"i64\"] must list the function's 1 params"
    )]
    fn a_decl_missing_a_param_is_refused() {
        NativeModule::new("m", "test").function(decl(&["i64"]), |n: i64| n * 2);
    }

    #[test]
    #[should_panic(expected = "must list the function's 1 params and its return type")]
    fn a_decl_with_a_param_too_many_is_refused() {
        NativeModule::new("m", "test").function(decl(&["n: i64", "k: i64", "i64"]), |n: i64| n);
    }
}
