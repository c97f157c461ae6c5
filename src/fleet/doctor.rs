//! `vergeflow doctor`: checks the data folder and says what is wrong, shop by shop.
//!
//! Read-only and safe beside a running server: shop files are opened with SQLite (the locking mode
//! the server uses), never read by other code, and never written. In exclusive locking a file the
//! server has open cannot be opened by anyone else; such shops are reported as skipped. Repairs
//! (`--repair`, in the CLI) go through the same task code the server's job queue runs.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::db::{self, migrations};
use crate::tenancy::files::{self, DataFile};
use crate::tenancy::registry::{self, ClientStatus};

/// One thing found wrong (or worth knowing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    /// `error` (exit 1) or `warning`.
    pub severity: String,
    /// What kind: `main_db`, `missing_file`, `corrupt`, `wrong_file`, `behind`, `ahead`,
    /// `ledger_mismatch`, `migration_failed`, `lifecycle`, `building_file`, `orphan`, `stray_copy`,
    /// `unknown_region`, `disk`, `open_files`, `locked`.
    pub check: String,
    pub client_id: Option<i64>,
    /// The file concerned when there is one: its name inside the data folder, its whole path in a
    /// region's folder.
    pub file: Option<String>,
    pub detail: String,
    /// What `--repair` did about it.
    pub repaired: Option<String>,
}

impl Finding {
    fn error(check: &str, client_id: Option<i64>, detail: impl Into<String>) -> Self {
        Finding {
            severity: "error".into(),
            check: check.into(),
            client_id,
            file: None,
            detail: detail.into(),
            repaired: None,
        }
    }
    fn warning(check: &str, client_id: Option<i64>, detail: impl Into<String>) -> Self {
        Finding { severity: "warning".into(), ..Finding::error(check, client_id, detail) }
    }
    fn file(mut self, name: &str) -> Self {
        self.file = Some(name.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == "error" && self.repaired.is_none()
    }
}

/// Everything a doctor run found.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub data_dir: String,
    pub target_version: i64,
    /// Shops in the registry, and those whose files were opened and checked.
    pub shops: usize,
    pub shop_files_checked: usize,
    pub disk_free_bytes: u64,
    pub disk_total_bytes: u64,
    pub open_file_limit: u64,
    pub connection_budget: usize,
    pub max_open_shops: usize,
    /// A server owned the data folder while this ran.
    pub server_running: bool,
    pub findings: Vec<Finding>,
    pub seconds: f64,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }
}

