//! Creating and deleting shops. Each step is recorded in the client's `status` in main.db first, so
//! a process that dies halfway leaves a state that start-up reconciliation can finish.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::names::{Domain, Subdomain};
use super::registry::{self, Client, ClientStatus};
use super::{Tenancy, files, template};
use crate::auth::Email;
use crate::db::migrations;
use crate::error::{AppError, Context, is_unique_violation};

/// How long deletion waits for in-flight requests on the shop to finish.
pub const DELETE_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A validated request for a new shop. The admin password arrives already hashed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewClient {
    pub name: String,
    pub subdomain: String,
    pub domain: Option<String>,
    pub admin_name: String,
    pub admin_email: String,
    pub admin_password_hash: String,
    /// The region the shop's file is created in (checked against the configuration by
    /// [`NewClient::in_region`]); `None`: the data folder.
    #[serde(default)]
    pub region: Option<String>,
}

impl NewClient {
    /// Parses raw input; every bad field is named in one 422. The password is only checked here:
    /// the caller hashes it (slowly, off the async workers) into `admin_password_hash`.
    pub fn parse(input: &NewClientInput<'_>, base_domain: &str) -> Result<Self, AppError> {
        let NewClientInput { name, subdomain, domain, admin_name, admin_email, admin_password } = *input;
        let mut errors = crate::error::FieldErrors::default();
        if let Some(password) = admin_password {
            errors.take("admin_password", crate::auth::password::validate(password));
        }
        let name = errors.take("name", crate::validate::name(name));
        let subdomain = errors.take("subdomain", Subdomain::parse(subdomain));
        let domain = match domain.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => errors.take("domain", Domain::parse(d, base_domain)).map(Some),
            None => Some(None),
        };
        let admin_email = errors.take("admin_email", Email::parse(admin_email));
        let admin_name = match admin_name {
            Some(n) => errors.take("admin_name", crate::validate::name(n)),
            None => name.clone().map(|n| format!("{n} admin")),
        };
        errors.into_result()?;
        let (Some(name), Some(subdomain), Some(domain), Some(admin_email), Some(admin_name)) =
            (name, subdomain, domain, admin_email, admin_name)
        else {
            unreachable!("into_result returned Ok with a field missing")
        };
        Ok(Self {
            name,
            subdomain: subdomain.as_str().to_string(),
            domain: domain.map(|d| d.as_str().to_string()),
            admin_name,
            admin_email: admin_email.as_str().to_string(),
            admin_password_hash: String::new(),
            region: None,
        })
    }

    /// Places the new shop in `region`, which must be configured (422 on `region` otherwise).
    pub fn in_region(mut self, regions: &super::regions::Regions, region: Option<&str>) -> Result<Self, AppError> {
        if let Some(name) = region
            && regions.dir(Some(name)).is_none()
        {
            return Err(unknown_region(regions));
        }
        self.region = region.map(str::to_string);
        Ok(self)
    }
}

/// A 422 on `region` listing the configured regions.
pub fn unknown_region(regions: &super::regions::Regions) -> AppError {
    let names = regions.names();
    AppError::invalid_field(
        "region",
        if names.is_empty() {
            "no regions are configured (VERGEFLOW_STORAGE_ROOTS); leave region out".to_string()
        } else {
            format!("must be one of {} (or null for the data folder)", names.join(", "))
        },
    )
}

/// The shop `new` already made, if one exists: its subdomain with an admin holding the very
/// password hash of `new` (a salted hash: no other request can have it). Lets a create job that a
/// crash interrupted run again without a 409.
pub fn made_by(main: &Connection, new: &NewClient) -> Result<Option<Client>, AppError> {
    let id: Option<i64> = rusqlite::OptionalExtension::optional(main.query_row(
        "SELECT c.id FROM clients c JOIN users u ON u.client_id = c.id
         WHERE c.subdomain = ?1 AND u.email = ?2 AND u.password_hash = ?3 AND c.status IN ('active', 'suspended')",
        rusqlite::params![new.subdomain, new.admin_email, new.admin_password_hash],
        |r| r.get(0),
    ))?;
    match id {
        Some(id) => Ok(registry::find(main, id)?),
        None => Ok(None),
    }
}

