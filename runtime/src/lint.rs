//! Mistakes that compile but fail (or silently misbehave) when the line runs, found by `check`:
//!
//! - a param used as another type than its header default gives it: `@param wait = "60"` (a
//!   string) in `wait * 1000`, compared with a number, or passed where every overload of a
//!   native function wants a number;
//! - Rhai's in-place methods (`s.trim()`, `a.sort()`, ...) used as values: they change the
//!   variable and return `()`, so `let t = s.trim();` makes `t` empty.
//!
//! Both are definite bugs rather than style: the first fails or is always false, the second
//! is always `()`. A param that the script assigns anywhere is left alone (it may be converted).

use std::collections::BTreeMap;

use rhai::{AST, ASTNode, Dynamic, Expr, Position, Stmt};

use crate::error::Diagnostic;
use crate::header::ParamDecl;
use crate::native::Catalog;

/// Methods that change their receiver and return `()` (a test checks each against Rhai).
pub const IN_PLACE: &[&str] = &[
    "trim",
    "replace",
    "make_upper",
    "make_lower",
    "truncate",
    "clear",
    "pad",
    "crop",
    "sort",
    "reverse",
    "push",
    "append",
    "insert",
    "dedup",
];

/// The scalar types a param can have, from its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
}

impl Kind {
    fn of_param(p: &ParamDecl) -> Kind {
        match &p.default {
            Some(d) => Kind::of(d).unwrap_or(Kind::Str),
            None => Kind::Str,
        }
    }

    fn of(value: &Dynamic) -> Option<Kind> {
        if value.is_string() {
            Some(Kind::Str)
        } else if value.is_int() {
            Some(Kind::Int)
        } else if value.is_float() {
            Some(Kind::Float)
        } else if value.is_bool() {
            Some(Kind::Bool)
        } else {
            None
        }
    }

    fn of_literal(expr: &Expr) -> Option<Kind> {
        match expr {
            Expr::StringConstant(..) | Expr::InterpolatedString(..) => Some(Kind::Str),
            Expr::IntegerConstant(..) => Some(Kind::Int),
            Expr::FloatConstant(..) => Some(Kind::Float),
            Expr::BoolConstant(..) => Some(Kind::Bool),
            _ => None,
        }
    }

    /// As Rhai and the catalog's signatures name it.
    fn of_type_name(name: &str) -> Option<Kind> {
        match name {
            "String" | "string" | "&str" | "ImmutableString" => Some(Kind::Str),
            "int" | "i64" | "INT" => Some(Kind::Int),
            "float" | "f64" | "FLOAT" => Some(Kind::Float),
            "bool" => Some(Kind::Bool),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Int => "an integer",
            Kind::Float => "a float",
            Kind::Bool => "a bool",
        }
    }

    fn is_number(self) -> bool {
        matches!(self, Kind::Int | Kind::Float)
    }

    /// Would Rhai take a value of this kind where `wanted` is expected?
    fn fits(self, wanted: Kind) -> bool {
        self == wanted || (self.is_number() && wanted.is_number())
    }
}

/// Every finding in `ast` for a script whose header declares `params`.
pub fn lint(ast: &AST, params: &[ParamDecl], catalog: &Catalog, source: &str) -> Vec<Diagnostic> {
    let mut found = in_place_values(ast, source);
    found.extend(param_types(ast, params, catalog, source));
    found
}

fn in_place_values(ast: &AST, source: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let [.., parent, ASTNode::Expr(expr)] = path else {
            return true;
        };
        let Some((name, pos)) = in_place_call(expr) else {
            return true;
        };
        if uses_value(parent, expr) {
            found.push(
                Diagnostic::new(format!(
                    "`{name}` changes its value in place and returns nothing (`()`): its result is used here"
                ))
                .at(source, pos)
                .help(format!(
                    "call it on its own line, then use the variable: `s.{name}(); let t = s;`"
                )),
            );
        }
        true
    });
    found
}