/// Checks main.db, every shop file, the files in the data folder, disk space and the open-file
/// limit. `threads` shop files are checked at once.
pub fn examine(settings: &Settings, main: &Connection, server_running: bool, threads: usize) -> anyhow::Result<Report> {
    let started = Instant::now();
    let dir = &settings.data_dir;
    let target = migrations::latest_client_version();
    let mut report = Report {
        data_dir: dir.display().to_string(),
        target_version: target,
        server_running,
        connection_budget: settings.shop_budget.connections,
        max_open_shops: settings.max_open_clients,
        ..Report::default()
    };
    let findings = &mut report.findings;

    let check: String = main.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        findings.push(Finding::error("main_db", None, format!("main.db fails quick_check: {check}")).file("main.db"));
    }

    let clients = registry::all_with_status(
        main,
        &[ClientStatus::Provisioning, ClientStatus::Active, ClientStatus::Suspended, ClientStatus::Deleting],
    )?;
    report.shops = clients.len();
    let known: HashSet<i64> = clients.iter().map(|c| c.id).collect();
    let mut served = Vec::new();
    for c in &clients {
        match c.status {
            ClientStatus::Active | ClientStatus::Suspended => served.push(c.clone()),
            other => {
                let detail = if server_running {
                    format!("the shop is {} (the running server finishes this)", other.as_str())
                } else {
                    format!("a {} the last stop interrupted; the next start (or --repair) finishes it", other.as_str())
                };
                findings.push(if server_running {
                    Finding::warning("lifecycle", Some(c.id), detail)
                } else {
                    Finding::error("lifecycle", Some(c.id), detail)
                });
            }
        }
    }

    // Every served shop's file, a few at a time.
    let next = AtomicUsize::new(0);
    let found = Mutex::new((Vec::new(), 0usize));
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, 16).min(served.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(client) = served.get(i) else { break };
                    let (shop_findings, opened) = check_shop(settings, client);
                    let mut f = found.lock().unwrap_or_else(|e| e.into_inner());
                    f.0.extend(shop_findings);
                    f.1 += usize::from(opened);
                }
            });
        }
    });
    let (shop_findings, checked) = found.into_inner().unwrap_or_else(|e| e.into_inner());
    findings.extend(shop_findings);
    report.shop_files_checked = checked;

    // Files in the data folder and every region's that belong to no shop, copies a move left
    // behind, and half-built files.
    let regions = crate::tenancy::regions::Regions::new(dir.clone(), settings.storage_roots.clone());
    let home_of = |id: i64| {
        let region = clients.iter().find(|c| c.id == id).and_then(|c| c.region.as_deref());
        regions.dir(region).map(std::path::Path::to_path_buf)
    };
    for (_, root) in regions.all_dirs() {
        let Ok(entries) = std::fs::read_dir(root) else { continue };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        let shown =
            |name: &str| if root == dir.as_path() { name.to_string() } else { root.join(name).display().to_string() };
        for name in &names {
            match files::classify(name) {
                DataFile::Client(id) | DataFile::ClientSidecar(id)
                    if known.contains(&id) && home_of(id).is_some_and(|home| home != root) =>
                {
                    findings.push(
                        Finding::error(
                            "stray_copy",
                            Some(id),
                            "a copy of the shop's file outside the folder its region names (a move a stop \
                             interrupted); the next start, or --repair, removes it",
                        )
                        .file(&shown(name)),
                    )
                }
                DataFile::Client(id) if !known.contains(&id) => findings.push(
                    Finding::error(
                        "orphan",
                        Some(id),
                        "a shop file no registry row names; --repair moves it to orphans/",
                    )
                    .file(&shown(name)),
                ),
                DataFile::ClientSidecar(id) if !known.contains(&id) || !files::client_path(root, id).exists() => {
                    findings.push(
                        Finding::error(
                            "orphan",
                            Some(id),
                            "a -wal/-shm file whose database is gone; --repair moves it aside",
                        )
                        .file(&shown(name)),
                    )
                }
                DataFile::Building(id) if !server_running => findings.push(
                    Finding::error(
                        "building_file",
                        Some(id),
                        "a half-built file a stop interrupted; --repair removes it",
                    )
                    .file(&shown(name)),
                ),
                _ => {}
            }
        }
    }

    let (free, total) = crate::sys::disk_space(dir)?;
    report.disk_free_bytes = free;
    report.disk_total_bytes = total;
    let mib = |b: u64| b / (1024 * 1024);
    if free < crate::observability::routes::MIN_FREE_BYTES {
        findings.push(Finding::error("disk", None, format!("only {} MiB free: writes will fail with 507", mib(free))));
    } else if free < total / 10 {
        findings.push(Finding::warning("disk", None, format!("{} MiB free of {} MiB", mib(free), mib(total))));
    }

    report.open_file_limit = crate::sys::raise_fd_limit();
    let budget = settings.shop_budget;
    if settings.max_open_clients > budget.connections {
        findings.push(Finding::warning(
            "open_files",
            None,
            format!(
                "VERGEFLOW_MAX_OPEN_CLIENTS ({}) is above the connection budget ({}, from the open-file limit {} and \
                 the memory budget): pools are closed early to stay within it",
                settings.max_open_clients, budget.connections, report.open_file_limit
            ),
        ));
    }
    if budget.connections < 256 {
        findings.push(Finding::warning(
            "open_files",
            None,
            format!(
                "only {} shop connections fit the open-file limit {}: raise it (LimitNOFILE=65536 in the systemd unit)",
                budget.connections, report.open_file_limit
            ),
        ));
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// One served shop: file present, SQLite opens it, `quick_check`, stamp, version against the
/// ledger and this binary. Returns the findings and whether the file could be opened.
fn check_shop(settings: &Settings, client: &registry::Client) -> (Vec<Finding>, bool) {
    let id = client.id;
    let name = files::client_file_name(id);
    let regions = crate::tenancy::regions::Regions::new(settings.data_dir.clone(), settings.storage_roots.clone());
    let Some(dir) = regions.dir(client.region.as_deref()) else {
        let detail = format!(
            "the shop lives in region '{}', which VERGEFLOW_STORAGE_ROOTS does not name: the server will not start",
            client.region.as_deref().unwrap_or_default()
        );
        return (vec![Finding::error("unknown_region", Some(id), detail)], false);
    };
    let path = files::client_path(dir, id);
    let target = migrations::latest_client_version();
    let mut out = Vec::new();
    if let Some(error) = &client.migration_error {
        out.push(Finding::error("migration_failed", Some(id), format!("last migration failed: {error}")).file(&name));
    }
    if !path.exists() {
        out.push(
            Finding::error(
                "missing_file",
                Some(id),
                "the shop file is missing; --repair restores the newest verified backup",
            )
            .file(&name),
        );
        return (out, false);
    }
    let opened = (|| -> rusqlite::Result<(String, i64, i64)> {
        let conn = db::open_shop_file(&path, settings.shop_locking, 256, std::time::Duration::from_millis(500))?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        let stamp: i64 = conn.query_row("SELECT client_id FROM shop WHERE id = 1", [], |r| r.get(0))?;
        let version = migrations::client_version(&conn)?;
        Ok((check, stamp, version))
    })();
    let (check, stamp, version) = match opened {
        Ok(v) => v,
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) =>
        {
            out.push(
                Finding::warning("locked", Some(id), "held by the running server (exclusive locking): not checked")
                    .file(&name),
            );
            return (out, false);
        }
        Err(e) => {
            out.push(
                Finding::error(
                    "corrupt",
                    Some(id),
                    format!("SQLite cannot read it ({e}); --repair restores the newest verified backup"),
                )
                .file(&name),
            );
            return (out, false);
        }
    };
    if check != "ok" {
        out.push(
            Finding::error(
                "corrupt",
                Some(id),
                format!("quick_check: {check}; --repair restores the newest verified backup"),
            )
            .file(&name),
        );
    } else if stamp != id {
        out.push(
            Finding::error(
                "wrong_file",
                Some(id),
                format!("the file belongs to shop {stamp}; --repair restores this shop's backup"),
            )
            .file(&name),
        );
    }
    if version != client.schema_version {
        out.push(
            Finding::error(
                "ledger_mismatch",
                Some(id),
                format!(
                    "the file is at version {version}, the ledger says {}; --repair records (and migrates) it",
                    client.schema_version
                ),
            )
            .file(&name),
        );
    }
    if version < target && client.migration_error.is_none() {
        out.push(
            Finding::warning(
                "behind",
                Some(id),
                format!("version {version}, this binary serves {target}: migrated on its first request, or by `vergeflow migrate`"),
            )
            .file(&name),
        );
    } else if version > target {
        out.push(
            Finding::error(
                "ahead",
                Some(id),
                format!("version {version} is newer than this binary's {target}: run a newer VergeFlow"),
            )
            .file(&name),
        );
    }
    (out, true)
}
