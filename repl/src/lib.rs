//! ripcord's interactive side: the REPL (`ripcord repl`) and the step-through prompter
//! (`ripcord run --step`, `ripcord repl SCRIPT`).
//!
//! The crate depends on the runtime only. It learns the native API from the modules' metadata
//! (a [`ripcord_runtime::Catalog`]) and never names a module itself.

mod complete;
mod doc;
mod input;
mod meta;
mod session;
mod step;
mod tty;

pub use session::{Options, run};
pub use step::StepPrompter;
pub use tty::has_terminal;
