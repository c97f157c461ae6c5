//! Online backups of shop files and `main.db`, restore, and export/import of a shop.
//!
//! Layout under the backup folder (`<data>/backups` or `VERGEFLOW_BACKUP_DIR`):
//! ```text
//! client_<id>/<name>.db     a verified copy of the shop file (rollback journal, one file)
//! client_<id>/<name>.json   its manifest: when, size, schema version, SHA-256, source fingerprint
//! client_<id>/.tmp-*        a backup being written; never listed, removed at start-up
//! main/<name>.db|.json      the same for main.db
//! deleted/client_<id>/…     final backups of deleted shops, purged after VERGEFLOW_FINAL_BACKUP_DAYS
//! ```
//! A backup is published by renaming its file into place after its manifest: a name is listed only
//! when both exist, so a crash never lists a half-written backup.

pub mod batch;
pub mod retention;
pub mod routes;
pub mod store;
pub mod swap;
pub mod transfer;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Prefix of files being written; never listed.
pub const TMP_PREFIX: &str = ".tmp-";

/// Why a backup was made; the first part of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    Manual,
    Scheduled,
    PreRestore,
    Final,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
            Self::PreRestore => "pre-restore",
            Self::Final => "final",
        }
    }
}

/// What a backup is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Client(i64),
    Main,
}

impl Source {
    pub fn folder(self, backup_dir: &Path) -> PathBuf {
        match self {
            Self::Client(id) => backup_dir.join(format!("client_{id}")),
            Self::Main => backup_dir.join("main"),
        }
    }
}

/// A backup name as it appears in URLs: `<kind>-<yyyymmddThhmmssmmmZ>[-n]`. Anything else is not a
/// name of ours, so no path can be smuggled through it.
pub fn is_valid_name(name: &str) -> bool {
    let rest = ["manual-", "scheduled-", "pre-restore-", "final-"].iter().find_map(|p| name.strip_prefix(p));
    let Some(rest) = rest else { return false };
    let (stamp, suffix) = rest.split_at(rest.len().min(19));
    let stamp_ok = stamp.len() == 19
        && stamp.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            18 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    let suffix_ok = suffix.is_empty()
        || suffix
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()));
    stamp_ok && suffix_ok
}

/// Parses a schedule interval: `30m`, `6h`, `1d`, `1w`, or `off` (no scheduled backups).
pub fn parse_every(raw: &str) -> Result<Option<std::time::Duration>, String> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let digits: String = raw.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("'{raw}': expected e.g. 30m, 6h, 1d, 1w or off"))?;
    let unit = match &raw[digits.len()..] {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("'{raw}': expected e.g. 30m, 6h, 1d, 1w or off")),
    };
    let secs = n
        .checked_mul(unit)
        .filter(|s| (300..=366 * 86_400).contains(s))
        .ok_or_else(|| format!("'{raw}': the interval must be between 5 minutes and a year"))?;
    Ok(Some(std::time::Duration::from_secs(secs)))
}

/// The manifest written beside each backup.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "manual-20261128T193500123Z", "kind": "manual",
    "created_at": "2026-11-28T19:35:00Z", "size_bytes": 286720, "schema_version": 3, "verified": true}))]
pub struct BackupInfo {
    pub name: String,
    pub kind: BackupKind,
    pub created_at: String,
    pub size_bytes: u64,
    pub schema_version: i64,
    /// Passed `integrity_check`, the shop stamp and the schema check when it was written.
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schemars(skip)]
    pub client_id: Option<i64>,
    #[serde(default)]
    #[schemars(skip)]
    pub sha256: String,
    /// The source file's size and modification times when the copy began; a later run with the same
    /// fingerprint has nothing new to copy.
    #[serde(default)]
    #[schemars(skip)]
    pub fingerprint: Option<store::Fingerprint>,
}

#[cfg(test)]
mod tests {
    use super::is_valid_name;

    #[test]
    fn names_are_ours_or_nothing() {
        assert!(is_valid_name("manual-20261128T193500123Z"));
        assert!(is_valid_name("pre-restore-20261128T193500123Z-2"));
        for bad in [
            "",
            "../client_2/manual-20261128T193500123Z",
            "manual-20261128T193500123Z.db",
            "manual-20261128T193500123Z/../../x",
            "/etc/passwd",
            "other-20261128T193500123Z",
            "manual-2026112XT193500123Z",
            "manual-20261128T193500123Z-",
            "manual-20261128T193500123Z-12345",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
