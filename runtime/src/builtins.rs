//! Top-level functions every runbook has: `confirm`, `fail`, `undo`, `lock` (and the doc of
//! Rhai's own `print` and `debug`).

use rhai::{FnPtr, NativeCallContext};
use serde_json::json;

use crate::Effect;
use crate::failure::{Failure, RhaiResult};
use crate::host::{Host, RunTag};
use crate::native::{Decl, NativeModule};
use crate::status::EventKind;

pub fn module() -> NativeModule {
    let mut m = NativeModule::new(
        "",
        "Output, operator prompts, failure, compensation, locks and shell commands",
    );
    // Rhai's own: documented here because runbooks use them and `ripcord doc` must say so.
    m.document(Decl {
        name: "print",
        effect: Effect::Pure,
        params: &["value: ?", "()"],
        doc: "Show the script's output: a value for whoever runs the runbook.\n\nRhai's own `print`. \
              For messages about the run (what is happening, warnings) use `log::info`/`log::warn`, \
              which are kept in the journal with their step.",
        example: r#"print(`backup written: ${"backups/cortex.db"}`);"#,
    });
    m.document(Decl {
        name: "debug",
        effect: Effect::Pure,
        params: &["value: ?", "()"],
        doc: "Show a value with its type, for looking into a script while writing it (Rhai's own `debug`).",
        example: r#"debug(#{ status: 200 });"#,
    });
    m.function(
        Decl {
            name: "confirm",
            effect: Effect::Control,
            params: &["message: String", "bool"],
            doc: "Ask the operator a yes/no question; `no` aborts the run (exit 3).\n\nOn a terminal the operator answers; `--yes` answers yes; without a terminal and without `--yes` the run aborts before anything past this point runs. A dry run or drill answers itself: it shows and journals `would ask: MESSAGE` and goes on, and the drill report lists the gate.",
            example: r#"confirm("Reset the checkout to the last good tag?");"#,
        },
        confirm,
    );
    m.function(
        Decl {
            name: "fail",
            effect: Effect::Control,
            params: &["message: String", "()"],
            doc: "Fail the current step with a message (exit 1).",
            example: r#"if 1 > 2 { fail("the health check is red: not rolling forward"); }"#,
        },
        fail,
    );
    m.function(
        Decl {
            name: "undo",
            effect: Effect::Control,
            params: &["action: FnPtr", "()"],
            doc: "Register compensation for the current step.\n\nWhen a later step fails, the undo actions run in reverse order (asked on a terminal, automatic with `--undo-on-failure`).",
            example: r#"undo(|| log::warn("undoing: nothing to do"));"#,
        },
        undo,
    );
    m.function(
        Decl {
            name: "is_dry_run",
            effect: Effect::Pure,
            params: &["bool"],
            doc: "True when changes are simulated (`--dry-run`, `ripcord drill`).\n\nReads after a simulated change still see the old state: use this to skip checks that only make sense after a real change (e.g. waiting for a restarted service).",
            example: r#"if is_dry_run() { log::info("drill: the service was not restarted"); }"#,
        },
        is_dry_run,
    );
    m.function(
        Decl {
            name: "lock",
            effect: Effect::Control,
            params: &["name: String", "()"],
            doc: "Hold the run lock `name` until the run ends; another run holding it stops this one (exit 4).\n\nEvery real run already holds a lock named after its script.",
            example: r#"lock("cortex");"#,
        },
        lock,
    );
    m
}

fn confirm(ctx: NativeCallContext, message: &str) -> RhaiResult<bool> {
    Host::of(&ctx)?.confirm(&ctx, message)
}

fn fail(ctx: NativeCallContext, message: &str) -> RhaiResult<()> {
    let host = Host::of(&ctx)?;
    let _ = host.journal(EventKind::Fail, json!({ "message": message }));
    Err(Failure::new(message).at(&ctx))
}

fn undo(ctx: NativeCallContext, action: FnPtr) -> RhaiResult<()> {
    let tag = ctx
        .tag()
        .and_then(RunTag::from_tag)
        .ok_or_else(|| Failure::new("internal error: this engine has no ripcord host").at(&ctx))?;
    let _ = tag.host.journal(
        EventKind::UndoRegister,
        json!({ "action": action.fn_name() }),
    );
    tag.push_undo(action);
    Ok(())
}

fn is_dry_run(ctx: NativeCallContext) -> RhaiResult<bool> {
    Ok(Host::of(&ctx)?.mode.simulates_changes())
}

fn lock(ctx: NativeCallContext, name: &str) -> RhaiResult<()> {
    Host::of(&ctx)?.lock(name, ctx.call_position())
}
