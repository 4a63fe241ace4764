//! A plugin host process on its own. The daemon starts the same code as
//! `clipshot plugin-host …`; this binary serves this crate's tests and
//! benchmarks, which have no daemon.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match clipshot_plugin_host::sandbox::child::ChildArgs::parse(&args) {
        Ok(host) => ExitCode::from(clipshot_plugin_host::sandbox::child::serve(&host).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
