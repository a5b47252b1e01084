//! `ripcord repl [SCRIPT]`: the interactive REPL, or with SCRIPT a step-through run.

use ripcord_runtime::dirs::state_dir;

use crate::app::Context;
use crate::cli::{ReplArgs, RunArgs};
use crate::error::{Error, Result};

pub fn repl(ctx: &Context, args: ReplArgs) -> Result {
    if let Some(script) = args.script {
        // Stepping through a script is `run --step`: same params, config, journal and locks.
        let run = RunArgs {
            script,
            params: args.params,
            config: args.config,
            dry_run: args.dry_run,
            yes: false,
            step: true,
            json: false,
            timeout: None,
            undo_on_failure: false,
            inject: Vec::new(),
            limits: Vec::new(),
            fleet: Default::default(),
        };
        return crate::command::run::run(ctx, run);
    }
    Error::exit(ripcord_repl::run(ripcord_repl::Options {
        modules: ripcord_stdlib::modules,
        interrupt: ctx.interrupt.clone(),
        history: Some(state_dir().join("repl_history")),
        base_dir: std::env::current_dir().unwrap_or_default(),
        config: args.config,
        journal: Some(ctx.journal.clone()),
        script_dirs: ctx.scripts.clone(),
    }))
}
