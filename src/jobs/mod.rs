//! The job queue on main.db and the server's background workers. The CLI hands work that touches
//! shop files to a running server through it; the API answers 202 with the job for long work; mail
//! and webhook deliveries go out through it with retries.
//!
//! A job for one shop carries its `client_id` and opens that shop's file only. A job left running
//! by a crash runs again at the next start, so every kind is safe to repeat:
//! - `create_client`: reconciliation finishes the interrupted provisioning; a rerun that finds the
//!   shop it made (same subdomain, an admin with the very password hash of its payload) returns it.
//! - `delete_client`: reconciliation finishes a deletion in `deleting`; a rerun that finds the shop
//!   gone reports it deleted.
//! - `migrate_clients`, `scheduled_backups`, `backup_all`: driven by the ledger and file
//!   fingerprints, so shops already done are skipped.
//! - `backup_client`: a rerun makes a fresh backup (the unfinished copy is removed at start-up).
//! - `restore_client`: a rerun restores the same backup again; the shop ends with the same data.
//! - `repair_client`: does nothing when the file is whole.
//! - `export_client`: writes the export again (to a temporary name, renamed at the end).
//! - `import_client`: reconciliation finishes or rolls back the import; a rerun after a finished
//!   one fails with 409 `subdomain_taken`: the shop exists once, never twice.
//! - `send_mail`: the outbox row says whether it went; a message a crash interrupted mid-SMTP may
//!   arrive twice (SMTP has no idempotence key), never zero times.
//! - `deliver_webhook`: the delivery row says whether it was acknowledged; receivers deduplicate by
//!   the event `id`, which stays the same on every attempt.
//! - `prune`, `auto_cancel_orders`: deleting what is expired and cancelling what is overdue find
//!   nothing the second time.
//! - `notify`: expanded into mail and deliveries in the same transaction that marks it done, so
//!   a rerun after a crash either expands it (it had not been) or never runs (it was).

pub mod queue;
pub mod routes;
pub mod worker;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backups::{self, BackupKind};
use crate::error::AppError;
use crate::state::AppState;
use crate::tenancy::lifecycle::{self, NewClient};

/// Queues `task` (with its shop and attempt budget) and wakes a worker.
pub fn enqueue(conn: &rusqlite::Connection, task: &Task) -> Result<i64, AppError> {
    enqueue_in_batch(conn, task, None)
}

pub fn enqueue_in_batch(conn: &rusqlite::Connection, task: &Task, batch_id: Option<i64>) -> Result<i64, AppError> {
    let payload = serde_json::to_string(task).map_err(anyhow::Error::from)?;
    let id = queue::push(
        conn,
        &queue::NewJob {
            kind: task.kind(),
            payload: &payload,
            client_id: task.client_id(),
            max_attempts: task.max_attempts(),
            batch_id,
        },
    )?;
    worker::wake_for(task.kind());
    Ok(id)
}

