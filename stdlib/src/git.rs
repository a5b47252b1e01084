//! The `git` module.

use ripcord_runtime::NativeModule;

pub fn module() -> NativeModule {
    NativeModule::new("git", "")
}
