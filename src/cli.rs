//! The command line, declared once: every subcommand and flag with its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ripcord", version = env!("RIPCORD_VERSION"), about = "Run incident runbooks: journaled, dry-runnable, steppable", long_about = None)]
pub struct Cli {
    /// The run journal (default: $XDG_STATE_HOME/ripcord/journal.db)
    #[arg(long, global = true, env = "RIPCORD_JOURNAL", value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// Folder to find runbooks in by name (repeatable; also RIPCORD_PATH, then ./scripts)
    #[arg(long = "scripts", global = true, value_name = "DIR")]
    pub scripts: Vec<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a throwaway sandbox service and run the shipped runbooks against it
    Demo {
        /// Keep the sandbox afterwards
        #[arg(long)]
        keep: bool,
        /// Build the sandbox in this folder (kept)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Only build the sandbox and start its service (needs --dir); run the runbooks yourself
        #[arg(long, requires = "dir")]
        setup_only: bool,
        /// Start the stable release with no incident (with --setup-only)
        #[arg(long)]
        healthy: bool,
        /// Where the service runs: auto (systemd user manager if one answers), systemd or process
        #[arg(long, value_enum, default_value = "auto")]
        backend: DemoBackend,
    },
    /// Run a runbook
    Run(RunArgs),
    /// Evaluate a trigger runbook periodically and run the rollback for sustained auto-execute
    /// priorities (once, journaled); `watch status|rearm|install TRIGGERS`
    Watch(crate::command::watch::WatchArgs),
    /// Check runbooks without running them: syntax, unknown functions, undefined variables;
    /// with --config, also whether the site's queries fit the live state DB
    Check {
        /// Scripts or folders (default: the script path)
        paths: Vec<PathBuf>,
        /// Also check the site's knowledge (lib/site.rhai) against the state DB this config
        /// names: reads only, nothing is changed
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List the runbooks in a folder with their summaries
    List {
        /// Folder (default: the script path)
        dir: Option<PathBuf>,
    },
    /// Show a runbook's summary, params and steps
    Describe {
        /// Runbook path or name
        script: String,
    },
    /// The native API, from the registered functions' metadata
    Doc {
        /// A module (`db`), a function (`db::backup`), or `language` (how runbooks are written)
        item: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: DocFormatArg,
        /// With --format rhai: also declare SCRIPT's params and `cfg` for an editor
        #[arg(long = "for", value_name = "SCRIPT")]
        for_script: Option<String>,
    },
    /// Rehearse a runbook: reads and probes for real, changes simulated, faults injected; writes
    /// a report (Markdown, JSON, SVG timeline)
    Drill(DrillArgs),
    /// Write the report (Markdown, JSON, SVG timeline) of a past run from the journal
    Report {
        /// Run id (from `ripcord history`)
        #[arg(required_unless_present = "fleet", conflicts_with = "fleet")]
        run: Option<i64>,
        /// Folder for the report files (default: ./drill-reports/SCRIPT-runID/)
        #[arg(long = "report", value_name = "DIR", conflicts_with = "fleet")]
        dir: Option<PathBuf>,
        /// A fleet run instead, from a merged journal (`journal merge`): per host status,
        /// duration, changes and where it stopped; the batches; the hosts never touched
        #[arg(long, value_name = "MERGED")]
        fleet: Option<PathBuf>,
        /// With --fleet: the fleet run to report (needed when the file holds several)
        #[arg(long, value_name = "ID", requires = "fleet")]
        correlation_id: Option<String>,
        /// With --fleet: every host the rollout targeted (comma-separated host ids); those
        /// with no run are listed as never touched
        #[arg(long, value_name = "HOSTS", value_delimiter = ',', requires = "fleet")]
        hosts: Vec<String>,
        /// Print the report as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Interactive REPL; with SCRIPT, step through it (as `run --step`)
    Repl(ReplArgs),
    /// Past runs, newest first
    History {
        /// How many runs to show
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
    /// One run's timeline
    Show {
        /// Run id (from `ripcord history`)
        run: i64,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Continue an interrupted or failed run after its last completed step
    Resume(ResumeArgs),
    /// The demo's sandbox service (started by `ripcord demo`, not by hand)
    #[command(hide = true)]
    DemoService {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        release: String,
        #[arg(long)]
        faulty: bool,
    },
    /// The journal itself
    Journal {
        #[command(subcommand)]
        action: JournalAction,
    },
    /// Write the shipped runbooks and a commented ripcord.toml into a folder you own
    Init {
        /// The folder (created if missing; runbooks go to DIR/scripts)
        #[arg(default_value = ".", value_name = "DIR")]
        dir: PathBuf,
        /// Show how the folder's copies differ from the shipped ones instead of writing
        #[arg(long)]
        diff: bool,
    },
    /// Print the shell completion script for SHELL
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff); e.g. `ripcord man | man -l -`
    Man,
}

impl Command {
    /// Commands that only read and print: a closed stdout may end them at once.
    pub fn only_reads(&self) -> bool {
        matches!(
            self,
            Command::Check { .. }
                | Command::List { .. }
                | Command::Describe { .. }
                | Command::Doc { .. }
                | Command::Report { .. }
                | Command::History { .. }
                | Command::Show { .. }
                | Command::Journal { .. }
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum JournalAction {
    /// Check the hash chain; exit 1 naming the first broken event
    Verify,
    /// Write a consistent snapshot of the journal (or of one fleet run's runs) to a new file
    Export {
        /// The file to write (must not exist; written owner-only, then moved into place)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only the runs recorded with this correlation id, and the sub-runs they started
        #[arg(long, value_name = "ID")]
        correlation_id: Option<String>,
    },
    /// Merge hosts' journals (exports or whole journals) into one fleet journal keyed by
    /// (host id, run UUID); exit 2 for a file that is not a journal, 1 for one that does not
    /// verify (nothing is merged then)
    Merge {
        /// The fleet journal to write (new, or one an earlier merge wrote: merging again adds
        /// only runs it does not have)
        out: PathBuf,
        /// The journals to merge (read only)
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoBackend {
    Auto,
    Systemd,
    Process,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DocFormatArg {
    Text,
    Md,
    Json,
    Rhai,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Runbook path, or a name on the script path
    pub script: String,
    /// A param: -p name=value (repeatable)
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Config file, visible to the script as `cfg` (default: $RIPCORD_CONFIG, ./ripcord.toml, $XDG_CONFIG_HOME/ripcord/config.toml)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run reads and probes, print and simulate changes
    #[arg(long)]
    pub dry_run: bool,
    /// Answer yes to every confirm()
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Pause before every step and change (needs a terminal)
    #[arg(long)]
    pub step: bool,
    /// Print one JSON result object on stdout
    #[arg(long)]
    pub json: bool,
    /// Stop the run after this long (e.g. 90s, 10m); exit 1
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// When a step fails, run the registered undo actions without asking
    #[arg(long)]
    pub undo_on_failure: bool,
    /// Make a native call fail: module::fn=fail or =fail@N (for drills)
    #[arg(long = "inject", value_name = "FAULT")]
    pub inject: Vec<String>,
    /// Set an engine limit: operations=N, imports=N, call-depth=N, expr-depth=N, memory=SIZE
    /// (`off` lifts a cap; overrides the header's `@limit`)
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    pub limits: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Args)]
pub struct ReplArgs {
    /// Runbook to step through (path, or a name on the script path)
    pub script: Option<String>,
    /// A param of SCRIPT: -p name=value (repeatable)
    #[arg(
        short = 'p',
        long = "param",
        value_name = "NAME=VALUE",
        requires = "script"
    )]
    pub params: Vec<String>,
    /// Config file, visible as `cfg` (default: $RIPCORD_CONFIG, ./ripcord.toml, $XDG_CONFIG_HOME/ripcord/config.toml)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Step through SCRIPT as a dry run: changes are shown and simulated
    #[arg(long, requires = "script")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Run id (from `ripcord history`)
    pub run: i64,
    /// Secret params again (they are never journaled): -p name=value
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Resume even though the script changed since the interrupted run
    #[arg(long)]
    pub allow_changed: bool,
    /// Use this config instead of the one the run recorded (also when that one changed)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Answer yes to every confirm()
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print one JSON result object on stdout
    #[arg(long)]
    pub json: bool,
    /// When a step fails, run the registered undo actions without asking
    #[arg(long)]
    pub undo_on_failure: bool,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// Runbook path, or a name on the script path
    pub script: String,
    /// A param: -p name=value (repeatable)
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Config file, visible to the script as `cfg` (default: $RIPCORD_CONFIG, ./ripcord.toml, $XDG_CONFIG_HOME/ripcord/config.toml)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Make a native call fail: module::fn=fail, or =fail@N for its Nth call (repeatable)
    #[arg(long = "inject", value_name = "FAULT")]
    pub inject: Vec<String>,
    /// Folder for the report files (default: ./drill-reports/SCRIPT-STAMP/)
    #[arg(long = "report", value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Answer yes to every confirm()
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Stop the drill after this long (e.g. 90s, 10m); exit 1
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Print one JSON result object on stdout, with the report's file paths
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// For a run that is one of many across a fleet (`run` and `drill`).
#[derive(Debug, Clone, Default, Args)]
pub struct FleetArgs {
    /// This host's id in the fleet, recorded on the run (default: the hostname)
    #[arg(long, env = "RIPCORD_HOST_ID", value_name = "ID")]
    pub host_id: Option<String>,
    /// The fleet run this run is part of, recorded on the run
    #[arg(long, env = "RIPCORD_CORRELATION_ID", value_name = "ID")]
    pub correlation_id: Option<String>,
    /// The orchestrator's batch this run is in, recorded on the run: the same number for every
    /// host of a batch, larger for later ones (`report --fleet` groups hosts by it)
    #[arg(long, env = "RIPCORD_FLEET_BATCH", value_name = "N")]
    pub fleet_batch: Option<String>,
    /// The play or rollout whose batches --fleet-batch counts, recorded on the run
    #[arg(long, env = "RIPCORD_FLEET_PLAY", value_name = "ID")]
    pub fleet_play: Option<String>,
    /// Answer confirm() from this approval file (exact messages, approver, ticket); any other
    /// confirm aborts the run (exit 3)
    #[arg(long, value_name = "FILE", conflicts_with = "yes")]
    pub approve: Option<PathBuf>,
    /// Stream one JSON line per run/step start and end, change and prompt: ndjson (stdout) or
    /// ndjson=FILE
    #[arg(long, value_name = "ndjson[=FILE]")]
    pub events: Option<String>,
}
