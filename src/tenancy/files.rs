//! Where a shop's files live and how they are safely removed or set aside.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The suffixes SQLite adds beside a database file.
pub const SIDECARS: [&str; 3] = ["-wal", "-shm", "-journal"];
/// Suffix of a shop file while it is being built; never served, removed if found at start-up.
pub const BUILDING_SUFFIX: &str = ".building";
/// Folder (inside the data folder) where files that belong to no shop are moved.
pub const ORPHANS_DIR: &str = "orphans";

pub fn client_file_name(id: i64) -> String {
    format!("client_{id}.db")
}

pub fn client_path(data_dir: &Path, id: i64) -> PathBuf {
    data_dir.join(client_file_name(id))
}

pub fn building_path(data_dir: &Path, id: i64) -> PathBuf {
    data_dir.join(format!("client_{id}.db{BUILDING_SUFFIX}"))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The newest modification of a shop's file or its WAL: no write to the shop happened after it.
pub fn last_write(path: &Path) -> Option<std::time::SystemTime> {
    let wal = with_suffix(path, "-wal");
    [path, wal.as_path()].iter().filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).max()
}

/// The database and its sidecars.
pub fn family(path: &Path) -> Vec<PathBuf> {
    std::iter::once(path.to_path_buf()).chain(SIDECARS.iter().map(|s| with_suffix(path, s))).collect()
}

/// What a file in the data folder is, judged by its name.
#[derive(Debug, PartialEq, Eq)]
pub enum DataFile {
    /// `client_<id>.db`
    Client(i64),
    /// `client_<id>.db-wal` and friends
    ClientSidecar(i64),
    /// `client_<id>.db.building` and its sidecars
    Building(i64),
    Other,
}

pub fn classify(name: &str) -> DataFile {
    let Some(rest) = name.strip_prefix("client_") else { return DataFile::Other };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(id) = digits.parse::<i64>() else { return DataFile::Other };
    match &rest[digits.len()..] {
        ".db" => DataFile::Client(id),
        tail if tail.starts_with(".db.building") => DataFile::Building(id),
        tail if SIDECARS.iter().any(|s| tail == format!(".db{s}")) => DataFile::ClientSidecar(id),
        _ => DataFile::Other,
    }
}

/// Removes a database and its sidecars; missing files are fine. The caller guarantees that no
/// connection to it is open.
pub fn remove_family(path: &Path) -> anyhow::Result<()> {
    for p in family(path) {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Moves a file that belongs to no shop into `orphans/`, stamped so nothing is overwritten.
pub fn move_aside(data_dir: &Path, path: &Path) -> anyhow::Result<PathBuf> {
    let dir = data_dir.join(ORPHANS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("unknown");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut target = dir.join(format!("{stamp}-{name}"));
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{stamp}-{n}-{name}"));
        n += 1;
    }
    std::fs::rename(path, &target).with_context(|| format!("moving {} aside", path.display()))?;
    Ok(target)
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing folder {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify("client_12.db"), DataFile::Client(12));
        assert_eq!(classify("client_12.db-wal"), DataFile::ClientSidecar(12));
        assert_eq!(classify("client_12.db-journal"), DataFile::ClientSidecar(12));
        assert_eq!(classify("client_12.db.building"), DataFile::Building(12));
        assert_eq!(classify("client_12.db.building-wal"), DataFile::Building(12));
        assert_eq!(classify("client_.db"), DataFile::Other);
        assert_eq!(classify("client_1.dbx"), DataFile::Other);
        assert_eq!(classify("main.db"), DataFile::Other);
    }
}
