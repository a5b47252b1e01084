//! `ripcord`: run incident runbooks written in Rhai. Everything happens in `app`.

mod app;
mod cli;
mod command;
mod demo;
mod error;
mod files;
mod machine;
mod shipped;

fn main() {
    std::process::exit(app::main());
}
