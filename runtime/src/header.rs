//! The `//!` header of a runbook (temporary minimal parser; replaced by the full one).

use std::time::Duration;

use rhai::Dynamic;

#[derive(Debug, Clone, Default)]
pub struct Header {
    pub summary: String,
    pub description: String,
    pub params: Vec<ParamDecl>,
    pub rto: Option<Duration>,
    pub rto_text: Option<String>,
    pub lock: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ParamDecl {
    pub name: String,
    pub default: Option<Dynamic>,
    pub secret: bool,
    pub help: String,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct HeaderError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Header, HeaderError> {
    let mut h = Header::default();
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("//!") else {
            if line.starts_with("#!") && i == 0 {
                continue;
            }
            break;
        };
        let rest = rest.trim();
        if let Some(p) = rest.strip_prefix("@param ") {
            let (decl, help) = p.split_once(':').unwrap_or((p, ""));
            let (decl, default) = match decl.split_once('=') {
                Some((d, v)) => (
                    d.trim(),
                    Some(Dynamic::from(v.trim().trim_matches('"').to_string())),
                ),
                None => (decl.trim(), None),
            };
            let (secret, name) = match decl.strip_prefix("secret ") {
                Some(n) => (true, n.trim()),
                None => (false, decl),
            };
            h.params.push(ParamDecl {
                name: name.to_string(),
                default,
                secret,
                help: help.trim().to_string(),
                line: i + 1,
            });
        } else if let Some(r) = rest.strip_prefix("@rto ") {
            h.rto_text = Some(r.trim().to_string());
            h.rto = crate::time::parse_duration(r.trim()).ok();
        } else if h.summary.is_empty() {
            h.summary = rest.to_string();
        } else {
            h.description.push_str(rest);
            h.description.push('\n');
        }
    }
    Ok(h)
}
