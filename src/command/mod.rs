//! One file per subcommand.

pub mod check;
pub mod doc;
pub mod history;
pub mod list;
pub mod resume;
pub mod run;
