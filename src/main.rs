//! `vergeflow`: the server and its administration commands in one binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    match vergeflow::cli::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