/// `x.trim()` (a method call on something) or `trim(x)`, with an in-place method's name.
fn in_place_call(expr: &Expr) -> Option<(&str, Position)> {
    let (call, pos) = match expr {
        Expr::Dot(bin, _, _) => match &bin.rhs {
            Expr::MethodCall(call, pos) => (call, *pos),
            _ => return None,
        },
        Expr::FnCall(call, pos) if call.namespace.is_empty() && !call.args.is_empty() => {
            (call, *pos)
        }
        _ => return None,
    };
    let name = call.name.as_str();
    IN_PLACE.contains(&name).then_some((name, pos))
}

/// Does `parent` use the value of its child `child`?
fn uses_value(parent: &ASTNode, child: &Expr) -> bool {
    match parent {
        ASTNode::Stmt(
            Stmt::Var(..) | Stmt::Assignment(..) | Stmt::Return(..) | Stmt::FnCall(..),
        ) => true,
        ASTNode::Expr(Expr::FnCall(..) | Expr::MethodCall(..)) => true,
        ASTNode::Expr(Expr::InterpolatedString(..) | Expr::Array(..) | Expr::Map(..)) => true,
        // `a.b.trim()`: the chain's own nodes; only the outermost one counts.
        ASTNode::Expr(Expr::Dot(bin, ..)) => !std::ptr::eq(&bin.rhs, child),
        _ => false,
    }
}

fn param_types(
    ast: &AST,
    params: &[ParamDecl],
    catalog: &Catalog,
    source: &str,
) -> Vec<Diagnostic> {
    // Only the script's top level (and closures in it) sees the params; a function's own
    // parameters may share their names.
    let main = ast.clone_statements_only();
    let mut kinds: BTreeMap<&str, (Kind, &ParamDecl)> = params
        .iter()
        .map(|p| (p.name.as_str(), (Kind::of_param(p), p)))
        .collect();
    main.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(stmt)) = path.last() {
            for name in assigned(stmt) {
                kinds.remove(name);
            }
        }
        true
    });
    let mut found = Vec::new();
    main.walk(&mut |path: &[ASTNode]| {
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, _))) => call,
            Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => call,
            _ => return true,
        };
        for (i, arg) in call.args.iter().enumerate() {
            let Some((name, pos)) = variable(arg) else {
                continue;
            };
            let Some(&(kind, decl)) = kinds.get(name) else {
                continue;
            };
            let misuse = if call.op_token.is_some() {
                operator_misuse(call.name.as_str(), kind, &call.args, i)
            } else {
                native_misuse(catalog, call, i, kind)
            };
            if let Some(why) = misuse {
                found.push(param_diagnostic(decl, kind, &why, source, pos));
            }
        }
        true
    });
    found
}

/// The names a statement assigns: `let x`, `x = ...`, `x += ...`, `for x in`.
fn assigned(stmt: &Stmt) -> Vec<&str> {
    match stmt {
        Stmt::Var(x, ..) => vec![x.0.name.as_str()],
        Stmt::Assignment(x) => variable(&x.1.lhs).map(|(n, _)| n).into_iter().collect(),
        Stmt::For(x, ..) => {
            let mut names = vec![x.0.name.as_str()];
            names.extend(x.1.as_ref().map(|c| c.name.as_str()));
            names
        }
        _ => Vec::new(),
    }
}

/// A plain (unqualified) variable and where it is.
fn variable(expr: &Expr) -> Option<(&str, Position)> {
    match expr {
        Expr::Variable(v, _, pos) if v.2.is_empty() => Some((v.1.as_str(), *pos)),
        _ => None,
    }
}

/// Why `kind` cannot be operand `index` of the operator `op`, if it cannot.
fn operator_misuse(op: &str, kind: Kind, args: &[Expr], index: usize) -> Option<String> {
    let other = args.get(1 - index.min(1)).and_then(Kind::of_literal);
    match op {
        "-" | "*" | "/" | "%" | "**" if kind == Kind::Str => {
            Some(format!("it is used in arithmetic (`{op}`)"))
        }
        "==" | "!=" | "<" | ">" | "<=" | ">=" => match other {
            Some(lit) if !kind.fits(lit) => Some(format!(
                "it is compared with {} (`{op}` between different types is never true as meant)",
                lit.name()
            )),
            _ => None,
        },
        _ => None,
    }
}