/// Refuses a new shop whose subdomain, custom domain or admin e-mail is already taken, with the
/// same 409s provisioning gives: lets the CLI say so before it prints a password for an admin it
/// will never create. Provisioning still enforces all three (this is only a look before).
pub fn check_available(main: &Connection, new: &NewClient) -> Result<(), AppError> {
    if registry::find_by_subdomain(main, &new.subdomain)?.is_some() {
        return Err(AppError::conflict("subdomain_taken", format!("the subdomain '{}' is taken", new.subdomain)));
    }
    if let Some(domain) = &new.domain
        && registry::find_by_domain(main, domain)?.is_some()
    {
        return Err(AppError::conflict(
            "domain_taken",
            format!("the custom domain '{domain}' belongs to another shop"),
        ));
    }
    if crate::auth::users::email_taken(main, &new.admin_email)? {
        return Err(AppError::conflict(
            "email_taken",
            format!("a user with the e-mail '{}' already exists", new.admin_email),
        ));
    }
    Ok(())
}

/// Raw fields of a shop to create, as the API or the CLI received them.
#[derive(Debug, Clone, Copy)]
pub struct NewClientInput<'a> {
    pub name: &'a str,
    pub subdomain: &'a str,
    pub domain: Option<&'a str>,
    pub admin_name: Option<&'a str>,
    pub admin_email: &'a str,
    pub admin_password: Option<&'a str>,
}

/// Step 1: the registry row (state `provisioning`) and the shop's admin, in one transaction.
pub fn begin_provisioning(tenancy: &Tenancy, main: &mut Connection, new: &NewClient) -> Result<i64, AppError> {
    let tx = main.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if new.region.as_deref().is_some_and(|r| tenancy.regions.dir(Some(r)).is_none()) {
        return Err(unknown_region(&tenancy.regions));
    }
    let id =
        registry::insert_provisioning(&tx, &new.name, &new.subdomain, new.domain.as_deref(), new.region.as_deref())
            .map_err(|e| {
                if is_unique_violation(&e, "subdomain") {
                    AppError::conflict("subdomain_taken", format!("the subdomain '{}' is taken", new.subdomain))
                } else if is_unique_violation(&e, "domain") {
                    AppError::conflict("domain_taken", "that custom domain belongs to another shop")
                } else {
                    e.into()
                }
            })?;
    crate::auth::users::insert_admin(&tx, id, &new.admin_name, &new.admin_email, &new.admin_password_hash).map_err(
        |e| {
            if is_unique_violation(&e, "email") {
                AppError::conflict("email_taken", "a user with that e-mail already exists")
            } else {
                e.into()
            }
        },
    )?;
    tx.commit()?;
    tenancy.regions.place(id, new.region.as_deref())?;
    Ok(id)
}

