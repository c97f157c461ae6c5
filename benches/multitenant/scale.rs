//! `--fleet-scale N`: the fleet commands over N shop files, server stopped (the scale figures of
//! the operations issue): `clients list`, a `migrate` with nothing to do, `doctor` with
//! `quick_check` on every file, and the server's start until it listens. The data folder is kept
//! under `--data-base` (`fleet-scale-N/`) and reused by the next run, since making 100,000 shops
//! takes minutes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context as _;

fn timed(what: &str, data: &Path, args: &[&str]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_vergeflow"))
        .args(args)
        .args(["--data-dir", data.to_str().context("utf-8 path")?])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()?;
    let secs = started.elapsed().as_secs_f64();
    let tail: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().rev().take(1).map(str::to_string).collect();
    eprintln!("  {what}: {secs:.2} s (exit {:?}) {}", out.status.code(), tail.join(""));
    anyhow::ensure!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(secs)
}

pub fn run(count: usize, base: &str) -> anyhow::Result<()> {
    let root = Path::new(base).join(format!("fleet-scale-{count}"));
    let data = root.join("data");
    if data.join("main.db").exists() {
        eprintln!("reusing {} ({count} shops)", data.display());
    } else {
        std::fs::create_dir_all(&root)?;
        eprintln!("making {count} shops in {}", data.display());
        super::setup::provision(&data, count, 0, 0)?;
    }
    let bytes: u64 =
        std::fs::read_dir(&data)?.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum();
    eprintln!("{count} shops, {:.1} GB in the data folder; the server is stopped", bytes as f64 / 1e9);
    let list = timed("clients list", &data, &["clients", "list", "--json"])?;
    let migrate = timed("migrate (nothing to do)", &data, &["migrate"])?;
    let doctor = timed("doctor (quick_check on every file)", &data, &["doctor", "--json"])?;
    // The server's start, until it listens.
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vergeflow"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir", data.to_str().context("utf-8 path")?])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().context("stdout")?));
    for line in lines.by_ref() {
        if line?.contains("listening on") {
            break;
        }
    }
    let start = started.elapsed().as_secs_f64();
    child.kill()?;
    child.wait()?;
    println!(
        "fleet scale, {count} shops: clients list {list:.2} s; migrate with nothing to do {migrate:.2} s (≤ 60: {}); \
         doctor {doctor:.1} s (≤ 300: {}); server start {start:.2} s",
        super::yes(migrate <= 60.0),
        super::yes(doctor <= 300.0)
    );
    Ok(())
}
