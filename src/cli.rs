//! Command-line interface. Commands that change shop files run directly when no server owns the
//! data folder, and are handed to the running server through the job queue when one does.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{Settings, SettingsArgs};
use crate::db::migrations;
use crate::error::AppError;
use crate::jobs::{Task, queue};
use crate::state::AppState;
use crate::tenancy::lifecycle::{self, NewClient, NewClientInput};
use crate::tenancy::lock::{self, Holder};
use crate::tenancy::reconcile;
use crate::tenancy::registry::{self, Client};

#[derive(Debug, Parser)]
#[command(
    name = "vergeflow",
    version,
    about = "Multi-tenant e-commerce backend: one SQLite file per shop",
    after_help = "Exit codes: 0 done; 1 the command failed (one line on stderr); 2 the command line is wrong."
)]
pub struct Cli {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Manage shops.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage super admins, and reset any admin's password (works beside a running server).
    #[command(subcommand)]
    Admins(AdminsCommand),
    /// Run pending migrations on main.db, then on every shop behind this version (or one).
    Migrate {
        /// Only the shop with this id (opened whatever the ledger says).
        #[arg(long)]
        client: Option<i64>,
        /// Migrate this shop first; if it fails, touch no other.
        #[arg(long)]
        canary: Option<i64>,
    },
    /// Check main.db, every shop file, stray files, disk space and the open-file limit (safe beside a
    /// running server). Exits 1 when something is wrong.
    Doctor {
        /// Mend what can be mended: restore missing or damaged shops from their newest verified
        /// backup, migrate shops behind, record versions, finish interrupted steps, move stray files aside.
        #[arg(long)]
        repair: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Back up one shop, or every active shop and main.db (online; works beside a running server).
    Backup {
        /// Only the shop with this id (always copied).
        #[arg(long)]
        client: Option<i64>,
        /// With every shop: copy shops unchanged since their last backup too.
        #[arg(long)]
        force: bool,
    },
    /// List backups.
    #[command(subcommand)]
    Backups(BackupsCommand),
    /// Restore a shop from one of its backups (the replaced data is kept as a pre-restore backup).
    Restore {
        /// The shop's id.
        #[arg(long)]
        client: i64,
        /// The backup's name (see `backups list`).
        backup: String,
    },
    /// Background jobs: list them, list failed ones, retry or forget a failed one (safe beside a
    /// running server, which runs what is queued; without one, queued jobs run at its next start).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// A shop's catalogue as CSV (one row per variant): import with a report, export.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Import a single-database VergeFlow (MySQL/MariaDB, every shop table with `client_id`) into a
    /// file per shop; see docs/legacy-import.md. Idempotent and resumable. Stop the server first.
    Import {
        /// The legacy database, e.g. mysql://user:pass@127.0.0.1:3306/vergeflow (from the
        /// environment, the password stays out of the process list).
        #[arg(long, env = "VERGEFLOW_IMPORT_FROM")]
        from: String,
        /// Only the client with this legacy id.
        #[arg(long)]
        client: Option<i64>,
        /// Do every read and check; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where to write the JSON report (default: <data>/imports/legacy-<time>.json).
        #[arg(long)]
        report: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Apply a catalogue CSV to a shop (products by handle, variants by SKU or option values; a
    /// bad row is skipped and reported with its line). Running it again gives the same catalogue.
    Import {
        /// The shop's id.
        #[arg(long)]
        client: i64,
        /// The CSV file (columns as `catalog export` writes them; `handle` required).
        file: std::path::PathBuf,
        /// Report what would happen without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a shop's catalogue as CSV.
    Export {
        /// The shop's id.
        #[arg(long)]
        client: i64,
        /// Where to write it.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Jobs, newest first.
    List {
        /// Only jobs in this status: pending, running, done, failed, cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only this shop's jobs.
        #[arg(long)]
        client: Option<i64>,
        /// Only jobs of this kind (e.g. send_mail, backup_client).
        #[arg(long)]
        kind: Option<String>,
        /// How many to show (at most 100).
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Jobs that failed for good, newest first, with their error.
    Failed {
        /// Only this shop's.
        #[arg(long)]
        client: Option<i64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put a failed job back on the queue (ID as `jobs failed` shows it).
    Retry { id: i64 },
    /// Forget a failed job.
    Forget { id: i64 },
}

#[derive(Debug, Subcommand)]
enum BackupsCommand {
    /// A shop's verified backups, newest first.
    List {
        /// The shop's id.
        #[arg(long)]
        client: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Create a shop and its admin.
    Create {
        /// The shop's display name.
        #[arg(long)]
        name: String,
        /// Reached at <subdomain>.<base-domain>: 1–63 of a-z, 0-9 and -, not all digits, not reserved.
        #[arg(long)]
        subdomain: String,
        /// A custom domain the shop is also reached at (e.g. shop.example.com).
        #[arg(long)]
        domain: Option<String>,
        /// The shop admin's e-mail (they sign in with it at POST /api/auth/login).
        #[arg(long)]
        admin_email: String,
        /// The shop admin's password, at least 8 characters; generated and printed once when omitted.
        #[arg(long, env = "VERGEFLOW_NEW_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
        /// The shop admin's display name (default: "<name> admin").
        #[arg(long)]
        admin_name: Option<String>,
    },
    /// List shops.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a shop: its file, its backups, its admins and its tokens.
    Delete {
        /// The shop's id (see `clients list`).
        id: i64,
        /// First keep an export of it under <backups>/deleted/ (for VERGEFLOW_FINAL_BACKUP_DAYS).
        #[arg(long)]
        final_backup: bool,
    },
    /// Write a shop (data, registry row, admins) to one file another server can import.
    Export {
        /// The shop's id.
        id: i64,
        /// Where to write the export.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Import a shop from an export file, under a new id.
    Import {
        /// The export file.
        file: std::path::PathBuf,
        /// Give the shop this subdomain instead of the exported one.
        #[arg(long)]
        subdomain: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AdminsCommand {
    /// Create another super admin.
    Create {
        /// The new super admin's e-mail.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long, default_value = "Super Admin")]
        name: String,
        /// At least 8 characters; generated and printed once when omitted.
        #[arg(long, env = "VERGEFLOW_NEW_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Set a new password for a super admin or shop admin and sign them out everywhere.
    ResetPassword {
        /// The admin's e-mail.
        email: String,
        /// At least 8 characters; generated and printed once when omitted.
        #[arg(long, env = "VERGEFLOW_NEW_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// Parses the command line. Help and version print and exit 0; a usage error prints one line
/// (`error: …; see 'vergeflow --help'`) and exits 2.
fn parse(args: impl IntoIterator<Item = OsString>) -> Cli {
    Cli::try_parse_from(args).unwrap_or_else(|e| {
        use clap::error::ErrorKind;
        if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
            || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        {
            e.exit();
        }
        let rendered = e.render().to_string();
        let first = rendered.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid command line");
        let first = first.trim_start_matches("error: ");
        eprintln!("error: {first}; see 'vergeflow --help'");
        std::process::exit(2);
    })
}

pub fn run(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<()> {
    let cli = parse(args);
    let settings = cli.settings.validate()?;
    if let Some(dir) = &settings.extra_client_migrations {
        migrations::install_extra_client_migrations(dir).context("VERGEFLOW_EXTRA_CLIENT_MIGRATIONS")?;
    }
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::Serve => crate::telemetry::init(settings.log_format),
        // Commands print their own results; logs are for problems.
        _ => crate::telemetry::init_with_default(settings.log_format, "warn"),
    }
    match command {
        Command::Serve => serve(settings),
        Command::Clients(ClientsCommand::Create {
            name,
            subdomain,
            domain,
            admin_email,
            admin_password,
            admin_name,
        }) => {
            let input = NewClientInput {
                name: &name,
                subdomain: &subdomain,
                domain: domain.as_deref(),
                admin_name: admin_name.as_deref(),
                admin_email: &admin_email,
                admin_password: admin_password.as_deref(),
            };
            let client = create_client(&settings, &input)?;
            println!("{}", shop_line("created", &client, &settings));
            Ok(())
        }
        Command::Clients(ClientsCommand::List { json }) => list_clients(&settings, json),
        Command::Clients(ClientsCommand::Delete { id, final_backup }) => {
            require_client(&settings, id)?;
            let result = run_task(&settings, Task::DeleteClient { client_id: id, final_backup })?;
            println!("deleted shop {id}; its file, backups and admins are gone");
            if let Some(kept) = result.get("final_backup").and_then(|p| p.as_str()) {
                println!("final backup kept at {kept} (import it with `vergeflow clients import`)");
            }
            Ok(())
        }
        Command::Clients(ClientsCommand::Export { id, out }) => {
            let out = absolute(&out)?;
            let result = run_task(&settings, Task::ExportClient { client_id: id, out: out.clone() })?;
            let size = result.get("size_bytes").and_then(|s| s.as_u64()).unwrap_or(0);
            println!("exported shop {id} to {} ({size} bytes)", out.display());
            Ok(())
        }
        Command::Clients(ClientsCommand::Import { file, subdomain }) => {
            let path = absolute(&file)?;
            let result = run_task(&settings, Task::ImportClient { path, subdomain })?;
            let client: Client = serde_json::from_value(result).context("reading the imported shop")?;
            println!("{}", shop_line("imported", &client, &settings));
            Ok(())
        }
        Command::Backup { client: Some(id), .. } => {
            let result = run_task(&settings, Task::BackupClient { client_id: id })?;
            let name = result.pointer("/backup/name").and_then(|n| n.as_str()).unwrap_or("?");
            let size = result.pointer("/backup/size_bytes").and_then(|n| n.as_u64()).unwrap_or(0);
            println!("shop {id}: backup {name} ({size} bytes, verified)");
            Ok(())
        }
        Command::Backup { client: None, force } => {
            let result = run_task_with_progress(&settings, Task::BackupAll { force })?;
            let report: crate::backups::batch::BatchReport =
                serde_json::from_value(result).context("reading the backup report")?;
            for f in &report.failed {
                eprintln!("shop {}: {}", f.client_id, f.error);
            }
            println!(
                "main.db: {}; shops: {} copied, {} unchanged since their last backup, {} failed ({:.1} s)",
                report.main.as_deref().unwrap_or("not backed up"),
                report.copied,
                report.unchanged,
                report.failed.len(),
                report.seconds
            );
            if !report.failed.is_empty() {
                bail!("{} shop(s) could not be backed up", report.failed.len());
            }
            Ok(())
        }
        Command::Backups(BackupsCommand::List { client, json }) => list_backups(&settings, client, json),
        Command::Restore { client, backup } => {
            let result = run_task(&settings, Task::RestoreClient { client_id: client, name: backup.clone() })?;
            let report: crate::backups::swap::RestoreReport =
                serde_json::from_value(result).context("reading the restore report")?;
            println!(
                "shop {client}: restored {backup} (schema version {}); the replaced data is backup {}; the shop was unavailable for {} ms",
                report.schema_version, report.pre_restore.name, report.unavailable_ms
            );
            Ok(())
        }
        Command::Admins(AdminsCommand::Create { email, name, password }) => {
            create_super_admin(&settings, &email, &name, password.as_deref())
        }
        Command::Admins(AdminsCommand::ResetPassword { email, password }) => {
            reset_password(&settings, &email, password.as_deref())
        }
        Command::Migrate { client, canary } => migrate(&settings, client, canary),
        Command::Jobs(cmd) => jobs_command(&settings, cmd),
        Command::Import { from, client, dry_run, report } => legacy_import(&settings, &from, client, dry_run, report),
        Command::Catalog(CatalogCommand::Import { client, file, dry_run }) => {
            require_client(&settings, client)?;
            let path = absolute(&file)?;
            let task = Task::ImportCatalogFile { client_id: client, path, dry_run };
            let result = run_task_with_progress_in(&settings, task, "rows")?;
            let r = &result["report"];
            let n = |k: &str| r[k].as_u64().unwrap_or(0);
            println!(
                "{} {} rows into shop {client}: products {} created, {} updated; variants {} created, {} updated; {} categories created; {} rows skipped",
                if dry_run { "dry run: would apply" } else { "applied" },
                result["rows_done"].as_i64().unwrap_or(0),
                n("products_created"),
                n("products_updated"),
                n("variants_created"),
                n("variants_updated"),
                n("categories_created"),
                n("rows_skipped")
            );
            for note in
                r["skipped"].as_array().into_iter().flatten().chain(r["warnings"].as_array().into_iter().flatten())
            {
                eprintln!("line {}: {}", note["line"], note["reason"].as_str().unwrap_or(""));
            }
            if let Some(error) = result["error"].as_str() {
                bail!("{error}");
            }
            Ok(())
        }
        Command::Catalog(CatalogCommand::Export { client, out }) => {
            require_client(&settings, client)?;
            let out = absolute(&out)?;
            let result = run_task(&settings, Task::ExportCatalog { client_id: client, out: out.clone() })?;
            println!("wrote {} rows of shop {client}'s catalogue to {}", result["rows"], out.display());
            Ok(())
        }
        Command::Doctor { repair, json } => doctor(&settings, repair, json),
    }
}

fn jobs_command(settings: &Settings, cmd: JobsCommand) -> anyhow::Result<()> {
    let main = open_main(settings)?;
    let mut conn = main.get().map_err(describe)?;
    match cmd {
        JobsCommand::List { status, client, kind, limit, json } => {
            let page = crate::pagination::Page::parse(Some(1), Some(limit)).map_err(describe)?;
            let filter = queue::Filter { status, client_id: client, kind };
            let (jobs, total) = queue::list(&conn, &filter, page)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
                return Ok(());
            }
            println!(
                "{:>8}  {:<18} {:>6}  {:<10} {:>8}  {:<20} LAST ERROR",
                "ID", "KIND", "SHOP", "STATUS", "ATTEMPTS", "CREATED"
            );
            for j in &jobs {
                println!(
                    "{:>8}  {:<18} {:>6}  {:<10} {:>8}  {:<20} {}",
                    j.id,
                    j.kind,
                    j.client_id.map_or("-".to_string(), |c| c.to_string()),
                    j.status,
                    format!("{}/{}", j.attempts, j.max_attempts),
                    j.created_at,
                    j.last_error.as_deref().unwrap_or("")
                );
            }
            println!("{} of {total} job(s)", jobs.len());
        }
        JobsCommand::Failed { client, json } => {
            let page = crate::pagination::Page::parse(Some(1), Some(100)).map_err(describe)?;
            let (failed, total) = queue::list_failed(&conn, client, page)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&failed)?);
                return Ok(());
            }
            println!("{:>6}  {:>8}  {:<18} {:>6}  {:<20} ERROR", "ID", "JOB", "KIND", "SHOP", "FAILED AT");
            for f in &failed {
                println!(
                    "{:>6}  {:>8}  {:<18} {:>6}  {:<20} {}",
                    f.id,
                    f.job_id.map_or("-".to_string(), |j| j.to_string()),
                    f.kind,
                    f.client_id.map_or("-".to_string(), |c| c.to_string()),
                    f.failed_at,
                    f.exception.lines().next().unwrap_or("")
                );
            }
            println!("{} of {total} failed job(s); retry one with `vergeflow jobs retry ID`", failed.len());
        }
        JobsCommand::Retry { id } => match queue::retry_failed(&mut conn, id)? {
            queue::Retry::Queued(job_id) => {
                let serving = lock::is_held(&settings.data_dir)?;
                println!(
                    "failed job {id} is queued again as job {job_id}; {}",
                    if serving { "the running server runs it" } else { "it runs when the server starts" }
                );
            }
            queue::Retry::NotFound => bail!("no failed job {id} (see `vergeflow jobs failed`)"),
            queue::Retry::Gone => {
                bail!("failed job {id} can no longer run: its payload was forgotten or its shop deleted")
            }
        },
        JobsCommand::Forget { id } => {
            if !queue::forget_failed(&mut conn, id)? {
                bail!("no failed job {id} (see `vergeflow jobs failed`)");
            }
            println!("forgot failed job {id}");
        }
    }
    Ok(())
}

/// A password from the command line (checked) or a generated one, printed once.
fn password_or_generated(given: Option<&str>, email: &str, flag: &str) -> anyhow::Result<String> {
    match given {
        Some(p) => {
            crate::auth::password::validate(p).map_err(|e| anyhow::anyhow!("invalid input: {flag} {e}"))?;
            Ok(p.to_string())
        }
        None => {
            let p = crate::bootstrap::random_password();
            println!("password for {email}: {p}  (shown only once)");
            Ok(p)
        }
    }
}

/// main.db alone, for commands that touch only the registry (safe beside a running server: main.db
/// is shared through SQLite's own locking).
fn open_main(settings: &Settings) -> anyhow::Result<crate::db::MainDb> {
    crate::db::configure_sqlite();
    crate::db::MainDb::open(&settings.data_dir, crate::db::shared_pool_threads())
}

fn create_super_admin(settings: &Settings, email: &str, name: &str, password: Option<&str>) -> anyhow::Result<()> {
    let main = open_main(settings)?;
    let conn = main.get().map_err(describe)?;
    let email = crate::auth::Email::parse(email).map_err(|e| anyhow::anyhow!("invalid input: email {e}"))?;
    let name = crate::validate::name(name).map_err(|e| anyhow::anyhow!("invalid input: name {e}"))?;
    if crate::auth::users::email_taken(&conn, email.as_str())? {
        bail!("a user with the e-mail '{}' already exists", email.as_str());
    }
    let password = password_or_generated(password, email.as_str(), "--password")?;
    let hash = crate::auth::password::hash(&password).map_err(describe)?;
    let id = crate::auth::users::insert_super_admin(&conn, &name, email.as_str(), &hash)?;
    println!("created super admin {id} <{}>", email.as_str());
    Ok(())
}

fn reset_password(settings: &Settings, email: &str, password: Option<&str>) -> anyhow::Result<()> {
    let main = open_main(settings)?;
    let mut conn = main.get().map_err(describe)?;
    if !crate::auth::users::email_taken(&conn, email)? {
        bail!("no super admin or shop admin has the e-mail '{}'", email.trim());
    }
    let password = password_or_generated(password, email.trim(), "--password")?;
    let hash = crate::auth::password::hash(&password).map_err(describe)?;
    crate::auth::users::reset_password(&mut conn, email, &hash)?;
    println!("password of {} reset; their tokens are revoked", email.trim());
    Ok(())
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let data_dir = settings.data_dir.clone();
        let app = crate::startup::Application::build(settings)?;
        let state = app.state();
        let address = format!(
            "http://{}:{}",
            state.settings.bind.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h),
            app.port()
        );
        crate::telemetry::announce(
            state.settings.log_format,
            &format!(
                "VergeFlow listening on {address} (data folder: {}, up to {} open shops)",
                data_dir.display(),
                state.settings.max_open_clients
            ),
            &format!("VergeFlow listening on {address}"),
            serde_json::json!({"address": address, "data_dir": data_dir, "max_open_clients": state.settings.max_open_clients}),
        );
        drop(state);
        app.run_until_stopped().await.context("running the server")
    })
}

/// Validates, hashes and creates a shop (directly or through the running server). Everything that
/// can be checked is checked before a generated password is printed.
pub fn create_client(settings: &Settings, input: &NewClientInput<'_>) -> anyhow::Result<Client> {
    let mut new = NewClient::parse(input, &settings.base_domain).map_err(describe)?;
    {
        let main = open_main(settings)?;
        lifecycle::check_available(&*main.get().map_err(describe)?, &new).map_err(describe)?;
    }
    let password = password_or_generated(input.admin_password, &new.admin_email, "admin-password")?;
    new.admin_password_hash = crate::auth::password::hash(&password).map_err(describe)?;
    let value = run_task(settings, Task::CreateClient(new))?;
    serde_json::from_value(value).context("reading the created client")
}

pub fn delete_client(settings: &Settings, id: i64) -> anyhow::Result<()> {
    require_client(settings, id)?;
    run_task(settings, Task::DeleteClient { client_id: id, final_backup: false }).map(|_| ())
}

/// Fails with the API's 404 message when there is no shop `id` (a delete job finding none would
/// report it already deleted, which is right for a rerun but not for a mistyped id).
fn require_client(settings: &Settings, id: i64) -> anyhow::Result<()> {
    let main = open_main(settings)?;
    if registry::find(&*main.get().map_err(describe)?, id)?.is_none() {
        return Err(describe(AppError::not_found("client_not_found", "no such client")));
    }
    Ok(())
}

/// Turns an AppError into a one-line CLI error, naming bad fields.
fn describe(err: AppError) -> anyhow::Error {
    match err {
        AppError::Validation { fields, .. } => {
            let parts: Vec<String> = fields.iter().map(|(f, p)| format!("{} {p}", f.replace('_', "-"))).collect();
            anyhow::anyhow!("invalid input: {}", parts.join("; "))
        }
        AppError::Internal(e) => e,
        other => anyhow::anyhow!("{other}"),
    }
}

/// How long the CLI waits for the server to run a handed-over job.
const JOB_WAIT: Duration = Duration::from_secs(120);

/// The data folder's lock for this command, waiting for another CLI command to finish; `None` when a
/// running server owns the folder.
fn lock_unless_a_server_owns(settings: &Settings) -> anyhow::Result<Option<lock::DataLock>> {
    crate::sys::create_private_folder(&settings.data_dir)?;
    Ok(match lock::try_acquire(&settings.data_dir, "cli")? {
        Ok(lock) => Some(lock),
        Err(Holder::Server(_)) => None,
        Err(Holder::Cli(_)) => Some(lock::acquire(&settings.data_dir, "cli", Duration::from_secs(60))?),
    })
}

/// `created shop 3 'Vault 64' at vault64.localhost and shop.example (data/client_3.db)`.
fn shop_line(done: &str, client: &Client, settings: &Settings) -> String {
    let domain = client.domain.as_deref().map(|d| format!(" and {d}")).unwrap_or_default();
    format!(
        "{done} shop {} '{}' at {}.{}{domain} ({}/{})",
        client.id,
        client.name,
        client.subdomain,
        settings.base_domain,
        settings.data_dir.display(),
        client.database
    )
}

fn absolute(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

fn list_backups(settings: &Settings, client: i64, json: bool) -> anyhow::Result<()> {
    let folder = crate::backups::Source::Client(client).folder(&settings.backup_dir);
    let backups = crate::backups::store::list(&folder)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&backups)?);
        return Ok(());
    }
    if backups.is_empty() {
        println!("shop {client} has no backups in {}", folder.display());
        return Ok(());
    }
    println!("{:<40} {:<21} {:>12} {:>7}", "NAME", "CREATED", "BYTES", "SCHEMA");
    for b in backups {
        println!("{:<40} {:<21} {:>12} {:>7}", b.name, b.created_at, b.size_bytes, b.schema_version);
    }
    Ok(())
}

/// `vergeflow import`: the legacy import, run here with the data folder to itself.
fn legacy_import(
    settings: &Settings,
    from: &str,
    only: Option<i64>,
    dry_run: bool,
    report_path: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let Some(_lock) = lock_unless_a_server_owns(settings)? else {
        bail!(
            "a server is serving {}; stop it first (an import provisions shops and writes main.db), then run the import again",
            settings.data_dir.display()
        );
    };
    let state = AppState::open(settings.clone())?;
    let mut main = state.main.get().map_err(describe)?;
    reconcile::reconcile(&state.tenancy, &mut main).map_err(describe)?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} clients  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut show = |p: &serde_json::Value| {
        bar.set_length(p["total"].as_u64().unwrap_or(0));
        bar.set_position(p["done"].as_u64().unwrap_or(0));
    };
    let result = crate::legacy::run(&state.tenancy, &mut main, from, only, dry_run, &mut show);
    bar.finish_and_clear();
    let report = result.map_err(describe)?;
    let path = match report_path {
        Some(p) => p,
        None => {
            let dir = settings.data_dir.join("imports");
            crate::sys::create_private_folder(&dir)?;
            let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
            dir.join(format!("legacy-{stamp}.json"))
        }
    };
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", path.display()))?;
    for c in &report.clients {
        let sum = |f: fn(&crate::legacy::TableReport) -> u64| c.tables.values().map(f).sum::<u64>();
        let shop = c.client_id.map(|id| format!("shop {id}")).unwrap_or_else(|| "-".into());
        println!(
            "client {} ({}) → {shop}: {}{}; rows read {}, written {}, skipped {}, fixed {}",
            c.legacy_id,
            c.subdomain,
            c.outcome,
            c.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
            sum(|t| t.read),
            sum(|t| t.written),
            sum(|t| t.skipped),
            sum(|t| t.fixed)
        );
    }
    println!(
        "{}{} rows read, {} written in {:.1} s ({:.0} rows/s); money sums {}; report: {}",
        if dry_run { "dry run (nothing written): " } else { "" },
        report.rows_read,
        report.rows_written,
        report.seconds,
        report.rows_per_second,
        if report.money_matches { "match" } else { "DO NOT MATCH" },
        path.display()
    );
    if !report.money_matches {
        bail!("money sums differ between the source and the imported shops; see {}", path.display());
    }
    Ok(())
}

/// [`run_task`] with a progress bar for batches (from the job's progress when a server runs it).
pub fn run_task_with_progress(settings: &Settings, task: Task) -> anyhow::Result<serde_json::Value> {
    run_task_with_progress_in(settings, task, "shops")
}

/// [`run_task_with_progress`], counting `unit`s.
fn run_task_with_progress_in(settings: &Settings, task: Task, unit: &str) -> anyhow::Result<serde_json::Value> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {unit}  {{msg}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut show = |p: &serde_json::Value| {
        if let (Some(total), Some(done)) =
            (p.get("total").and_then(|v| v.as_u64()), p.get("done").and_then(|v| v.as_u64()))
        {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let result = run_task_reporting(settings, task, &mut show);
    bar.finish_and_clear();
    result
}

/// Runs a task: directly when the data folder is free, through the server's queue when a server owns it.
pub fn run_task(settings: &Settings, task: Task) -> anyhow::Result<serde_json::Value> {
    run_task_reporting(settings, task, &mut |_| {})
}

fn run_task_reporting(
    settings: &Settings,
    task: Task,
    progress: &mut dyn FnMut(&serde_json::Value),
) -> anyhow::Result<serde_json::Value> {
    let owned = lock_unless_a_server_owns(settings)?;
    let state = AppState::open(settings.clone())?;
    if let Some(_lock) = owned {
        let mut main = state.main.get().map_err(describe)?;
        reconcile::reconcile(&state.tenancy, &mut main).map_err(describe)?;
        drop(main);
        return task.execute_with_progress(&state, progress).map_err(describe);
    }
    let job_id = crate::jobs::enqueue(&*state.main.get().map_err(describe)?, &task).map_err(describe)?;
    let started = Instant::now();
    let mut looked = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let job = queue::find(&*state.main.get().map_err(describe)?, job_id)?.context("the queued job vanished")?;
        let result: serde_json::Value =
            job.result.as_deref().map(serde_json::from_str).transpose()?.unwrap_or_default();
        match job.status.as_str() {
            "done" => return Ok(result),
            "running" => progress(&result),
            "failed" => bail!(
                "{}",
                result.get("message").and_then(|m| m.as_str()).unwrap_or("the server could not run the job")
            ),
            // A job the server has started is followed to its end (a backup of every shop may take
            // minutes); one it has not picked up is given up on.
            "pending" if started.elapsed() > JOB_WAIT => {
                bail!("the running server has not started job {job_id} after {} s; it stays queued", JOB_WAIT.as_secs())
            }
            _ => {}
        }
        // A server that stops leaves its job `running` (marked failed at the next start) or
        // `pending` (run at the next start): stop waiting for it.
        if looked.elapsed() >= Duration::from_secs(1) {
            looked = Instant::now();
            if !lock::is_held(&settings.data_dir)? {
                bail!(
                    "the server stopped before finishing job {job_id} ({}); run the command again",
                    if job.status == "pending" {
                        "it stays queued for the next start"
                    } else {
                        "the next start runs it again"
                    }
                );
            }
        }
    }
}

fn list_clients(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let state = AppState::open(settings.clone())?;
    let conn = state.main.get().map_err(describe)?;
    let (clients, total) = registry::list(&conn, None, i64::MAX, 0)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&clients)?);
        return Ok(());
    }
    println!("{:>6}  {:<24} {:<12} {:>6}  {:<28} NAME", "ID", "SUBDOMAIN", "STATUS", "SCHEMA", "DOMAIN");
    for c in &clients {
        println!(
            "{:>6}  {:<24} {:<12} {:>6}  {:<28} {}",
            c.id,
            c.subdomain,
            c.status.as_str(),
            c.schema_version,
            c.domain.as_deref().unwrap_or("-"),
            c.name
        );
    }
    println!("{total} shop(s)");
    Ok(())
}

/// Migrates main.db (done by opening it), then the shop files the ledger shows behind: here when
/// the data folder is free, through the running server's job queue when one owns it. Names every
/// shop that failed, with its reason; fails if any did.
pub fn migrate(settings: &Settings, only: Option<i64>, canary: Option<i64>) -> anyhow::Result<()> {
    drop(AppState::open(settings.clone())?);
    println!("main.db: up to date");
    let result = run_task_with_progress(settings, Task::MigrateClients { client_id: only, canary })?;
    let report: crate::fleet::migrate::MigrationReport =
        serde_json::from_value(result).context("reading the migration report")?;
    for f in &report.failed {
        eprintln!("shop {} ({}): {}", f.client_id, f.subdomain, f.error);
    }
    let failed = report.failed.len();
    println!(
        "shops: {} migrated, {} already at version {}, {failed} failed ({:.1} s)",
        report.migrated, report.already_current, report.target_version, report.seconds
    );
    if report.stopped_by_canary {
        bail!("the canary shop could not be migrated; no other shop was touched");
    }
    if failed > 0 {
        bail!("{failed} shop(s) could not be migrated");
    }
    Ok(())
}

/// `vergeflow doctor [--repair] [--json]`: see [`crate::fleet::doctor`].
pub fn doctor(settings: &Settings, repair: bool, json: bool) -> anyhow::Result<()> {
    use crate::fleet::doctor::{self, Finding};
    if !settings.data_dir.join("main.db").exists() {
        bail!("{} holds no main.db: not a VergeFlow data folder (or --data-dir is wrong)", settings.data_dir.display());
    }
    // Repairs need the folder to themselves, or the running server to do them; checks need neither.
    let owned = lock_unless_a_server_owns(settings)?;
    let server_running = owned.is_none();
    let owned = if repair { owned } else { None };
    let state = AppState::open(settings.clone())?;
    let mut reconciled = None;
    if owned.is_some() {
        let mut main = state.main.get().map_err(describe)?;
        reconciled = Some(reconcile::reconcile(&state.tenancy, &mut main).map_err(describe)?);
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let main = state.main.get().map_err(describe)?;
    let mut report = doctor::examine(settings, &main, server_running, threads)?;
    drop(main);
    if let Some(r) = reconciled.filter(|r| !r.is_clean()) {
        report.findings.insert(
            0,
            Finding {
                severity: "warning".into(),
                check: "lifecycle".into(),
                client_id: None,
                file: None,
                detail: format!("interrupted steps finished first: {}", serde_json::to_string(&r)?),
                repaired: Some("reconciled".into()),
            },
        );
    }
    if repair {
        let run = |task: Task| -> anyhow::Result<serde_json::Value> {
            if owned.is_some() { task.execute(&state).map_err(describe) } else { run_task(settings, task) }
        };
        let mut migrated = std::collections::HashSet::new();
        let mut restored = std::collections::HashSet::new();
        for f in report.findings.iter_mut().filter(|f| f.repaired.is_none()) {
            let outcome = match (f.check.as_str(), f.client_id) {
                ("missing_file" | "corrupt" | "wrong_file", Some(id)) if restored.insert(id) => {
                    run(Task::RepairClient { client_id: id }).map(|r| {
                        match r.get("restored").and_then(|v| v.as_str()) {
                            Some(name) => format!("restored from {name}"),
                            None => "whole when looked at again; nothing changed".into(),
                        }
                    })
                }
                ("migration_failed" | "ledger_mismatch" | "behind", Some(id)) if migrated.insert(id) => {
                    run(Task::MigrateClients { client_id: Some(id), canary: None }).and_then(|r| {
                        let report: crate::fleet::migrate::MigrationReport = serde_json::from_value(r)?;
                        match report.failed.first() {
                            Some(failure) => bail!("{}", failure.error),
                            None => Ok(format!("at version {}, recorded", report.target_version)),
                        }
                    })
                }
                ("orphan", _) => match &f.file {
                    Some(name) => {
                        // A bare name is in the data folder; a region's file comes as its whole path.
                        let path = settings.data_dir.join(name);
                        let root = path.parent().unwrap_or(&settings.data_dir).to_path_buf();
                        crate::tenancy::files::move_aside(&root, &path).map(|to| format!("moved to {}", to.display()))
                    }
                    None => continue,
                },
                _ => continue,
            };
            match outcome {
                Ok(done) => f.repaired = Some(done),
                Err(e) => f.detail = format!("{} — repair failed: {e:#}", f.detail),
            }
        }
    }
    let errors = report.errors();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{:<8} {:<17} {:>7}  {:<22} DETAIL", "STATUS", "CHECK", "SHOP", "FILE");
        for f in &report.findings {
            let status = if f.repaired.is_some() { "repaired" } else { f.severity.as_str() };
            let detail = match &f.repaired {
                Some(done) => format!("{} → {done}", f.detail),
                None => f.detail.clone(),
            };
            println!(
                "{:<8} {:<17} {:>7}  {:<22} {}",
                status,
                f.check,
                f.client_id.map_or("-".into(), |id| id.to_string()),
                f.file.as_deref().unwrap_or("-"),
                detail
            );
        }
        println!(
            "{} shops ({} files checked, schema version {}) in {:.1} s; disk {} MiB free; open-file limit {} \
             (connection budget {}); {}",
            report.shops,
            report.shop_files_checked,
            report.target_version,
            report.seconds,
            report.disk_free_bytes / (1024 * 1024),
            report.open_file_limit,
            report.connection_budget,
            if errors == 0 { "no problems".to_string() } else { format!("{errors} problem(s)") }
        );
    }
    if errors > 0 {
        bail!(
            "{errors} problem(s) found{}",
            if repair { " that --repair could not mend" } else { "; --repair mends most" }
        );
    }
    Ok(())
}
