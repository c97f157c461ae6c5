//! `/api/super-admin`: list, create, change, delete and migrate shops; pool statistics.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use rusqlite::TransactionBehavior;
use serde::{Deserialize, Serialize};

use crate::auth::caller::SuperAdmin;
use crate::body::Body;
use crate::error::{AppError, FieldErrors, is_unique_violation};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::pagination::{Page, Paginated};
use crate::state::AppState;
use crate::tenancy::lifecycle::{self, NewClient, NewClientInput};
use crate::tenancy::names::{Domain, Subdomain};
use crate::tenancy::pools::PoolStats;
use crate::tenancy::registry::{self, Client, ClientChanges, ClientStatus};

pub fn routes(api: &mut Api) {
    const LIST: &[(&str, &str)] = &[("page", "integer"), ("per_page", "integer"), ("status", "string")];
    api.get(
        "/api/super-admin/clients",
        Spec::new("List shops", Access::SuperAdmin, Answer::Json(200, schema::<Paginated<Client>>)).query(LIST),
        list,
    )
    .post(
        "/api/super-admin/clients",
        Spec::new("Create a shop and its admin", Access::SuperAdmin, Answer::Json(201, schema::<Client>)).body_as(
            schema::<CreateBody>,
            "ClientCreate",
            &["name", "subdomain", "admin_email", "admin_password"],
        ),
        create,
    )
    .get(
        "/api/super-admin/clients/{id}",
        Spec::new("One shop", Access::SuperAdmin, Answer::Json(200, schema::<Client>)),
        show,
    )
    .patch(
        "/api/super-admin/clients/{id}",
        Spec::new(
            "Rename, change the domain, suspend or reactivate a shop",
            Access::SuperAdmin,
            Answer::Json(200, schema::<Client>),
        )
        .body_as(schema::<UpdateBody>, "ClientUpdate", &[]),
        update,
    )
    .delete(
        "/api/super-admin/clients/{id}",
        Spec::new(
            "Delete a shop and everything of it (final_backup=true first keeps an export for VERGEFLOW_FINAL_BACKUP_DAYS)",
            Access::SuperAdmin,
            Answer::NoContent,
        )
        .query(&[("final_backup", "boolean")]),
        delete,
    )
    .post(
        "/api/super-admin/clients/{id}/migrate",
        Spec::new("Run pending migrations on one shop", Access::SuperAdmin, Answer::Json(200, schema::<MigrateResult>)),
        migrate,
    )
    .get(
        "/api/super-admin/stats",
        Spec::new("Registry and pool statistics", Access::SuperAdmin, Answer::Json(200, schema::<Stats>)),
        stats,
    );
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

fn parse_status(raw: &str) -> Result<ClientStatus, String> {
    match raw {
        "provisioning" => Ok(ClientStatus::Provisioning),
        "active" => Ok(ClientStatus::Active),
        "suspended" => Ok(ClientStatus::Suspended),
        "deleting" => Ok(ClientStatus::Deleting),
        _ => Err("must be one of provisioning, active, suspended, deleting".into()),
    }
}

async fn list(
    state: web::Data<AppState>,
    _: SuperAdmin,
    q: web::Query<ListQuery>,
) -> Result<web::Json<Paginated<Client>>, AppError> {
    let page = Page::parse(q.page, q.per_page)?;
    let status = q.status.as_deref().map(parse_status).transpose().map_err(|e| AppError::invalid_field("status", e))?;
    let (rows, total) = state.main.run(move |c| Ok(registry::list(c, status, page.limit(), page.offset())?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

/// A client id from a URL: positive digits, or 404 `client_not_found`.
pub fn client_id(path: &str) -> Result<i64, AppError> {
    path.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| AppError::not_found("client_not_found", "no such client"))
}

/// The client a URL's `{id}` names, from the registry, or 404 `client_not_found`.
pub async fn find_client(state: &AppState, path: &str) -> Result<Client, AppError> {
    let id = client_id(path)?;
    let found = state.main.run(move |c| Ok(registry::find(c, id)?)).await?;
    found.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))
}

async fn show(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<web::Json<Client>, AppError> {
    let mut client = find_client(&state, &path).await?;
    client.usage = Some(crate::quotas::routes::usage(&state, &client).await?);
    Ok(web::Json(client))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Vault 64", "subdomain": "vault64", "admin_email": "owner@vault64.example", "admin_password": "a long admin password"}))]
struct CreateBody {
    #[schemars(length(min = 1, max = 200))]
    name: String,
    /// 1–63 of a-z, 0-9 and -, not all digits, not starting or ending with -, not reserved.
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    subdomain: String,
    domain: Option<String>,
    #[schemars(length(min = 3, max = 254))]
    admin_email: String,
    #[schemars(length(min = 8, max = 1024))]
    admin_password: String,
    admin_name: Option<String>,
    /// The region (from VERGEFLOW_STORAGE_ROOTS) the shop's file is created in; left out or null:
    /// the data folder.
    #[schemars(length(min = 1, max = 32))]
    region: Option<String>,
}

async fn create(state: web::Data<AppState>, _: SuperAdmin, body: Body<CreateBody>) -> Result<HttpResponse, AppError> {
    let input = NewClientInput {
        name: &body.name,
        subdomain: &body.subdomain,
        domain: body.domain.as_deref(),
        admin_name: body.admin_name.as_deref(),
        admin_email: &body.admin_email,
        admin_password: Some(&body.admin_password),
    };
    let client = create_client(&state, &input, body.region.as_deref()).await?;
    Ok(HttpResponse::Created().json(client))
}

/// Creates a shop (the API's `POST` and the console's form): checked, its admin's password hashed
/// on the hashing threads, provisioned.
pub async fn create_client(
    state: &AppState,
    input: &NewClientInput<'_>,
    region: Option<&str>,
) -> Result<Client, AppError> {
    let mut new = NewClient::parse(input, &state.settings.base_domain)?.in_region(&state.tenancy.regions, region)?;
    // Only a signed-in super admin gets here, so no rate applies (bulk provisioning scripts are
    // normal); the hashing pool still bounds how many hashes run and wait at once.
    new.admin_password_hash = state.hashing.hash(input.admin_password.unwrap_or_default().to_string()).await?;
    let tenancy = state.tenancy.clone();
    state.main.run(move |conn| lifecycle::provision_client(&tenancy, conn, &new)).await
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct UpdateBody {
    name: Option<String>,
    subdomain: Option<String>,
    /// A custom domain, or null to remove it.
    #[serde(default, deserialize_with = "crate::validate::explicit_null")]
    #[schemars(with = "Option<String>")]
    domain: Option<Option<String>>,
    status: Option<String>,
    /// This shop's backup schedule ('30m', '6h', '1d', '1w', 'off'), or null to follow the global one.
    #[serde(default, deserialize_with = "crate::validate::explicit_null")]
    #[schemars(with = "Option<String>")]
    backup_every: Option<Option<String>>,
}

pub(crate) async fn update(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
    body: Body<UpdateBody>,
) -> Result<web::Json<Client>, AppError> {
    let id = client_id(&path)?;
    let body = body.into_inner();
    let mut errors = FieldErrors::default();
    let changes = ClientChanges {
        name: body.name.as_deref().and_then(|n| errors.take("name", crate::validate::name(n))),
        subdomain: body
            .subdomain
            .as_deref()
            .and_then(|s| errors.take("subdomain", Subdomain::parse(s)))
            .map(|s| s.as_str().to_string()),
        domain: match body.domain {
            None => None,
            Some(None) => Some(None),
            Some(Some(d)) if d.trim().is_empty() => Some(None),
            Some(Some(d)) => errors
                .take("domain", Domain::parse(&d, &state.settings.base_domain))
                .map(|d| Some(d.as_str().to_string())),
        },
        status: match body.status.as_deref() {
            None => None,
            Some(s @ ("active" | "suspended")) => parse_status(s).ok(),
            Some(_) => {
                errors.add("status", "must be active or suspended");
                None
            }
        },
        backup_every: match body.backup_every {
            None => None,
            Some(None) => Some(None),
            Some(Some(every)) => errors
                .take("backup_every", crate::backups::parse_every(&every))
                .map(|_| Some(every.trim().to_ascii_lowercase())),
        },
    };
    errors.into_result()?;
    let tenancy = state.tenancy.clone();
    let client = state.main.run(move |conn| apply_changes(&tenancy, conn, id, &changes)).await?;
    Ok(web::Json(client))
}

/// Applies a shop's registry changes (the API's `PATCH` and the console's forms): a status change
/// only between active and suspended, logged and audited; the directory cache dropped.
pub fn apply_changes(
    tenancy: &crate::tenancy::Tenancy,
    conn: &mut rusqlite::Connection,
    id: i64,
    changes: &ClientChanges,
) -> Result<Client, AppError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = registry::find(&tx, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
    if changes.status.is_some() && !matches!(current.status, ClientStatus::Active | ClientStatus::Suspended) {
        return Err(AppError::conflict(
            "invalid_status_transition",
            format!("a {} shop cannot be suspended or reactivated", current.status.as_str()),
        ));
    }
    registry::update(&tx, id, changes).map_err(|e| {
        if is_unique_violation(&e, "subdomain") {
            AppError::conflict("subdomain_taken", "that subdomain is taken")
        } else if is_unique_violation(&e, "domain") {
            AppError::conflict("domain_taken", "that custom domain belongs to another shop")
        } else {
            e.into()
        }
    })?;
    let updated = registry::find(&tx, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
    tx.commit()?;
    tenancy.directory.invalidate(id);
    if updated.status != current.status {
        tracing::info!(
            client_id = id,
            from = current.status.as_str(),
            to = updated.status.as_str(),
            "client status changed"
        );
        let event = if updated.status == ClientStatus::Suspended { "shop.suspended" } else { "shop.resumed" };
        crate::audit::lifecycle(conn, id, event, serde_json::json!({ "from": current.status.as_str() }));
    }
    Ok(updated)
}

#[derive(Deserialize)]
struct DeleteQuery {
    final_backup: Option<bool>,
}

async fn delete(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
    q: web::Query<DeleteQuery>,
) -> Result<HttpResponse, AppError> {
    let id = client_id(&path)?;
    let tenancy = state.tenancy.clone();
    let final_backup = q.final_backup.unwrap_or(false);
    state.main.run(move |conn| lifecycle::delete_client(&tenancy, conn, id, final_backup)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct MigrateResult {
    pub(crate) client: Client,
    pub(crate) applied: Vec<i64>,
}

pub(crate) async fn migrate(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<web::Json<MigrateResult>, AppError> {
    let id = client_id(&path)?;
    let tenancy = state.tenancy.clone();
    let result = state
        .main
        .run(move |conn| {
            let client =
                registry::find(conn, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
            if !matches!(client.status, ClientStatus::Active | ClientStatus::Suspended) {
                return Err(AppError::unavailable(
                    "client_unavailable",
                    format!("this shop is {}", client.status.as_str()),
                ));
            }
            let applied = crate::fleet::migrate::migrate_one(&tenancy, conn, id)?.applied;
            let client =
                registry::find(conn, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
            Ok(MigrateResult { client, applied })
        })
        .await?;
    Ok(web::Json(result))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Stats {
    clients: i64,
    clients_by_status: BTreeMap<String, i64>,
    #[serde(flatten)]
    pools: PoolStats,
    /// The budgets behind `connection_budget`: descriptors, memory, and what one connection may cost.
    shop_budget: crate::config::ShopBudget,
    /// Memory the open shop connections may hold at most (open connections × bytes per connection).
    shop_memory_bound_bytes: u64,
    process: crate::sys::ProcessFigures,
}

async fn stats(state: web::Data<AppState>, _: SuperAdmin) -> Result<web::Json<Stats>, AppError> {
    let by_status = state.main.run(|c| Ok(registry::count_by_status(c)?)).await?;
    let pools = state.tenancy.pools.stats();
    Ok(web::Json(Stats {
        clients: by_status.iter().map(|(_, n)| n).sum(),
        clients_by_status: by_status.into_iter().collect(),
        shop_memory_bound_bytes: state.settings.shop_budget.memory_bound(pools.open_connections),
        pools,
        shop_budget: state.settings.shop_budget,
        process: crate::sys::process_figures(),
    }))
}
