//! One process at a time owns the data folder's shop files: the server for its lifetime, or a CLI
//! command while no server runs. A CLI command that finds the server holding the lock hands its
//! work to the server through the job queue instead of touching files the server has open.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// Folder (inside the data folder) holding the lock file.
pub const RUN_DIR: &str = "run";

/// Held for as long as this process owns the data folder; released on drop or process death.
pub struct DataLock {
    _file: File,
}

/// Who owns the folder when we could not take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Server(String),
    Cli(String),
}

fn open(data_dir: &Path) -> anyhow::Result<File> {
    let dir = data_dir.join(RUN_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("vergeflow.lock");
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Takes the lock if it is free; otherwise says who holds it.
pub fn try_acquire(data_dir: &Path, role: &str) -> anyhow::Result<Result<DataLock, Holder>> {
    let mut file = open(data_dir)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{role} {}", std::process::id())?;
            file.sync_all()?;
            Ok(Ok(DataLock { _file: file }))
        }
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            file.read_to_string(&mut text)?;
            let text = text.trim().to_string();
            Ok(Err(if text.starts_with("serve") { Holder::Server(text) } else { Holder::Cli(text) }))
        }
        Err(TryLockError::Error(e)) => Err(e).context("locking the data folder"),
    }
}

/// Whether some process holds the data folder's lock right now (checked by taking it for a moment).
pub fn is_held(data_dir: &Path) -> anyhow::Result<bool> {
    let file = open(data_dir)?;
    match file.try_lock() {
        Ok(()) => {
            file.unlock().context("unlocking the data folder")?;
            Ok(false)
        }
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e).context("locking the data folder"),
    }
}

/// "pid 1234" from a lock file's `<role> <pid>` line.
pub fn describe_holder(line: &str) -> String {
    match line.split_whitespace().nth(1) {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".into(),
    }
}

/// Waits up to `timeout` for the lock.
pub fn acquire(data_dir: &Path, role: &str, timeout: Duration) -> anyhow::Result<DataLock> {
    let deadline = Instant::now() + timeout;
    loop {
        match try_acquire(data_dir, role)? {
            Ok(lock) => return Ok(lock),
            Err(Holder::Server(line) | Holder::Cli(line)) if Instant::now() >= deadline => {
                anyhow::bail!(
                    "the data folder {} is in use by another vergeflow process ({})",
                    data_dir.display(),
                    describe_holder(&line)
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
