//! ripcord's native modules, one file per module. Each file declares its functions once
//! (`NativeModule::function` with a `Decl`) and goes through the runtime's `Host` for every
//! read, probe and change.

pub mod db;
pub mod env;
pub mod fs;
pub mod git;
pub mod json;
pub mod log;
pub mod notify;
mod options;
pub mod probe;
pub mod service;
pub mod sh;
pub mod sys;
pub mod time;
pub mod toml;

use ripcord_runtime::NativeModule;

/// Every native module, in the order `ripcord doc` lists them.
pub fn modules() -> Vec<NativeModule> {
    vec![
        fs::module(),
        sh::module(),
        time::module(),
        env::module(),
        log::module(),
        json::module(),
        toml::module(),
        db::module(),
        git::module(),
        service::module(),
        probe::module(),
        sys::module(),
        notify::module(),
    ]
}
