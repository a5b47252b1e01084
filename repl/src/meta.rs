//! Meta-commands, declared once: parsing, `:help` and completion all read [`COMMANDS`].

/// One meta-command as `:help` shows it.
pub struct Meta {
    pub name: &'static str,
    pub args: &'static str,
    pub help: &'static str,
}

pub const COMMANDS: &[Meta] = &[
    Meta {
        name: ":help",
        args: "",
        help: "this list, and the native modules",
    },
    Meta {
        name: ":doc",
        args: "[MODULE | MODULE::FN | FN]",
        help: "a native function's signatures, effect, doc and example",
    },
    Meta {
        name: ":load",
        args: "FILE",
        help: "run a script file here; its variables and functions stay",
    },
    Meta {
        name: ":dry",
        args: "on|off",
        help: "simulate changes (as --dry-run does) or make them",
    },
    Meta {
        name: ":history",
        args: "",
        help: "the inputs of this and earlier sessions",
    },
    Meta {
        name: ":quit",
        args: "",
        help: "leave the REPL (also Ctrl-D)",
    },
];

/// A parsed meta-command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Doc(Option<String>),
    Load(String),
    Dry(bool),
    History,
    Quit,
}

/// Parse a line starting with `:`.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (name, arg) = match line.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (line, ""),
    };
    let Some(meta) = COMMANDS.iter().find(|m| m.name == name) else {
        return Err(format!(
            "unknown command `{name}`\nhelp: `:help` lists the commands"
        ));
    };
    let usage = || format!("usage: {} {}", meta.name, meta.args);
    match (meta.name, arg) {
        (":help", "") => Ok(Command::Help),
        (":doc", "") => Ok(Command::Doc(None)),
        (":doc", item) => Ok(Command::Doc(Some(item.to_string()))),
        (":load", "") => Err(usage()),
        (":load", file) => Ok(Command::Load(file.to_string())),
        (":dry", "on") => Ok(Command::Dry(true)),
        (":dry", "off") => Ok(Command::Dry(false)),
        (":history", "") => Ok(Command::History),
        (":quit", "") => Ok(Command::Quit),
        _ => Err(usage()),
    }
}

/// The `:help` text.
pub fn help() -> String {
    let width = COMMANDS
        .iter()
        .map(|m| m.name.len() + m.args.len() + 1)
        .max()
        .unwrap_or(0);
    COMMANDS
        .iter()
        .map(|m| {
            let usage = format!("{} {}", m.name, m.args);
            format!("  {usage:<width$}  {}", m.help)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_in_the_table_parses() {
        for m in COMMANDS {
            let example = match m.args {
                "" => m.name.to_string(),
                "on|off" => format!("{} on", m.name),
                _ => format!("{} x", m.name),
            };
            assert!(parse(&example).is_ok(), "{example}");
            assert!(help().contains(m.name));
        }
    }

    #[test]
    fn bad_commands_say_what_to_type() {
        assert_eq!(parse(":dry maybe"), Err("usage: :dry on|off".to_string()));
        assert!(parse(":frobnicate").is_err_and(|e| e.contains(":help")));
        assert_eq!(parse(":load"), Err("usage: :load FILE".to_string()));
        assert_eq!(
            parse(":doc db::backup"),
            Ok(Command::Doc(Some("db::backup".into())))
        );
    }
}