/// Work the queue can carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    CreateClient(NewClient),
    DeleteClient {
        client_id: i64,
        /// Keep an export of the shop under `<backups>/deleted/` for VERGEFLOW_FINAL_BACKUP_DAYS.
        #[serde(default)]
        final_backup: bool,
    },
    /// Pending client migrations on every active or suspended shop behind (by the ledger), or
    /// only one; `canary` first, stopping if it fails.
    MigrateClients {
        client_id: Option<i64>,
        #[serde(default)]
        canary: Option<i64>,
    },
    /// An online backup of one shop.
    BackupClient {
        client_id: i64,
    },
    /// Every active shop and main.db; unchanged shops are skipped unless `force`.
    BackupAll {
        #[serde(default)]
        force: bool,
    },
    /// The shops whose backup schedule is due, and main.db.
    ScheduledBackups,
    RestoreClient {
        client_id: i64,
        name: String,
    },
    /// Moves a shop's file to another region (`None`: the data folder).
    MoveClient {
        client_id: i64,
        region: Option<String>,
    },
    /// Puts a missing or damaged shop file back from its newest verified backup (`doctor --repair`).
    RepairClient {
        client_id: i64,
    },
    /// Writes a shop's export to a path on this machine (the CLI's `clients export`).
    ExportClient {
        client_id: i64,
        out: PathBuf,
    },
    /// Imports an export file from a path on this machine (the CLI's `clients import`).
    ImportClient {
        path: PathBuf,
        subdomain: Option<String>,
    },
    /// Sends one message of the mail outbox.
    SendMail {
        mail_id: i64,
        #[serde(default)]
        client_id: Option<i64>,
    },
    /// A "forgot password" request: mails a reset token if the account exists.
    PasswordReset {
        client_id: Option<i64>,
        email: String,
    },
    /// One attempt at one webhook delivery.
    DeliverWebhook {
        client_id: i64,
        delivery_id: i64,
    },
    /// What a checkout, a status change or a sign-up causes (mail, webhooks), expanded by the
    /// message lane.
    Notify {
        client_id: i64,
        notice: crate::events::Notice,
    },
    /// Drops what has expired (the `prune` schedule).
    Prune,
    /// Reads watched Stripe payments back from Stripe (`payments::reconcile`).
    ReconcilePayments,
    /// Applies a catalogue CSV stored in the shop's `catalog_imports` (resumes where it stopped).
    ImportCatalog {
        client_id: i64,
        import_id: i64,
    },
    /// Stores a CSV file from this machine as a shop's catalogue import and applies it (the CLI's
    /// `catalog import`; run again, it applies the same rows again to the same result).
    ImportCatalogFile {
        client_id: i64,
        path: PathBuf,
        #[serde(default)]
        dry_run: bool,
    },
    /// Writes a shop's catalogue CSV to a path on this machine (the CLI's `catalog export`).
    ExportCatalog {
        client_id: i64,
        out: PathBuf,
    },
    /// Does nothing but report how long it waited: the benchmark's trivial job.
    #[cfg(feature = "bench-hooks")]
    Noop {
        /// When it was queued, µs since the Unix epoch.
        queued_us: u64,
    },
    /// Cancels unpaid orders past their waiting time: one shop's (its own schedule) or every
    /// shop's following the global one. `since`: the schedule's previous run.
    AutoCancelOrders {
        client_id: Option<i64>,
        #[serde(default)]
        since: Option<String>,
    },
}

impl Task {
    /// The shop this job works on (it opens that shop's file and no other), if any.
    pub fn client_id(&self) -> Option<i64> {
        match self {
            Task::DeleteClient { client_id, .. }
            | Task::BackupClient { client_id }
            | Task::RestoreClient { client_id, .. }
            | Task::RepairClient { client_id }
            | Task::MoveClient { client_id, .. }
            | Task::ExportClient { client_id, .. }
            | Task::ImportCatalog { client_id, .. }
            | Task::ImportCatalogFile { client_id, .. }
            | Task::ExportCatalog { client_id, .. }
            | Task::DeliverWebhook { client_id, .. }
            | Task::Notify { client_id, .. } => Some(*client_id),
            Task::MigrateClients { client_id, .. }
            | Task::SendMail { client_id, .. }
            | Task::PasswordReset { client_id, .. }
            | Task::AutoCancelOrders { client_id, .. } => *client_id,
            _ => None,
        }
    }

    /// Attempts before the job is failed for good; retries wait with exponential backoff and are
    /// made only for transient errors (5xx-kind), never for a refusal such as a 404 or 409.
    pub fn max_attempts(&self) -> i64 {
        match self {
            Task::BackupClient { .. }
            | Task::PasswordReset { .. }
            | Task::Prune
            | Task::AutoCancelOrders { .. }
            | Task::ImportCatalog { .. }
            | Task::Notify { .. } => 3,
            Task::SendMail { .. } => crate::mail::MAX_ATTEMPTS,
            Task::DeliverWebhook { .. } => crate::webhooks::MAX_ATTEMPTS,
            _ => 1,
        }
    }

    /// Long jobs whose units of work are counted in a batch (`GET /api/super-admin/batches/{id}`).
    pub fn is_batch(&self) -> bool {
        matches!(
            self,
            Task::BackupAll { .. }
                | Task::ScheduledBackups
                | Task::MigrateClients { client_id: None, .. }
                | Task::AutoCancelOrders { client_id: None, .. }
        )
    }