/// Why `kind` cannot be argument `index` of the native function `call`: when every overload
/// with this many arguments names a scalar type there that `kind` is not.
fn native_misuse(
    catalog: &Catalog,
    call: &rhai::FnCallExpr,
    index: usize,
    kind: Kind,
) -> Option<String> {
    let module = call
        .namespace
        .path
        .iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join("::");
    let f = catalog.find(&module, call.name.as_str())?;
    let wanted: Vec<Option<Kind>> = f
        .signatures
        .iter()
        .filter_map(|s| param_types_of(s))
        .filter(|types| types.len() == call.args.len())
        .map(|types| Kind::of_type_name(types[index]))
        .collect();
    if wanted.is_empty() || wanted.iter().any(|w| w.is_none_or(|w| kind.fits(w))) {
        return None;
    }
    let expected: Vec<&str> = wanted.iter().flatten().map(|k| k.name()).collect();
    Some(format!(
        "`{}` takes {} there",
        f.qualified(),
        expected.join(" or ")
    ))
}

/// The parameter types of a catalog signature `name(a: String, b: int) -> X`.
fn param_types_of(signature: &str) -> Option<Vec<&str>> {
    let inner = signature.split_once('(')?.1.rsplit_once(')')?.0.trim();
    if inner.is_empty() {
        return Some(Vec::new());
    }
    Some(
        inner
            .split(", ")
            .map(|p| p.rsplit_once(':').map_or(p, |(_, t)| t).trim())
            .collect(),
    )
}

fn param_diagnostic(
    decl: &ParamDecl,
    kind: Kind,
    why: &str,
    source: &str,
    pos: Position,
) -> Diagnostic {
    let typed_by = match &decl.default {
        Some(d) if kind == Kind::Str => format!("its default `\"{d}\"` is quoted"),
        Some(d) => format!("its default is `{d}`"),
        None => "a required param is always a string".to_string(),
    };
    let help = match (&decl.default, kind) {
        (Some(d), Kind::Str) if d.to_string().parse::<f64>().is_ok() => format!(
            "write the default unquoted to make it a number: `@param {} = {d}`",
            decl.name
        ),
        (None, _) => format!(
            "give it a default of the type you need (`@param {} = 0`), or convert it: `parse_int({})`",
            decl.name, decl.name
        ),
        _ => format!(
            "use `{}` as {}, or change its default",
            decl.name,
            kind.name()
        ),
    };
    Diagnostic::new(format!(
        "param `{}` is {} ({typed_by}), but {why}",
        decl.name,
        kind.name()
    ))
    .at(source, pos)
    .help(help)
}

#[cfg(test)]
mod tests {
    use super::IN_PLACE;

    /// Each name in [`IN_PLACE`] really returns `()` in this Rhai, called as runbooks call it.
    #[test]
    fn every_in_place_method_returns_unit() {
        let engine = rhai::Engine::new();
        for name in IN_PLACE {
            let script = match *name {
                "trim" | "make_upper" | "make_lower" | "clear" => {
                    format!("let s = \" a \"; s.{name}()")
                }
                "replace" => "let s = \"ab\"; s.replace(\"a\", \"b\")".to_string(),
                "truncate" | "crop" => format!("let s = \"abc\"; s.{name}(1)"),
                "pad" => "let s = \"a\"; s.pad(3, ' ')".to_string(),
                "sort" | "reverse" | "dedup" => format!("let a = [2, 1, 1]; a.{name}()"),
                "push" => "let a = []; a.push(1)".to_string(),
                "append" => "let a = []; a.append([1])".to_string(),
                "insert" => "let a = []; a.insert(0, 1)".to_string(),
                other => panic!("no sample call for `{other}`"),
            };
            let value: rhai::Dynamic = engine
                .eval(&script)
                .unwrap_or_else(|e| panic!("`{script}`: {e}"));
            assert!(
                value.is_unit(),
                "`{name}` returns {} in `{script}`",
                value.type_name()
            );
        }
    }
}
