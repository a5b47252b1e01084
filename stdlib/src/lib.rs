//! ripcord's native modules, one file per module. Each file declares its functions once
//! (`NativeModule::function` with a `Decl`) and goes through the runtime's `Host` for every
//! read, probe and change.

pub mod db;
pub mod env;
pub mod fs;
pub mod git;
pub mod json;
pub mod log;
pub mod notify;
mod options;
pub mod probe;
pub mod service;
pub mod sh;
pub mod sys;
pub mod time;
pub mod toml;

use ripcord_runtime::NativeModule;

/// Every native module, in the order `ripcord doc` lists them.
pub fn modules() -> Vec<NativeModule> {
    vec![
        fs::module(),
        sh::module(),
        time::module(),
        env::module(),
        log::module(),
        json::module(),
        toml::module(),
        db::module(),
        git::module(),
        service::module(),
        probe::module(),
        sys::module(),
        notify::module(),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use ripcord_runtime::rhai::Engine;
    use serde_json::Value;

    /// `(module, name, params)` of every registered native, as Rhai's own metadata counts the
    /// Rust function's params, checking that the declared params (Rhai's `params`, from
    /// `Decl.params`) are as many.
    fn registered(functions: &Value, module: &str, into: &mut BTreeSet<(String, String, u64)>) {
        for f in functions.as_array().into_iter().flatten() {
            let name = f["name"].as_str().unwrap_or_default().to_string();
            let rust = f["numParams"].as_u64().unwrap_or_default();
            let declared = f["params"].as_array().map_or(0, Vec::len) as u64;
            assert_eq!(
                declared, rust,
                "{module}::{name}: Decl.params lists {declared} params, the Rust function takes {rust}: {f}"
            );
            into.insert((module.to_string(), name, rust));
        }
    }

    #[test]
    fn every_declared_native_takes_the_params_its_decl_lists() {
        let mut modules = super::modules();
        modules.push(ripcord_runtime::builtins::module());
        let mut documented = BTreeSet::new();
        let mut engine = Engine::new_raw();
        for m in modules {
            for doc in &m.docs {
                for signature in &doc.signatures {
                    let args = signature
                        .split_once('(')
                        .and_then(|(_, rest)| rest.rsplit_once(')'))
                        .map_or("", |(args, _)| args);
                    let n = if args.is_empty() {
                        0
                    } else {
                        args.split(", ").count()
                    };
                    documented.insert((m.name.to_string(), doc.name.to_string(), n as u64));
                }
            }
            if m.name.is_empty() {
                engine.register_global_module(m.module.into());
            } else {
                engine.register_static_module(m.name, m.module.into());
            }
        }
        let metadata: Value =
            serde_json::from_str(&engine.gen_fn_metadata_to_json(false).expect("metadata"))
                .expect("metadata JSON");
        let mut found = BTreeSet::new();
        registered(&metadata["functions"], "", &mut found);
        for (module, m) in metadata["modules"].as_object().into_iter().flatten() {
            registered(&m["functions"], module, &mut found);
        }
        assert!(found.len() > 100, "only {} natives registered", found.len());
        let undocumented: Vec<_> = found.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "registered with another number of params than their Decl lists: {undocumented:?}"
        );
    }
}
