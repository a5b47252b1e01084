//! One file per subcommand.

pub mod check;
pub mod doc;
pub mod drill;
pub mod fleet;
pub mod history;
pub mod init;
pub mod journal;
pub mod list;
pub mod repl;
pub mod report;
pub mod resume;
pub mod run;
pub mod shell;
pub mod watch;
