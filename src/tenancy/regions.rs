//! Regions (data residency): `VERGEFLOW_STORAGE_ROOTS=eu=/srv/eu,us=/srv/us` names folders a shop
//! file may live in; a shop without a region lives in the data folder. The registry's
//! `clients.region` is the truth; this keeps where each shop lives in memory so finding a shop's
//! file costs no query, and is updated by whatever changes the registry (creation, move, deletion).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;
use rusqlite::Connection;

use super::files;

pub struct Regions {
    data_dir: PathBuf,
    roots: Vec<(String, PathBuf)>,
    /// Shops that live in a named root: client id → index into `roots`.
    placed: RwLock<HashMap<i64, usize>>,
}

/// A region name: 1–32 of `a-z`, `0-9` and `-`, starting with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=32).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Parses `eu=/srv/eu,us=/srv/us` (spaces around items allowed; empty: no regions).
pub fn parse_roots(raw: &str) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut roots: Vec<(String, PathBuf)> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((name, path)) = item.split_once('=') else {
            anyhow::bail!("'{item}' is not name=folder (e.g. eu=/srv/eu)");
        };
        let (name, path) = (name.trim(), path.trim());
        if !valid_name(name) {
            anyhow::bail!("region name '{name}' must be 1 to 32 of a-z, 0-9 and -");
        }
        if path.is_empty() {
            anyhow::bail!("region '{name}' has no folder");
        }
        if roots.iter().any(|(n, _)| n == name) {
            anyhow::bail!("region '{name}' is named twice");
        }
        roots.push((name.to_string(), PathBuf::from(path)));
    }
    Ok(roots)
}

impl Regions {
    pub fn new(data_dir: PathBuf, roots: Vec<(String, PathBuf)>) -> Self {
        Self { data_dir, roots, placed: RwLock::default() }
    }

    /// The configured region names, in the order given.
    pub fn names(&self) -> Vec<String> {
        self.roots.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The folder of a region (`None`: the data folder); `None` back for an unknown name.
    pub fn dir(&self, region: Option<&str>) -> Option<&Path> {
        match region {
            None => Some(&self.data_dir),
            Some(name) => self.roots.iter().find(|(n, _)| n == name).map(|(_, p)| p.as_path()),
        }
    }

    /// Every folder shop files may live in: the data folder first, then each region's.
    pub fn all_dirs(&self) -> Vec<(Option<&str>, &Path)> {
        std::iter::once((None, self.data_dir.as_path()))
            .chain(self.roots.iter().map(|(n, p)| (Some(n.as_str()), p.as_path())))
            .collect()
    }

    /// The region shop `id` lives in (`None`: the data folder).
    pub fn region_of(&self, id: i64) -> Option<String> {
        self.placed.read().get(&id).map(|&i| self.roots[i].0.clone())
    }

    /// The folder shop `id`'s file lives in.
    pub fn dir_of(&self, id: i64) -> PathBuf {
        match self.placed.read().get(&id) {
            Some(&i) => self.roots[i].1.clone(),
            None => self.data_dir.clone(),
        }
    }

    /// Shop `id`'s file.
    pub fn path_of(&self, id: i64) -> PathBuf {
        files::client_path(&self.dir_of(id), id)
    }

    /// Records where shop `id` lives, after the registry says so. An unknown region is an error.
    pub fn place(&self, id: i64, region: Option<&str>) -> anyhow::Result<()> {
        let mut placed = self.placed.write();
        match region {
            None => {
                placed.remove(&id);
            }
            Some(name) => {
                let i = self.roots.iter().position(|(n, _)| n == name).ok_or_else(|| {
                    anyhow::anyhow!("client {id} lives in region '{name}', which VERGEFLOW_STORAGE_ROOTS does not name")
                })?;
                placed.insert(id, i);
            }
        }
        Ok(())
    }

    /// Loads every shop's region from the registry. Returns the shops that live in a region this
    /// configuration does not name (the server refuses to start with any: their files would look
    /// missing; `doctor` reports them).
    pub fn load(&self, main: &Connection) -> anyhow::Result<Vec<(i64, String)>> {
        let mut stmt = main.prepare("SELECT id, region FROM clients WHERE region IS NOT NULL")?;
        let rows: Vec<(i64, String)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        let (mut fresh, mut unknown) = (HashMap::new(), Vec::new());
        for (id, name) in rows {
            match self.roots.iter().position(|(n, _)| *n == name) {
                Some(i) => {
                    fresh.insert(id, i);
                }
                None => unknown.push((id, name)),
            }
        }
        *self.placed.write() = fresh;
        Ok(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_parse_and_shops_are_placed() {
        assert!(parse_roots("").unwrap().is_empty());
        let roots = parse_roots(" eu=/srv/eu , us-east=/srv/us ").unwrap();
        assert_eq!(roots, vec![("eu".into(), PathBuf::from("/srv/eu")), ("us-east".into(), PathBuf::from("/srv/us"))]);
        for bad in ["eu", "EU=/x", "eu=", "eu=/a,eu=/b", "-x=/a", "a b=/x"] {
            assert!(parse_roots(bad).is_err(), "{bad}");
        }
        let regions = Regions::new(PathBuf::from("/data"), roots);
        assert_eq!(regions.path_of(7), PathBuf::from("/data/client_7.db"));
        regions.place(7, Some("eu")).unwrap();
        assert_eq!(
            (regions.path_of(7), regions.region_of(7)),
            (PathBuf::from("/srv/eu/client_7.db"), Some("eu".into()))
        );
        assert!(regions.place(8, Some("mars")).is_err());
        regions.place(7, None).unwrap();
        assert_eq!(regions.dir_of(7), PathBuf::from("/data"));
        assert_eq!(regions.dir(Some("us-east")), Some(Path::new("/srv/us")));
        assert_eq!(regions.dir(Some("mars")), None);
    }
}
