//! The `service` module.

use ripcord_runtime::NativeModule;

pub fn module() -> NativeModule {
    NativeModule::new("service", "")
}