    /// Bookkeeping of a successful attempt, written in the same transaction that marks the job
    /// done (so a mail is marked sent, a delivery delivered, exactly when its job is).
    pub fn on_success(&self, tx: &rusqlite::Connection, result: &serde_json::Value) -> Result<(), AppError> {
        match self {
            Task::SendMail { mail_id, .. } if result["outcome"] == "sent" => crate::mail::mark_sent(tx, *mail_id)?,
            Task::Notify { client_id, notice } => crate::events::expand(tx, *client_id, notice)?,
            Task::DeliverWebhook { delivery_id, .. } if result["outcome"] == "delivered" => {
                let (webhook_id, status) =
                    (result["webhook_id"].as_i64().unwrap_or(0), result["status"].as_u64().unwrap_or(0));
                crate::webhooks::store::delivered(tx, *delivery_id, webhook_id, status as u16)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Called once when the job failed for good (no attempt left, or a final error).
    pub fn gave_up(&self, state: &AppState, err: &AppError) {
        let Ok(conn) = state.main.get() else { return };
        match self {
            Task::SendMail { mail_id, .. } => {
                let _ = crate::mail::mark_failed(&conn, *mail_id, &err.to_string());
                tracing::error!(mail_id, error = %err, "mail given up after its last attempt");
            }
            Task::DeliverWebhook { delivery_id, .. } => {
                let _ = crate::webhooks::store::mark_failed(&conn, *delivery_id, &err.to_string());
            }
            Task::ImportCatalog { client_id, import_id } => {
                if let Ok(db) = state.tenancy.pools.checkout(*client_id)
                    && let Ok(shop) = db.get()
                {
                    let _ = shop.execute(
                        "UPDATE catalog_imports SET status = 'failed', error = ?2, csv = x'',
                                finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1 AND status <> 'done'",
                        rusqlite::params![import_id, err.to_string()],
                    );
                }
            }
            _ => {}
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Task::CreateClient(_) => "create_client",
            Task::DeleteClient { .. } => "delete_client",
            Task::MigrateClients { .. } => "migrate_clients",
            Task::BackupClient { .. } => "backup_client",
            Task::BackupAll { .. } => "backup_all",
            Task::ScheduledBackups => "scheduled_backups",
            Task::RestoreClient { .. } => "restore_client",
            Task::RepairClient { .. } => "repair_client",
            Task::MoveClient { .. } => "move_client",
            Task::ExportClient { .. } => "export_client",
            Task::ImportClient { .. } => "import_client",
            Task::ImportCatalog { .. } => "import_catalog",
            Task::ImportCatalogFile { .. } => "import_catalog_file",
            Task::ExportCatalog { .. } => "export_catalog",
            Task::SendMail { .. } => "send_mail",
            Task::PasswordReset { .. } => "password_reset",
            Task::DeliverWebhook { .. } => "deliver_webhook",
            Task::Prune => "prune",
            Task::ReconcilePayments => "reconcile_payments",
            Task::Notify { .. } => "notify",
            #[cfg(feature = "bench-hooks")]
            Task::Noop { .. } => "noop",
            Task::AutoCancelOrders { .. } => "auto_cancel_orders",
        }
    }

    /// Does the work; the same code serves the worker and a CLI that owns the data folder.
    pub fn execute(&self, state: &AppState) -> Result<serde_json::Value, AppError> {
        self.execute_with_progress(state, &mut |_| {})
    }

    /// [`Task::execute`], telling `progress` how a long task is getting on.
    pub fn execute_with_progress(
        &self,
        state: &AppState,
        progress: &mut dyn FnMut(&serde_json::Value),
    ) -> Result<serde_json::Value, AppError> {
        let settings = &state.settings;
        let json = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(|e| AppError::Internal(e.into()));
        let mut main = state.main.get()?;
        match self {
            Task::CreateClient(new) => {
                if let Some(client) = lifecycle::made_by(&main, new)? {
                    return json(serde_json::to_value(client));
                }
                let client = lifecycle::provision_client(&state.tenancy, &mut main, new)?;
                json(serde_json::to_value(client))
            }
            Task::DeleteClient { client_id, final_backup } => {
                if crate::tenancy::registry::find(&main, *client_id)?.is_none() {
                    return Ok(serde_json::json!({ "deleted": client_id, "already_gone": true }));
                }
                let kept = lifecycle::delete_client(&state.tenancy, &mut main, *client_id, *final_backup)?;
                Ok(serde_json::json!({ "deleted": client_id, "final_backup": kept }))
            }
            Task::MigrateClients { client_id, canary } => {
                drop(main);
                let report = crate::fleet::migrate::migrate_fleet(state, *client_id, *canary, progress)?;
                json(serde_json::to_value(report))
            }
            Task::BackupClient { client_id } => {
                lifecycle::require_served(&main, *client_id)?;
                drop(main);
                let outcome = backups::store::backup_client(
                    &state.tenancy,
                    &settings.backup_dir,
                    &settings.backup_keep,
                    *client_id,
                    BackupKind::Manual,
                    true,
                )?;
                json(serde_json::to_value(outcome))
            }
            Task::BackupAll { force } => {
                drop(main);
                json(serde_json::to_value(backups::batch::backup_all(state, *force, progress)?))
            }
            Task::ScheduledBackups => {
                drop(main);
                json(serde_json::to_value(backups::batch::scheduled(state, progress)?))
            }
            Task::RestoreClient { client_id, name } => {
                let report =
                    backups::swap::restore_client(&state.tenancy, &main, &settings.backup_keep, *client_id, name)?;
                json(serde_json::to_value(report))
            }
            Task::RepairClient { client_id } => {
                json(serde_json::to_value(backups::swap::restore_damaged(&state.tenancy, &main, *client_id)?))
            }
            Task::MoveClient { client_id, region } => json(serde_json::to_value(crate::regions::moves::move_client(
                &state.tenancy,
                &main,
                *client_id,
                region.as_deref(),
            )?)),
            Task::ExportClient { client_id, out } => {
                let bytes = backups::transfer::export_client(&state.tenancy, &main, *client_id, out)?;
                Ok(serde_json::json!({ "client_id": client_id, "out": out, "size_bytes": bytes }))
            }
            Task::ImportClient { path, subdomain } => {
                let client = backups::transfer::import_client_from_path(
                    &state.tenancy,
                    &mut main,
                    path,
                    subdomain.as_deref(),
                    settings.import_max_bytes,
                )?;
                json(serde_json::to_value(client))
            }
            Task::SendMail { mail_id, .. } => {
                drop(main);
                crate::mail::send(state, *mail_id)
            }
            Task::PasswordReset { client_id, email } => {
                drop(main);
                crate::auth::reset::request(state, *client_id, email)
            }
            Task::DeliverWebhook { client_id, delivery_id } => {
                drop(main);
                crate::webhooks::deliver(state, *client_id, *delivery_id)
            }
            Task::Prune => {
                drop(main);
                crate::schedules::prune(state)
            }
            // Expanded in the transaction that marks this job done (`on_success`).
            Task::Notify { .. } => Ok(serde_json::json!({ "outcome": "expanded" })),
            Task::ReconcilePayments => {
                drop(main);
                crate::payments::reconcile::run(state)
            }
            #[cfg(feature = "bench-hooks")]
            Task::Noop { queued_us } => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                Ok(serde_json::json!({ "waited_us": (now.as_micros() as u64).saturating_sub(*queued_us) }))
            }
            Task::AutoCancelOrders { client_id, since } => {
                drop(main);
                crate::schedules::auto_cancel(state, *client_id, since.as_deref(), progress)
            }
            Task::ImportCatalog { client_id, import_id } => {
                catalog_import(state, main, *client_id, progress, |_| Ok(*import_id))
            }
            Task::ImportCatalogFile { client_id, path, dry_run } => {
                catalog_import(state, main, *client_id, progress, |db| {
                    let bytes = std::fs::read(path).map_err(|e| {
                        AppError::unprocessable("unreadable_file", format!("{} could not be read: {e}", path.display()))
                    })?;
                    crate::catalog_csv::import::parse(&bytes)
                        .map_err(|why| AppError::unprocessable("invalid_csv", why))?;
                    Ok(crate::catalog_csv::import::create(&*db.get()?, &bytes, *dry_run)?.id)
                })
            }
            Task::ExportCatalog { client_id, out } => {
                lifecycle::require_served(&main, *client_id)?;
                drop(main);
                let db = state.tenancy.pools.checkout(*client_id)?;
                let mut conn = db.get()?;
                let tx = conn.transaction()?;
                let file = std::fs::File::create(out).map_err(|e| {
                    AppError::unprocessable("unwritable_file", format!("{} could not be written: {e}", out.display()))
                })?;
                let rows = crate::catalog_csv::export::export(&tx, std::io::BufWriter::new(file))?;
                Ok(serde_json::json!({ "client_id": client_id, "out": out, "rows": rows }))
            }
        }
    }
}

/// Runs a shop's catalogue import to its end with the shop's product quota; `import_id` names
/// (or first stores) the import.
fn catalog_import(
    state: &AppState,
    main: impl std::ops::Deref<Target = rusqlite::Connection>,
    client_id: i64,
    progress: &mut dyn FnMut(&serde_json::Value),
    import_id: impl FnOnce(&crate::tenancy::pools::ClientDb) -> Result<i64, AppError>,
) -> Result<serde_json::Value, AppError> {
    lifecycle::require_served(&main, client_id)?;
    let quota = crate::tenancy::registry::find(&main, client_id)?.and_then(|c| c.quotas.max_products);
    drop(main);
    let db = state.tenancy.pools.checkout(client_id)?;
    let id = import_id(&db)?;
    let done = crate::observability::for_shop(client_id, || crate::catalog_csv::import::run(&db, id, quota, progress))?;
    serde_json::to_value(done).map_err(|e| AppError::Internal(e.into()))
}
