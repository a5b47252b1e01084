//! Integration tests of the real `ripcord` binary against real SQLite files, git repositories,
//! a systemd user manager and HTTP servers on 127.0.0.1. One test binary (as ripgrep does).

mod support;

mod core;
mod corruption;
mod db;
mod drill;
mod fleet;
mod fleet_ansible;
mod git;
mod history;
mod install;
mod json;
mod language;
mod log_line;
mod notify;
mod package;
mod probe;
mod repl;
mod rhai_compat;
mod runbooks;
mod safety;
mod salvage;
mod security;
mod service;
mod sites;
mod snapshot;
mod sys;
mod terminal;
mod watch;
mod watch_notify;