/// Steps 2–3: build (or adopt a valid) shop file, then mark the client `active`. Safe to repeat.
pub fn finish_provisioning(tenancy: &Tenancy, main: &mut Connection, id: i64) -> Result<Client, AppError> {
    let dir = tenancy.regions.dir_of(id);
    let path = files::client_path(&dir, id);
    let version = if path.exists() {
        match template::verify_file(&path, tenancy.locking, id) {
            Ok(()) => {
                let mut conn = crate::db::open_shop_file(&path, tenancy.locking, 256, crate::db::BUSY_TIMEOUT)
                    .context(format!("opening {}", path.display()))?;
                migrations::migrate_client(&mut conn)?;
                migrations::client_version(&conn)?
            }
            Err(problem) => {
                tracing::warn!(client_id = id, %problem, "unusable file for a provisioning shop; moving it aside");
                for p in files::family(&path).into_iter().filter(|p| p.exists()) {
                    files::move_aside(&dir, &p)?;
                }
                tenancy.template.build_file(&dir, id)?
            }
        }
    } else {
        tenancy.template.build_file(&dir, id)?
    };
    let tx = main.transaction_with_behavior(TransactionBehavior::Immediate)?;
    registry::set_schema_version(&tx, id, version)?;
    tx.execute("UPDATE clients SET status = 'active' WHERE id = ?1 AND status = 'provisioning'", [id])?;
    tx.commit()?;
    tenancy.directory.invalidate(id);
    let client = registry::find(main, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
    tracing::info!(client_id = id, subdomain = %client.subdomain, schema_version = version, "client created");
    crate::audit::lifecycle(
        main,
        id,
        "shop.created",
        serde_json::json!({ "subdomain": client.subdomain, "schema_version": version }),
    );
    Ok(client)
}

/// Creates a shop: registry row → file built under a temporary name and renamed → active.
/// If building fails, the row, its admin and any partial file are removed again.
pub fn provision_client(tenancy: &Tenancy, main: &mut Connection, new: &NewClient) -> Result<Client, AppError> {
    let id = begin_provisioning(tenancy, main, new)?;
    finish_provisioning(tenancy, main, id).inspect_err(|err| {
        tracing::error!(client_id = id, error = %err, "provisioning failed; rolling back");
        // Nothing has opened the file: it was never active.
        let dir = tenancy.regions.dir_of(id);
        let _ = files::remove_family(&files::building_path(&dir, id));
        let _ = files::remove_family(&files::client_path(&dir, id));
        let _ = registry::delete_row(main, id);
        tenancy.directory.invalidate(id);
    })
}

/// Refuses work on a shop that is not being served (missing, being created or deleted).
pub fn require_served(main: &Connection, id: i64) -> Result<registry::Client, AppError> {
    let client = registry::find(main, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
    if !matches!(client.status, ClientStatus::Active | ClientStatus::Suspended) {
        return Err(AppError::conflict("client_unavailable", format!("this shop is {}", client.status.as_str())));
    }
    Ok(client)
}

/// Deletes a shop: state `deleting` (requests get 503 at once) → wait for its connections to close
/// → remove the file, its sidecars and its backups → remove its admins, tokens and row. Safe to
/// repeat. With `final_backup`, an export of the shop is first written under
/// `<backups>/deleted/` (kept for VERGEFLOW_FINAL_BACKUP_DAYS; importable with `clients import`);
/// returns its path.
pub fn delete_client(
    tenancy: &Tenancy,
    main: &mut Connection,
    id: i64,
    final_backup: bool,
) -> Result<Option<std::path::PathBuf>, AppError> {
    let client = registry::find(main, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
    if client.status == ClientStatus::Provisioning {
        return Err(AppError::conflict("client_provisioning", "the shop is still being created; try again shortly"));
    }
    let _op = tenancy.file_ops.lock(id)?;
    let kept = if final_backup && client.status != ClientStatus::Deleting {
        // Retired (503) while the export is written, so it holds the shop's last data; the state is
        // still `active` in main.db, so a crash before `deleting` leaves the shop as it was.
        let written = tenancy
            .pools
            .retire(id, DELETE_DRAIN_TIMEOUT)
            .and_then(|()| crate::backups::transfer::final_export(tenancy, main, id));
        match written {
            Ok(path) => Some(path),
            Err(e) => {
                tenancy.pools.reinstate(id);
                return Err(e);
            }
        }
    } else {
        None
    };
    registry::set_status(main, id, ClientStatus::Deleting)?;
    tenancy.directory.invalidate(id);
    tenancy.pools.retire(id, DELETE_DRAIN_TIMEOUT)?;
    remove_files(tenancy, id)?;
    let tx = main.transaction_with_behavior(TransactionBehavior::Immediate)?;
    registry::delete_row(&tx, id)?;
    tx.commit()?;
    let _ = tenancy.regions.place(id, None);
    tenancy.directory.invalidate(id);
    tracing::info!(client_id = id, subdomain = %client.subdomain, "client deleted");
    crate::audit::lifecycle(
        main,
        id,
        "shop.deleted",
        serde_json::json!({ "subdomain": client.subdomain, "final_backup": kept.as_ref().map(|p| p.display().to_string()) }),
    );
    Ok(kept)
}

/// Removes everything of a shop on disk: its file, sidecars, half-built file and backups.
pub(super) fn remove_files(tenancy: &Tenancy, id: i64) -> Result<(), AppError> {
    // Every root: a move a crash interrupted may have left a copy in another.
    for (_, dir) in tenancy.regions.all_dirs() {
        files::remove_family(&files::client_path(dir, id))?;
        files::remove_family(&files::building_path(dir, id))?;
    }
    let backups = crate::backups::Source::Client(id).folder(&tenancy.backup_dir);
    match std::fs::remove_dir_all(&backups) {
        Ok(()) => files::sync_dir(&tenancy.backup_dir)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(AppError::Internal(anyhow::Error::new(e).context(format!("removing {}", backups.display()))));
        }
    }
    Ok(())
}
