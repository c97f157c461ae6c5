//! `vergeflow`: the server and its administration commands in one binary.

use std::process::ExitCode;

/// The server's Rust side allocates through mimalloc, as SQLite does (see `db::configure_sqlite`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    vergeflow::sys::release_freed_memory_at_once();
    match vergeflow::cli::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
