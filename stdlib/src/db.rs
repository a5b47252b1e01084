//! The `db` module.

use ripcord_runtime::NativeModule;

pub fn module() -> NativeModule {
    NativeModule::new("db", "")
}
