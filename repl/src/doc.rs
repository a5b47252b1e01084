//! `:doc`: a native function's signatures, effect, doc and example, from the catalog.

use ripcord_runtime::{Catalog, FnDoc};

/// `None`: the modules; `MODULE`: its functions; `MODULE::FN` or a global `FN`: the function.
pub fn render(catalog: &Catalog, item: Option<&str>) -> Result<String, String> {
    let Some(item) = item else {
        return Ok(catalog
            .modules
            .iter()
            .map(|(name, summary)| {
                let name = if name.is_empty() { "(global)" } else { name };
                format!("{name:<10}  {summary}")
            })
            .collect::<Vec<_>>()
            .join("\n"));
    };
    let (module, name) = item.split_once("::").unwrap_or(("", item));
    if let Some(f) = catalog.find(module, name) {
        return Ok(function(f));
    }
    if module.is_empty() && catalog.has_module(name) {
        let width = catalog
            .in_module(name)
            .map(|f| f.name.len())
            .max()
            .unwrap_or(0);
        return Ok(catalog
            .in_module(name)
            .map(|f| {
                format!(
                    "{:<width$}  {:<6}  {}",
                    f.name,
                    f.effect.as_str(),
                    f.summary()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"));
    }
    Err(format!(
        "no native function or module named `{item}`\nhelp: `:doc` lists the modules, `:doc MODULE` its functions"
    ))
}

fn function(f: &FnDoc) -> String {
    let qualified = f.qualified();
    let prefix = qualified.strip_suffix(f.name).unwrap_or("");
    let mut text: Vec<String> = f
        .signatures
        .iter()
        .map(|s| format!("{prefix}{s}"))
        .collect();
    text.push(format!("effect: {}", f.effect.as_str()));
    text.push(String::new());
    text.push(f.doc.trim_end().to_string());
    if !f.example.is_empty() {
        text.push(String::new());
        text.push("example:".to_string());
        text.extend(f.example.lines().map(|l| format!("    {l}")));
    }
    text.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ripcord_runtime::{Decl, Effect, NativeModule};

    fn catalog() -> Catalog {
        let mut m = NativeModule::new("store", "A test module");
        let decl = Decl {
            name: "save",
            effect: Effect::Change,
            params: &["path: String", "()"],
            doc: "Save the thing.\n\nDetails.",
            example: "store::save(\"x\");",
        };
        m.function(decl, |_: &str| ());
        m.function(
            Decl {
                params: &["path: String", "opts: Map", "()"],
                ..decl
            },
            |_: &str, _: ripcord_runtime::rhai::Map| (),
        );
        Catalog::from_modules(&[m])
    }

    #[test]
    fn a_function_shows_signatures_effect_doc_and_example() {
        let text = render(&catalog(), Some("store::save")).unwrap();
        assert_eq!(
            text,
            "store::save(path: String) -> ()\nstore::save(path: String, opts: Map) -> ()\neffect: change\n\nSave the thing.\n\nDetails.\n\nexample:\n    store::save(\"x\");"
        );
    }

    #[test]
    fn a_module_lists_its_functions_and_unknown_names_say_what_to_do() {
        assert_eq!(
            render(&catalog(), Some("store")).unwrap(),
            "save  change  Save the thing."
        );
        assert!(render(&catalog(), Some("nope")).is_err_and(|e| e.contains(":doc")));
    }
}
