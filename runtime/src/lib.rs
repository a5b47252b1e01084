//! ripcord's runtime: the engine that runs runbooks, the seam every change goes through, the
//! params and config a run starts from, the journal it leaves behind, and the errors it shows.

pub mod allow;
pub mod approve;
pub mod builtins;
pub mod call;
pub mod cfg;
pub mod check;
pub mod config;
pub mod dirs;
pub mod doc;
pub mod effect;
pub mod engine;
pub mod error;
pub mod events;
pub mod failure;
pub mod fleet;
pub mod fleet_report;
pub mod header;
pub mod host;
pub mod journal;
pub mod limits;
pub mod lint;
pub mod live;
pub mod lock;
pub mod native;
pub mod output;
pub mod params;
pub mod prompt;
pub mod replay;
pub mod report;
pub mod resolver;
pub mod run;
pub mod script;
pub mod secrets;
pub mod status;
pub mod step_syntax;
pub mod term;
pub mod time;
pub mod who;

pub use effect::{Change, Effect, ScriptValue};
pub use failure::{At, Context, Failure, NativeResult, RhaiResult};
pub use host::{Host, Mode};
pub use native::{Catalog, Decl, FnDoc, NativeModule};
pub use rhai;
pub use status::{ChangeOutcome, EventKind, RunStatus, StepStatus};
