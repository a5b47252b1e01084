//! Parse the command line, dispatch, and turn every outcome into an exit code in one place:
//! a command returns `Err` and this file shows it (`Error::report`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use ripcord_runtime::run::exit;

use crate::cli::{Cli, Command, JournalAction};
use crate::command;
use crate::error::{Error, Result};

/// Shared by the subcommands: where scripts and the journal are.
pub struct Context {
    pub journal: std::path::PathBuf,
    pub scripts: Vec<std::path::PathBuf>,
    pub interrupt: Arc<AtomicBool>,
}

/// Stack of the thread everything runs on. Rhai evaluates and drops nested values by recursion;
/// with this much room the engine's depth limits (calls, expressions) are what stop a deep
/// script, with a message, long before the stack could overflow and abort the process.
/// Only the pages touched are ever committed.
const STACK_SIZE: usize = 256 << 20;

pub fn main() -> i32 {
    let spawned = std::thread::Builder::new()
        .name("ripcord".to_string())
        .stack_size(STACK_SIZE)
        .spawn(main_on_this_thread);
    match spawned {
        // A panic has already printed its message; 101 is Rust's exit code for it.
        Ok(handle) => handle.join().unwrap_or(101),
        Err(_) => main_on_this_thread(),
    }
}

fn main_on_this_thread() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let ctx = context(&cli);
    match dispatch(cli, &ctx) {
        Ok(()) => exit::OK,
        Err(e) => e.report(),
    }
}

/// Signals set up for the command, and where its scripts and journal are.
fn context(cli: &Cli) -> Context {
    if cli.command.only_reads() {
        // A listing whose reader went away (`ripcord history | head`) ends quietly, killed by
        // SIGPIPE like `cat` or `grep`. Commands that make changes keep SIGPIPE ignored and stop
        // at their next safe point instead (see `output::closed`).
        // SAFETY: setting a signal's disposition to the default has no preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let interrupt = Arc::new(AtomicBool::new(false));
    // Ctrl-C and SIGTERM stop a run at its next safe point; the demo's service keeps the
    // default handlers so `service::stop` ends it.
    if !matches!(cli.command, Command::DemoService { .. }) {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // If registration fails the default handler stays: Ctrl-C still stops the process.
            let _ = signal_hook::flag::register(signal, interrupt.clone());
        }
    }
    Context {
        journal: cli
            .journal
            .clone()
            .unwrap_or_else(ripcord_runtime::journal::default_path),
        scripts: ripcord_runtime::script::search_path(&cli.scripts),
        interrupt,
    }
}

fn dispatch(cli: Cli, ctx: &Context) -> Result {
    match cli.command {
        Command::Demo {
            keep,
            dir,
            setup_only,
            healthy,
            backend,
        } => crate::demo::run(
            crate::demo::DemoOptions {
                keep,
                dir,
                setup_only,
                healthy,
                backend,
                journal: cli.journal.clone(),
            },
            ctx.interrupt.clone(),
        ),
        Command::DemoService {
            db,
            port,
            release,
            faulty,
        } => Error::exit(crate::demo::service::serve(
            crate::demo::service::ServiceArgs {
                db,
                port,
                release,
                faulty,
            },
        )),
        Command::Run(args) => command::run::run(ctx, args),
        Command::Watch(args) => command::watch::watch(ctx, args),
        Command::Check { paths, config } => command::check::check(ctx, &paths, config.as_deref()),
        Command::List { dir } => command::list::list(ctx, dir.as_deref()),
        Command::Describe { script } => command::list::describe(ctx, &script),
        Command::Doc {
            item,
            format,
            for_script,
        } => command::doc::doc(ctx, item.as_deref(), format, for_script.as_deref()),
        Command::Drill(args) => command::drill::drill(ctx, args),
        Command::Report {
            run,
            dir,
            fleet,
            correlation_id,
            hosts,
            json,
        } => match (fleet, run) {
            (Some(merged), _) => {
                command::report::fleet(&merged, correlation_id.as_deref(), &hosts, json)
            }
            (None, _) if correlation_id.is_some() || !hosts.is_empty() => Err(Error::usage(
                "--correlation-id and --hosts choose what a fleet report shows: they need --fleet MERGED",
            )),
            (None, Some(run)) => command::report::report(ctx, run, dir.as_deref(), json),
            (None, None) => Err(Error::usage("report needs a run id, or --fleet MERGED")),
        },
        Command::Repl(args) => command::repl::repl(ctx, args),
        Command::History { limit, json } => command::history::history(ctx, limit, json),
        Command::Show { run, json } => command::history::show(ctx, run, json),
        Command::Resume(args) => command::resume::resume(ctx, args),
        Command::Journal {
            action: JournalAction::Verify,
        } => command::history::verify(ctx),
        Command::Journal {
            action:
                JournalAction::Export {
                    out,
                    correlation_id,
                },
        } => command::journal::export(ctx, &out, correlation_id.as_deref()),
        Command::Journal {
            action: JournalAction::Merge { out, files },
        } => command::journal::merge(&out, &files),
        Command::Init { dir, diff } => command::init::init(&dir, diff),
        Command::Completions { shell } => command::shell::completions(shell),
        Command::Man => command::shell::man(),
    }
}
