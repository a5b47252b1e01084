//! A stock Rhai host, as a Rhai user would write one: `Engine::new()` and `run_file`.
//! Built by `bench/rhai-eval/run` from the same rhai version and features as ripcord.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: stock-rhai SCRIPT");
        std::process::exit(2);
    };
    let engine = rhai::Engine::new();
    if let Err(e) = engine.run_file(path.into()) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
