//! The states a run, a step and a change end in, and the kinds of journal events, each spelled
//! once: the journal, reports, `--json`, history and resume all read and write these words, so
//! a journal written by an older ripcord reads the same.

/// An enum whose variants are written as fixed words (in the journal, in JSON, on the terminal).
/// The one table gives `as_str`, `parse`, `Display`, and serde in both directions.
macro_rules! spelled {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The word the journal and JSON use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The variant a word names; `None` for a word this version does not know.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| {
                    let known: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    serde::de::Error::custom(format!(
                        "unknown {} `{text}` (known: {})",
                        stringify!($name),
                        known.join(", ")
                    ))
                })
            }
        }
    };
}
pub(crate) use spelled;

spelled! {
    /// How a run ended (or that it has not yet): the journal's `runs.status`, `--json`'s `status`.
    pub enum RunStatus {
        /// Still running, or killed without a chance to record its end (until reaped).
        Running = "running",
        Ok = "ok",
        Failed = "failed",
        /// The operator said no, or aborted at a pause.
        Aborted = "aborted",
        /// Ctrl-C, SIGTERM, a closed output, or reaped after its process died.
        Interrupted = "interrupted",
        TimedOut = "timed out",
        /// Another run holds its lock.
        Locked = "locked",
        /// Nothing ran: the command line, header, params or config were wrong.
        Usage = "usage",
    }
}

impl RunStatus {
    /// A run that stopped part way: `ripcord resume` can go on from where it stopped.
    pub fn is_resumable(self) -> bool {
        matches!(
            self,
            RunStatus::Interrupted | RunStatus::Failed | RunStatus::TimedOut | RunStatus::Aborted
        )
    }
}

spelled! {
    /// How a step ended: `step.end` events, reports, `--json`.
    pub enum StepStatus {
        /// Started; no end recorded yet.
        Running = "running",
        Ok = "ok",
        Failed = "failed",
        /// The operator skipped it at a pause.
        Skipped = "skipped",
        Aborted = "aborted",
        Interrupted = "interrupted",
        TimedOut = "timed out",
        Locked = "locked",
        /// Done by an earlier run (`ripcord resume` did not run it again).
        Resumed = "resumed",
        /// Started in a run that ended `ok` without the step's end in the journal.
        Unfinished = "unfinished",
    }
}

impl StepStatus {
    /// Whether the step counts against the run: not done, not passed over on purpose.
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            StepStatus::Ok | StepStatus::Skipped | StepStatus::Resumed | StepStatus::Running
        )
    }

    /// The status of a step still open when its run ended with `run`.
    pub fn cut_short_by(run: RunStatus) -> StepStatus {
        match run {
            RunStatus::Running => StepStatus::Running,
            RunStatus::Ok => StepStatus::Unfinished,
            RunStatus::Failed | RunStatus::Usage => StepStatus::Failed,
            RunStatus::Aborted => StepStatus::Aborted,
            RunStatus::Interrupted => StepStatus::Interrupted,
            RunStatus::TimedOut => StepStatus::TimedOut,
            RunStatus::Locked => StepStatus::Locked,
        }
    }
}

spelled! {
    /// What happened to one change.
    pub enum ChangeOutcome {
        Made = "made",
        /// A dry run or drill printed it instead.
        Simulated = "simulated",
        /// The operator skipped it at a pause.
        Skipped = "skipped",
        Failed = "failed",
        /// A resumed run took the interrupted run's recorded outcome instead of making it again.
        Replayed = "replayed",
        /// Started, with no outcome recorded: the run was killed during it.
        Unfinished = "unfinished",
    }
}

spelled! {
    /// The kinds of journal events the runtime writes and reads. Natives and other commands
    /// may journal kinds of their own; readers skip kinds they do not know.
    pub enum EventKind {
        RunStart = "run.start",
        RunEnd = "run.end",
        /// Where a run ran (working folder, config), for `ripcord resume`.
        Context = "context",
        /// First event of a `ripcord resume` run: `{"resumes": RUN}`, the run it continues.
        Resume = "resume",
        StepStart = "step.start",
        StepEnd = "step.end",
        StepSkip = "step.skip",
        StepResumed = "step.resumed",
        /// Journaled (and synced) before a change is made.
        ChangeStart = "change.start",
        ChangeEnd = "change.end",
        ChangeSimulated = "change.simulated",
        ChangeInjected = "change.injected",
        ChangeSkip = "change.skip",
        ChangeAbort = "change.abort",
        ChangeReplayed = "change.replayed",
        Probe = "probe",
        Prompt = "prompt",
        Inspect = "inspect",
        Lock = "lock",
        Output = "output",
        Error = "error",
        UndoRegister = "undo.register",
        UndoStart = "undo.start",
        UndoEnd = "undo.end",
        UndoDeclined = "undo.declined",
        /// `fail(msg)` from the script.
        Fail = "fail",
        /// Added by a drill after its run: the faults it injected and where the report went.
        Report = "report",
    }
}

impl AsRef<str> for EventKind {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words are the journal's format: a changed word would make old journals unreadable.
    #[test]
    fn words_are_the_journals_and_round_trip_through_serde() {
        let words: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            words,
            [
                "running",
                "ok",
                "failed",
                "aborted",
                "interrupted",
                "timed out",
                "locked",
                "usage"
            ]
        );
        for s in StepStatus::ALL {
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, s.as_str());
            assert_eq!(serde_json::from_value::<StepStatus>(json).unwrap(), *s);
        }
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(ChangeOutcome::parse("made"), Some(ChangeOutcome::Made));
        let err = serde_json::from_value::<ChangeOutcome>(serde_json::json!("mde")).unwrap_err();
        assert!(
            err.to_string().contains("unknown ChangeOutcome `mde`"),
            "{err}"
        );
    }

    #[test]
    fn only_stopped_runs_resume() {
        let resumable: Vec<RunStatus> = RunStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.is_resumable())
            .collect();
        assert_eq!(
            resumable,
            [
                RunStatus::Failed,
                RunStatus::Aborted,
                RunStatus::Interrupted,
                RunStatus::TimedOut
            ]
        );
    }
}
