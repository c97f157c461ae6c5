//! `/super-admin/`: sign-in, the dashboard, the shops (list, search, create, a shop's page with
//! suspend and resume, backups and deletion).

use std::collections::HashMap;

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use maud::{Markup, html};

use super::views::{self, csrf_field};
use super::{ConsoleError, after, checked_form, csrf_token, flash, html_page, redirect, super_admin, take_flash};
use crate::auth::caller::Caller;
use crate::backups::Source;
use crate::error::AppError;
use crate::jobs::Task;
use crate::state::AppState;
use crate::tenancy::lifecycle::NewClientInput;
use crate::tenancy::registry::{self, ClientChanges, ClientStatus};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/", web::get().to(dashboard))
        .route("", web::get().to(|| async { redirect("/super-admin/") }))
        .route("/clients", web::get().to(clients))
        .route("/clients", web::post().to(create))
        .route("/clients/create", web::get().to(create_page))
        .route("/clients/import", web::get().to(import_page))
        .route("/clients/import", web::post().to(import_shop))
        .route("/clients/{id}", web::get().to(client_page))
        .route("/clients/{id}/status", web::post().to(set_status))
        .route("/clients/{id}/backups", web::post().to(back_up))
        .route("/clients/{id}/backups/{name}/restore", web::post().to(restore))
        .route("/clients/{id}/delete", web::post().to(delete))
        .route("/clients/{id}/features", web::post().to(set_features))
        .route("/clients/{id}/migrate", web::post().to(migrate))
        .route("/clients/{id}/move", web::post().to(move_region))
        .route("/clients/{id}/quotas", web::post().to(set_quotas))
        .route("/clients/{id}/edit", web::post().to(edit_client))
        .route("/clients/{id}/backups/{name}/delete", web::post().to(delete_backup))
        .route("/clients/{id}/export", web::get().to(export))
        .route("/clients/{id}/backups/{name}", web::get().to(download))
        .route("/jobs", web::get().to(jobs))
        .route("/jobs/failed", web::get().to(failed_jobs))
        .route("/jobs/failed/{id}/retry", web::post().to(retry_job))
        .route("/jobs/failed/{id}/forget", web::post().to(forget_job))
        .route("/schedules", web::get().to(schedules))
        .route("/schedules", web::post().to(save_schedule))
        .route("/features", web::get().to(feature_defaults))
        .route("/features", web::post().to(save_feature_defaults))
        .route("/migrations", web::get().to(migrations))
        .route("/migrations", web::post().to(start_migrations))
        .route("/backups", web::post().to(back_up_all))
        .route("/audit", web::get().to(audit))
        .route("/settings", web::get().to(settings))
        .route("/settings", web::post().to(save_settings))
        .route("/banners", web::get().to(banners))
        .route("/banners", web::post().to(create_banner))
        .route("/banners/{id}/delete", web::post().to(delete_banner))
        .route("/pages", web::get().to(pages))
        .route("/pages", web::post().to(create_content_page))
        .route("/pages/{id}/delete", web::post().to(delete_page));
}

const NAV: &[(&str, &str)] = &[
    ("/super-admin/", "Dashboard"),
    ("/super-admin/clients", "Shops"),
    ("/super-admin/clients/create", "New shop"),
    ("/super-admin/jobs", "Jobs"),
    ("/super-admin/schedules", "Schedules"),
    ("/super-admin/migrations", "Migrations"),
    ("/super-admin/features", "Features"),
    ("/super-admin/audit", "Audit"),
    ("/super-admin/banners", "Banners"),
    ("/super-admin/pages", "Pages"),
    ("/super-admin/settings", "Settings"),
];

/// A signed-in page: the navigation, the flash message, the content.
fn signed_in(session: &Session, title: &str, content: Markup) -> HttpResponse {
    let csrf = csrf_token(session);
    let nav = views::Nav { links: NAV, logout: "/super-admin/logout", csrf: &csrf };
    html_page(views::page(title, Some(&nav), take_flash(session).as_deref(), content))
}

async fn login_page(session: Session, caller: Caller) -> HttpResponse {
    if matches!(caller, Caller::SuperAdmin { .. }) {
        return redirect("/super-admin/");
    }
    html_page(login_form(&csrf_token(&session), None))
}

fn login_form(csrf: &str, problem: Option<&str>) -> Markup {
    views::page(
        "Sign in",
        None,
        None,
        html! {
            h1 { "Super admin sign-in" }
            @if let Some(p) = problem { p.error role="alert" { (p) } }
            form.stack method="post" action="/super-admin/login" {
                (csrf_field(csrf))
                label { "E-mail" input type="email" name="email" autocomplete="username" required; }
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let refused = |message: &str| login_form(&csrf_token(&session), Some(message));
    super::sign_in(&state, &req, &session, form, &super::SUPER_ADMIN_DOOR, refused).await
}

async fn logout(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    super::sign_out(&state, &session, Some(caller), form, &super::SUPER_ADMIN_DOOR).await
}

async fn dashboard(state: web::Data<AppState>, session: Session, caller: Caller) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    let tenancy = state.tenancy.clone();
    let (by_status, jobs_running, jobs_failed, failed_migrations, disk) = state
        .main
        .run(move |c| {
            let by_status = registry::count_by_status(c)?;
            let (running, failed): (i64, i64) = c.query_row(
                "SELECT COUNT(*) FILTER (WHERE status = 'running'), COUNT(*) FILTER (WHERE status = 'failed') FROM jobs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let failed_migrations: i64 =
                c.query_row("SELECT COUNT(*) FROM clients WHERE migration_error IS NOT NULL", [], |r| r.get(0))?;
            let disk: u64 = registry::all_ids(c)?
                .into_iter()
                .map(|id| crate::quotas::storage_bytes(&tenancy.regions.path_of(id)))
                .sum();
            Ok((by_status, running, failed, failed_migrations, disk))
        })
        .await?;
    let pools = state.tenancy.pools.stats();
    let lookups = pools.hits + pools.misses;
    let hit_rate =
        if lookups == 0 { "–".to_string() } else { format!("{:.1} %", pools.hits as f64 * 100.0 / lookups as f64) };
    let card = |n: String, label: &str| html! { div.card { div.n { (n) } div.l { (label) } } };
    Ok(signed_in(
        &session,
        "Dashboard",
        html! {
            h1 { "Dashboard" }
            h2 { "Shops" }
            div.cards {
                @for (status, n) in &by_status { (card(n.to_string(), status)) }
                (card(failed_migrations.to_string(), "failed migrations"))
                (card(format!("{:.1} MB", disk as f64 / 1e6), "shop files on disk"))
            }
            form.inline method="post" action="/super-admin/backups" {
                (csrf_field(&csrf_token(&session)))
                button.secondary type="submit" { "Back up every shop now" }
            }
            h2 { "Serving" }
            div.cards {
                (card(format!("{} / {}", pools.open_pools, pools.max_open_pools), "open shop pools"))
                (card(hit_rate, "pool hit rate"))
                (card(jobs_running.to_string(), "jobs running"))
                (card(jobs_failed.to_string(), "jobs failed"))
            }
        },
    ))
}

fn parse_status(raw: Option<&str>) -> Option<ClientStatus> {
    match raw? {
        "provisioning" => Some(ClientStatus::Provisioning),
        "active" => Some(ClientStatus::Active),
        "suspended" => Some(ClientStatus::Suspended),
        "deleting" => Some(ClientStatus::Deleting),
        _ => None,
    }
}

async fn clients(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    q: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    let search = q.get("q").map(|s| s.trim().to_string()).filter(|s| !s.is_empty() && s.len() <= 100);
    let status = parse_status(q.get("status").map(String::as_str));
    let page = q.get("page").and_then(|p| p.parse::<i64>().ok()).filter(|p| (1..=100_000).contains(p)).unwrap_or(1);
    const PER_PAGE: i64 = 25;
    let s = search.clone();
    let (rows, total) = state
        .main
        .run(move |c| Ok(registry::search(c, s.as_deref(), status, PER_PAGE, (page - 1) * PER_PAGE)?))
        .await?;
    let link = |p: i64| {
        let mut query = vec![format!("page={p}")];
        if let Some(s) = &search {
            query.push(format!("q={}", urlencoding(s)));
        }
        if let Some(st) = status {
            query.push(format!("status={}", st.as_str()));
        }
        format!("/super-admin/clients?{}", query.join("&"))
    };
    Ok(signed_in(
        &session,
        "Shops",
        html! {
            h1 { "Shops" }
            form.filters method="get" action="/super-admin/clients" role="search" {
                label { "Search" input type="search" name="q" value=(search.as_deref().unwrap_or("")) placeholder="name, subdomain or domain"; }
                label { "Status"
                    select name="status" {
                        option value="" { "any" }
                        @for st in ["active", "suspended", "provisioning", "deleting"] {
                            option value=(st) selected[status.is_some_and(|s| s.as_str() == st)] { (st) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            p { a href="/super-admin/clients/import" { "Import a shop from an export file" } }
            p.muted { (total) " shops" }
            div.table-wrap {
                table {
                    thead { tr { th { "Id" } th { "Name" } th { "Subdomain" } th { "Domain" } th { "Status" } th { "Created" } } }
                    tbody {
                        @for c in &rows {
                            tr {
                                td { (c.id) }
                                td { a href=(format!("/super-admin/clients/{}", c.id)) { (c.name) } }
                                td { (c.subdomain) }
                                td { (c.domain.as_deref().unwrap_or("")) }
                                td { (c.status.as_str()) }
                                td { (c.created_at) }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if page > 1 { a href=(link(page - 1)) { "← Previous" } }
                @if page * PER_PAGE < total { a href=(link(page + 1)) { "Next →" } }
            }
        },
    ))
}

/// Percent-encodes a query value.
pub(super) fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn create_form(csrf: &str, values: &HashMap<String, String>, problem: Option<&str>) -> Markup {
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    html! {
        h1 { "New shop" }
        @if let Some(p) = problem { p.error role="alert" { (p) } }
        form.stack method="post" action="/super-admin/clients" {
            (csrf_field(csrf))
            label { "Name" input name="name" value=(v("name")) required maxlength="200"; }
            label { "Subdomain" input name="subdomain" value=(v("subdomain")) required pattern="[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"; }
            label { "Custom domain (optional)" input name="domain" value=(v("domain")); }
            label { "Admin's e-mail" input type="email" name="admin_email" value=(v("admin_email")) required; }
            label { "Admin's password (at least 8 characters)" input type="password" name="admin_password" required minlength="8" autocomplete="new-password"; }
            button type="submit" { "Create the shop" }
        }
    }
}

async fn create_page(session: Session, caller: Caller) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    let csrf = csrf_token(&session);
    Ok(signed_in(&session, "New shop", create_form(&csrf, &HashMap::new(), None)))
}

async fn create(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let v = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let input = NewClientInput {
        name: v("name"),
        subdomain: v("subdomain"),
        domain: Some(v("domain")).filter(|d| !d.trim().is_empty()),
        admin_name: None,
        admin_email: v("admin_email"),
        admin_password: Some(v("admin_password")),
    };
    match crate::super_admin::routes::create_client(&state, &input, None).await {
        Ok(client) => {
            flash(
                &session,
                format!("Shop {} created: {}.{}", client.name, client.subdomain, state.settings.base_domain),
            );
            Ok(redirect(&format!("/super-admin/clients/{}", client.id)))
        }
        Err(e @ (AppError::Validation { .. } | AppError::Conflict { .. })) => {
            let csrf = csrf_token(&session);
            let problem = match &e {
                AppError::Validation { fields, .. } => {
                    fields.iter().map(|(f, p)| format!("{f} {p}")).collect::<Vec<_>>().join("; ")
                }
                other => other.to_string(),
            };
            let mut res = signed_in(&session, "New shop", create_form(&csrf, &form, Some(&problem)));
            *res.status_mut() = e.status_code();
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

async fn client_page(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    let client = crate::super_admin::routes::find_client(&state, &path).await?;
    let usage = crate::quotas::routes::usage(&state, &client).await?;
    let folder = Source::Client(client.id).folder(&state.settings.backup_dir);
    let backups = web::block(move || crate::backups::store::list(&folder)).await?.map_err(AppError::Internal)?;
    let csrf = csrf_token(&session);
    let id = client.id;
    let features: Vec<(String, bool)> = serde_json::to_value(client.features)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|m| m.into_iter().filter_map(|(k, v)| Some((k, v.as_bool()?))).collect())
        .unwrap_or_default();
    let action = |what: &str| format!("/super-admin/clients/{id}/{what}");
    let regions = state.tenancy.regions.names();
    let quota = |v: Option<i64>, unit: &str| match v {
        Some(n) => format!("quota {n}{unit}"),
        None => "quota: the server's default".into(),
    };
    Ok(signed_in(
        &session,
        &client.name,
        html! {
            h1 { (client.name) }
            dl {
                dt { "Id" } dd { (client.id) }
                dt { "Subdomain" } dd { (client.subdomain) "." (state.settings.base_domain) }
                dt { "Custom domain" } dd { (client.domain.as_deref().unwrap_or("–")) }
                dt { "Status" } dd { (client.status.as_str()) }
                dt { "File" } dd { (client.database) " (" (client.region.as_deref().unwrap_or("data folder")) ")" }
                dt { "Schema version" } dd { (client.schema_version) }
                @if let Some(e) = &client.migration_error { dt { "Migration error" } dd.error { (e) } }
                dt { "Created" } dd { (client.created_at) }
            }
            form.stack method="post" action=(action("edit")) {
                (csrf_field(&csrf))
                label { "Name" input name="name" value=(client.name) maxlength="200"; }
                label { "Custom domain (empty: none)" input name="domain" value=(client.domain.as_deref().unwrap_or("")); }
                label { "Backup schedule (30m, 6h, 1d, 1w, off; empty: the global one)" input name="backup_every" value=(client.backup_every.as_deref().unwrap_or("")); }
                button.secondary type="submit" { "Save" }
            }
            h2 { "Usage and quotas" }
            dl {
                dt { "Storage" } dd { (format!("{:.2} MB", usage.storage_bytes as f64 / 1e6)) " (" (quota(client.quotas.max_storage_mb, " MB")) ")" }
                dt { "Products" } dd { (usage.products.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) " (" (quota(client.quotas.max_products, "")) ")" }
                dt { "Orders" } dd { (usage.orders.map(|n| n.to_string()).unwrap_or_else(|| "–".into())) }
                dt { "Requests (24 h)" } dd { (usage.requests_24h) }
            }
            form.stack method="post" action=(action("quotas")) {
                (csrf_field(&csrf))
                p.muted { "Quotas: an empty field is the server's default." }
                @for (name, label, value) in [
                    ("max_storage_mb", "Storage, MB", client.quotas.max_storage_mb),
                    ("max_products", "Products", client.quotas.max_products),
                    ("requests_per_second", "Requests a second", client.quotas.requests_per_second),
                ] {
                    label { (label) input type="number" min="0" name=(name) value=(value.map(|v| v.to_string()).unwrap_or_default()); }
                }
                button.secondary type="submit" { "Save the quotas" }
            }
            h2 { "Actions" }
            div.actions {
                @if matches!(client.status, ClientStatus::Active | ClientStatus::Suspended) {
                    form.inline method="post" action=(action("status")) {
                        (csrf_field(&csrf))
                        @if client.status == ClientStatus::Active {
                            input type="hidden" name="status" value="suspended";
                            button.secondary type="submit" { "Suspend" }
                        } @else {
                            input type="hidden" name="status" value="active";
                            button.secondary type="submit" { "Resume" }
                        }
                    }
                    form.inline method="post" action=(action("backups")) {
                        (csrf_field(&csrf))
                        button.secondary type="submit" { "Back up now" }
                    }
                    form.inline method="post" action=(action("migrate")) {
                        (csrf_field(&csrf))
                        button.secondary type="submit" { "Migrate" }
                    }
                    a.button href=(action("export")) hx-boost="false" { "Download an export" }
                }
            }
            @if !regions.is_empty() {
                h2 { "Region" }
                form.stack method="post" action=(action("move")) {
                    (csrf_field(&csrf))
                    label { "Move the shop's file to"
                        select name="region" {
                            option value="" selected[client.region.is_none()] { "the data folder" }
                            @for r in &regions { option value=(r) selected[client.region.as_deref() == Some(r.as_str())] { (r) } }
                        }
                    }
                    button.secondary type="submit" { "Move" }
                }
            }
            h2 { "Features" }
            form.stack method="post" action=(action("features")) {
                (csrf_field(&csrf))
                @for (name, on) in &features {
                    label { (name.replace('_', " "))
                        select name=(name) {
                            option value="true" selected[*on] { "on" }
                            option value="false" selected[!*on] { "off" }
                        }
                    }
                }
                button type="submit" { "Save the features" }
            }
            h2 { "Backups" }
            @if backups.is_empty() {
                p.muted { "No backups yet." }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr { th { "Name" } th { "Kind" } th { "Taken" } th { "Size" } th { "Verified" } th {} } }
                        tbody {
                            @for b in &backups {
                                tr {
                                    td { (b.name) }
                                    td { (format!("{:?}", b.kind).to_lowercase()) }
                                    td { (b.created_at) }
                                    td { (format!("{:.2} MB", b.size_bytes as f64 / 1e6)) }
                                    td { (if b.verified { "yes" } else { "no" }) }
                                    td {
                                        a href=(action(&format!("backups/{}", b.name))) hx-boost="false" { "Download" } " "
                                        form.inline method="post" action=(action(&format!("backups/{}/restore", b.name))) {
                                            (csrf_field(&csrf))
                                            button.secondary type="submit" { "Restore" }
                                        }
                                        " "
                                        form.inline method="post" action=(action(&format!("backups/{}/delete", b.name))) {
                                            (csrf_field(&csrf))
                                            button.secondary type="submit" { "Delete" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Delete" }
            form.stack method="post" action=(action("delete")) {
                (csrf_field(&csrf))
                p { "Deleting removes the shop's file, backups, admins and tokens. Type the subdomain "
                    strong { (client.subdomain) } " to confirm." }
                label { "Subdomain" input name="confirm" autocomplete="off" required; }
                button.danger type="submit" { "Delete this shop" }
            }
        },
    ))
}

async fn set_status(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let id = crate::super_admin::routes::client_id(&path)?;
    let status = match form.get("status").map(String::as_str) {
        Some("active") => ClientStatus::Active,
        Some("suspended") => ClientStatus::Suspended,
        _ => return Err(AppError::invalid_field("status", "must be active or suspended").into()),
    };
    let changes = ClientChanges { status: Some(status), ..Default::default() };
    let tenancy = state.tenancy.clone();
    let client =
        state.main.run(move |conn| crate::super_admin::routes::apply_changes(&tenancy, conn, id, &changes)).await?;
    flash(&session, format!("{} is {} now.", client.name, client.status.as_str()));
    Ok(redirect(&format!("/super-admin/clients/{id}")))
}

async fn back_up(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    checked_form(&session, form)?;
    let client = crate::super_admin::routes::find_client(&state, &path).await?;
    let task = Task::BackupClient { client_id: client.id };
    let job = state.main.run(move |c| crate::jobs::enqueue(c, &task)).await?;
    flash(&session, format!("Backup queued (job {job}); it appears below when done."));
    Ok(redirect(&format!("/super-admin/clients/{}", client.id)))
}

async fn restore(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<(String, String)>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    checked_form(&session, form)?;
    let (id, info, _) = crate::backups::routes::find(&state, &path).await?;
    crate::backups::routes::served(&state, id).await?;
    let task = Task::RestoreClient { client_id: id, name: info.name.clone() };
    let job = state.main.run(move |c| crate::jobs::enqueue(c, &task)).await?;
    flash(
        &session,
        format!("Restore of {} queued (job {job}); the shop answers 503 for a moment while it runs.", info.name),
    );
    Ok(redirect(&format!("/super-admin/clients/{id}")))
}

async fn delete(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let client = crate::super_admin::routes::find_client(&state, &path).await?;
    if form.get("confirm").map(|c| c.trim()) != Some(client.subdomain.as_str()) {
        flash(&session, "Not deleted: the subdomain typed did not match.");
        return Ok(redirect(&format!("/super-admin/clients/{}", client.id)));
    }
    let tenancy = state.tenancy.clone();
    let id = client.id;
    state.main.run(move |conn| crate::tenancy::lifecycle::delete_client(&tenancy, conn, id, false).map(|_| ())).await?;
    flash(&session, format!("Shop {} deleted.", client.name));
    Ok(redirect("/super-admin/clients"))
}

fn as_super_admin(caller: &Caller) -> Result<crate::auth::caller::SuperAdmin, ConsoleError> {
    let user_id = super_admin(caller)?;
    Ok(crate::auth::caller::SuperAdmin { user_id, caller: caller.clone() })
}

/// Global content, as the API's super admin manages it.
fn global(state: &AppState) -> crate::content::routes::Global {
    crate::content::routes::Global(state.main.clone())
}

fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<web::Query<T>, AppError> {
    web::Query::<T>::from_query(req.query_string())
        .map_err(|e| AppError::unprocessable("validation_failed", format!("the page's parameters: {e}")))
}

fn params(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default()
}

async fn set_features(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let id = path.clone();
    let flags: serde_json::Map<String, serde_json::Value> = form
        .iter()
        .filter(|(k, _)| k.as_str() != "_csrf")
        .map(|(k, v)| (k.clone(), serde_json::Value::Bool(v == "true")))
        .collect();
    crate::features::routes::set_for_client(state, sa, path, crate::body::Body(flags)).await?;
    flash(&session, "Features saved.");
    Ok(redirect(&format!("/super-admin/clients/{id}")))
}

async fn migrate(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    checked_form(&session, form)?;
    let id = path.clone();
    match crate::super_admin::routes::migrate(state, sa, path).await {
        Ok(done) => {
            let done = done.into_inner();
            flash(
                &session,
                format!(
                    "Migrated: {} migration(s) applied, now at version {}.",
                    done.applied.len(),
                    done.client.schema_version
                ),
            );
        }
        Err(e) if e.status_code().is_client_error() => {
            flash(&session, format!("Not migrated: {}", super::kit::problem(&e)))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(redirect(&format!("/super-admin/clients/{id}")))
}

async fn set_quotas(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let id = path.clone();
    // An empty field goes back to the server's default (null), as the API's PATCH says.
    let mut body = serde_json::Map::new();
    for name in ["max_storage_mb", "max_products", "requests_per_second"] {
        let v = form.get(name).map(|v| v.trim()).unwrap_or("");
        let value = match v.parse::<i64>() {
            Ok(n) => serde_json::Value::from(n),
            Err(_) if v.is_empty() => serde_json::Value::Null,
            Err(_) => serde_json::Value::String(v.to_string()),
        };
        body.insert(name.to_string(), value);
    }
    let done = match super::kit::parse(serde_json::Value::Object(body)) {
        Ok(body) => crate::quotas::routes::update(state, sa, path, body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    after(&session, done, "Quotas saved.")?;
    Ok(redirect(&format!("/super-admin/clients/{id}")))
}

async fn move_region(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let id = path.clone();
    let region = form.get("region").map(|r| r.trim()).filter(|r| !r.is_empty());
    let body = serde_json::json!({ "region": region });
    let done = match super::kit::parse(body) {
        Ok(body) => crate::regions::routes::move_client(state, sa, path, body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    after(&session, done, "Move queued; the shop answers 503 for a moment while its file moves.")?;
    Ok(redirect(&format!("/super-admin/clients/{id}")))
}

async fn export(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    Ok(crate::backups::routes::export(state, sa, path).await?)
}

async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    Ok(crate::backups::routes::download(state, sa, path).await?)
}

async fn jobs(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let answer = serde_json::to_value(crate::jobs::routes::list(state, sa, query(&req)?).await?.into_inner())
        .map_err(|e| AppError::Internal(e.into()))?;
    let q = params(&req);
    let status = q.get("status").cloned().unwrap_or_default();
    Ok(signed_in(
        &session,
        "Jobs",
        html! {
            h1 { "Jobs" }
            p { a href="/super-admin/jobs/failed" { "Failed jobs" } }
            form.filters method="get" action="/super-admin/jobs" {
                label { "Status" select name="status" {
                    option value="" { "any" }
                    @for st in ["pending", "running", "done", "failed", "cancelled"] { option value=(st) selected[status == st] { (st) } }
                } }
                label { "Kind" input name="kind" value=(q.get("kind").cloned().unwrap_or_default()); }
                label { "Shop id" input type="number" name="client_id" value=(q.get("client_id").cloned().unwrap_or_default()); }
                button type="submit" { "Filter" }
            }
            (super::kit::listing(&answer, &[("id", "Id"), ("kind", "Kind"), ("client_id", "Shop"), ("status", "Status"),
                ("attempts", "Attempts"), ("created_at", "Queued"), ("last_error", "Last error")], "/super-admin/jobs", &q, None))
        },
    ))
}

async fn failed_jobs(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let answer = serde_json::to_value(crate::jobs::routes::list_failed(state, sa, query(&req)?).await?.into_inner())
        .map_err(|e| AppError::Internal(e.into()))?;
    let csrf = csrf_token(&session);
    let retry = |r: &serde_json::Value| {
        html! {
            form.inline method="post" action=(format!("/super-admin/jobs/failed/{}/retry", r["id"])) {
                (csrf_field(&csrf))
                button.secondary type="submit" { "Retry" }
            }
            " "
            form.inline method="post" action=(format!("/super-admin/jobs/failed/{}/forget", r["id"])) {
                (csrf_field(&csrf))
                button.secondary type="submit" { "Forget" }
            }
        }
    };
    Ok(signed_in(
        &session,
        "Failed jobs",
        html! {
            h1 { "Failed jobs" }
            (super::kit::listing(&answer, &[("id", "Id"), ("kind", "Kind"), ("client_id", "Shop"), ("failed_at", "Failed"),
                ("exception", "Error")], "/super-admin/jobs/failed", &params(&req), Some(&retry)))
        },
    ))
}

async fn retry_job(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    checked_form(&session, form)?;
    match crate::jobs::routes::retry_failed(state, sa, path).await {
        Ok(_) => flash(&session, "Put back on the queue."),
        Err(e) if e.status_code().is_client_error() => {
            flash(&session, format!("Not retried: {}", super::kit::problem(&e)))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(redirect("/super-admin/jobs/failed"))
}

async fn audit(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let answer = serde_json::to_value(crate::audit::routes::list_all(state, sa, query(&req)?).await?.into_inner())
        .map_err(|e| AppError::Internal(e.into()))?;
    let q = params(&req);
    let v = |k: &str| q.get(k).cloned().unwrap_or_default();
    Ok(signed_in(
        &session,
        "Audit log",
        html! {
            h1 { "Audit log" }
            form.filters method="get" action="/super-admin/audit" {
                label { "Shop id" input type="number" name="client_id" value=(v("client_id")); }
                label { "Actor" input name="actor" value=(v("actor")) placeholder="user:1"; }
                label { "Action" input name="action" value=(v("action")) placeholder="shop.created"; }
                button type="submit" { "Filter" }
            }
            (super::kit::listing(&answer, &[("at", "When"), ("actor", "Who"), ("client_id", "Shop"), ("action", "Action"),
                ("target", "Target"), ("ip", "Address")], "/super-admin/audit", &q, None))
        },
    ))
}

async fn settings(state: web::Data<AppState>, session: Session, caller: Caller) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let current = serde_json::to_value(crate::content::routes::get_settings(state, sa).await?.into_inner())
        .map_err(|e| AppError::Internal(e.into()))?;
    let csrf = csrf_token(&session);
    let entries: Vec<(String, String)> = current
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), super::kit::cell(v))).collect())
        .unwrap_or_default();
    Ok(signed_in(
        &session,
        "Global settings",
        html! {
            h1 { "Global settings" }
            p.muted { "Values storefronts read (site name, support address…). Empty a value to remove its key." }
            form.stack method="post" action="/super-admin/settings" {
                (csrf_field(&csrf))
                @for (k, v) in &entries {
                    label { (k) input name=(format!("set.{k}")) value=(v); }
                }
                label { "New key" input name="new_key" placeholder="support_email"; }
                label { "Its value" input name="new_value"; }
                button type="submit" { "Save" }
            }
        },
    ))
}

async fn save_settings(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let mut changes = serde_json::Map::new();
    for (k, v) in &form {
        if let Some(key) = k.strip_prefix("set.") {
            let value =
                if v.trim().is_empty() { serde_json::Value::Null } else { serde_json::Value::String(v.clone()) };
            changes.insert(key.to_string(), value);
        }
    }
    if let Some(key) = form.get("new_key").map(|k| k.trim()).filter(|k| !k.is_empty()) {
        changes.insert(key.to_string(), serde_json::Value::String(form.get("new_value").cloned().unwrap_or_default()));
    }
    match super::kit::parse(serde_json::Value::Object(changes)) {
        Ok(body) => match crate::content::routes::put_settings(state, sa, body).await {
            Ok(_) => flash(&session, "Settings saved."),
            Err(e) if e.status_code().is_client_error() => {
                flash(&session, format!("Not saved: {}", super::kit::problem(&e)))
            }
            Err(e) => return Err(e.into()),
        },
        Err(e) => flash(&session, format!("Not saved: {}", super::kit::problem(&e))),
    }
    Ok(redirect("/super-admin/settings"))
}

const BANNER_FIELDS: &[super::kit::Field] = &[
    super::kit::field("title", "Title", super::kit::Kind::Text),
    super::kit::field("image_url", "Image URL", super::kit::Kind::Text),
    super::kit::field("link_url", "Link", super::kit::Kind::Text),
    super::kit::field("position", "Position", super::kit::Kind::Integer),
    super::kit::field("active", "Active", super::kit::Kind::Bool),
];
const PAGE_FIELDS: &[super::kit::Field] = &[
    super::kit::field("slug", "Slug", super::kit::Kind::Text),
    super::kit::field("title", "Title", super::kit::Kind::Text),
    super::kit::field("body", "Text (Markdown)", super::kit::Kind::LongText),
    super::kit::field("published", "Published", super::kit::Kind::Bool),
];

/// The global banners or pages: the list with delete buttons, and the form for a new one.
fn content_page(
    session: &Session,
    what: &str,
    answer: &serde_json::Value,
    columns: &[(&str, &str)],
    fields: &[super::kit::Field],
    req: &HttpRequest,
) -> HttpResponse {
    let csrf = csrf_token(session);
    let base = format!("/super-admin/{what}");
    let delete = |r: &serde_json::Value| {
        html! {
            form.inline method="post" action=(format!("{base}/{}/delete", r["id"])) {
                (csrf_field(&csrf))
                button.secondary type="submit" { "Delete" }
            }
        }
    };
    let title = if what == "banners" { "Global banners" } else { "Global pages" };
    signed_in(
        session,
        title,
        html! {
            h1 { (title) }
            (super::kit::listing(answer, columns, &base, &params(req), Some(&delete)))
            h2 { "New" }
            (super::kit::form(&csrf, &base, fields, &serde_json::Map::new(), "Add"))
        },
    )
}

async fn banners(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    as_super_admin(&caller)?;
    let sa = global(&state);
    let answer = serde_json::to_value(crate::content::routes::list_banners(sa, query(&req)?).await?.into_inner())
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(content_page(
        &session,
        "banners",
        &answer,
        &[("title", "Title"), ("position", "Position"), ("active", "Active"), ("link_url", "Link")],
        BANNER_FIELDS,
        &req,
    ))
}

async fn pages(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    as_super_admin(&caller)?;
    let sa = global(&state);
    let answer = serde_json::to_value(crate::content::routes::list_pages(sa, query(&req)?).await?.into_inner())
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(content_page(
        &session,
        "pages",
        &answer,
        &[("slug", "Slug"), ("title", "Title"), ("published", "Published")],
        PAGE_FIELDS,
        &req,
    ))
}

async fn create_banner(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    as_super_admin(&caller)?;
    let sa = global(&state);
    let form = checked_form(&session, form)?;
    let done = super::kit::submit(&form, BANNER_FIELDS, |body| crate::content::routes::create_banner(sa, body)).await;
    after(&session, done, "Banner added.")?;
    Ok(redirect("/super-admin/banners"))
}

async fn create_content_page(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    as_super_admin(&caller)?;
    let sa = global(&state);
    let form = checked_form(&session, form)?;
    let done = super::kit::submit(&form, PAGE_FIELDS, |body| crate::content::routes::create_page(sa, body)).await;
    after(&session, done, "Page added.")?;
    Ok(redirect("/super-admin/pages"))
}

async fn delete_banner(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    as_super_admin(&caller)?;
    let sa = global(&state);
    checked_form(&session, form)?;
    after(&session, crate::content::routes::delete_banner(sa, id).await.map(|_| ()), "Banner deleted.")?;
    Ok(redirect("/super-admin/banners"))
}

async fn delete_page(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    as_super_admin(&caller)?;
    let sa = global(&state);
    checked_form(&session, form)?;
    after(&session, crate::content::routes::delete_page(sa, id).await.map(|_| ()), "Page deleted.")?;
    Ok(redirect("/super-admin/pages"))
}

async fn forget_job(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    checked_form(&session, form)?;
    after(&session, crate::jobs::routes::forget_failed(state, sa, path).await.map(|_| ()), "Forgotten.")?;
    Ok(redirect("/super-admin/jobs/failed"))
}

async fn back_up_all(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    checked_form(&session, form)?;
    let q = web::Query::from_query("").map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
    let done = crate::backups::routes::backup_all(state, sa, q).await.map(|_| ());
    after(&session, done, "A backup of every shop is queued (see Jobs).")?;
    Ok(redirect("/super-admin/"))
}

async fn schedules(state: web::Data<AppState>, session: Session, caller: Caller) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let answer = serde_json::to_value(crate::schedules::routes::list(state, sa).await?.into_inner())
        .map_err(|e| AppError::Internal(e.into()))?;
    let csrf = csrf_token(&session);
    let rows = answer["data"].as_array().cloned().unwrap_or_default();
    Ok(signed_in(
        &session,
        "Schedules",
        html! {
            h1 { "Schedules" }
            (super::kit::table(&rows, &[("name", "Name"), ("client_id", "Shop (override)"), ("cron", "Cron (UTC)"),
                ("enabled", "Enabled"), ("setting", "Setting"), ("next_run_at", "Next run")], None))
            h2 { "Change a schedule" }
            form.stack method="post" action="/super-admin/schedules" {
                (csrf_field(&csrf))
                label { "Name" select name="name" { @for n in ["backups", "prune", "order_auto_cancel"] { option value=(n) { (n) } } } }
                label { "Shop id (empty: the global schedule)" input type="number" name="client_id"; }
                label { "Cron, five fields (e.g. 0 3 * * *)" input name="cron"; }
                label { "Enabled" select name="enabled" { option value="" { "–" } option value="true" { "yes" } option value="false" { "no" } } }
                label { "Minutes an unpaid order may wait (order_auto_cancel)" input type="number" name="setting"; }
                button type="submit" { "Save" }
            }
        },
    ))
}

async fn save_schedule(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    const FIELDS: &[super::kit::Field] = &[
        super::kit::field("name", "", super::kit::Kind::Text),
        super::kit::field("client_id", "", super::kit::Kind::Integer),
        super::kit::field("cron", "", super::kit::Kind::Text),
        super::kit::field("enabled", "", super::kit::Kind::Bool),
        super::kit::field("setting", "", super::kit::Kind::Integer),
    ];
    let done = super::kit::submit(&form, FIELDS, |body| crate::schedules::routes::put(state, sa, body)).await;
    after(&session, done, "Schedule saved.")?;
    Ok(redirect("/super-admin/schedules"))
}

async fn feature_defaults(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let answer = serde_json::to_value(crate::features::routes::defaults(state, sa).await?.into_inner())
        .map_err(|e| AppError::Internal(e.into()))?;
    let csrf = csrf_token(&session);
    let flags = answer["data"].as_array().cloned().unwrap_or_default();
    Ok(signed_in(
        &session,
        "Feature defaults",
        html! {
            h1 { "Feature defaults" }
            p.muted { "What shops without their own setting have (a shop's page overrides them)." }
            form.stack method="post" action="/super-admin/features" {
                (csrf_field(&csrf))
                @for f in &flags {
                    @let name = f["name"].as_str().unwrap_or_default();
                    label { (name.replace('_', " ")) " — " (f["description"].as_str().unwrap_or_default())
                        select name=(name) {
                            option value="true" selected[f["default"] == true] { "on" }
                            option value="false" selected[f["default"] == false] { "off" }
                        }
                    }
                }
                button type="submit" { "Save" }
            }
        },
    ))
}

async fn save_feature_defaults(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let flags: serde_json::Map<String, serde_json::Value> = form
        .iter()
        .filter(|(k, _)| k.as_str() != "_csrf")
        .map(|(k, v)| (k.clone(), serde_json::Value::Bool(v == "true")))
        .collect();
    let done = crate::features::routes::set_defaults(state, sa, crate::body::Body(flags)).await.map(|_| ());
    after(&session, done, "Feature defaults saved.")?;
    Ok(redirect("/super-admin/features"))
}

async fn migrations(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let summary = serde_json::to_value(crate::fleet::routes::summary(state, sa).await?.into_inner())
        .map_err(|e| AppError::Internal(e.into()))?;
    let csrf = csrf_token(&session);
    let by_version: Vec<(String, String)> = summary["shops_by_version"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), super::kit::cell(v))).collect())
        .unwrap_or_default();
    let failed = summary["failed"].as_array().cloned().unwrap_or_default();
    Ok(signed_in(
        &session,
        "Migrations",
        html! {
            h1 { "Migrations" }
            dl {
                dt { "This server's version" } dd { (super::kit::cell(&summary["target_version"])) }
                @for (v, n) in &by_version { dt { "Shops at version " (v) } dd { (n) } }
                dt { "Failed" } dd { (super::kit::cell(&summary["failed_count"])) }
                dt { "Fleet run" } dd { (summary["running"]["status"].as_str().unwrap_or("none")) }
            }
            (super::kit::table(&failed, &[("client_id", "Shop"), ("version", "Version"), ("error", "Reason")], None))
            h2 { "Migrate every shop behind" }
            form.stack method="post" action="/super-admin/migrations" {
                (csrf_field(&csrf))
                label { "Canary shop id (optional: migrated first; if it fails, no other is)" input type="number" name="canary"; }
                button type="submit" { "Start" }
            }
        },
    ))
}

async fn start_migrations(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let query = match form.get("canary").map(|c| c.trim()).filter(|c| !c.is_empty()) {
        Some(c) => format!("canary={}", urlencoding(c)),
        None => String::new(),
    };
    let q = web::Query::from_query(&query).map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))?;
    let done = crate::fleet::routes::start(state, sa, q).await.map(|_| ());
    after(&session, done, "Fleet migration queued (see Jobs).")?;
    Ok(redirect("/super-admin/migrations"))
}

async fn edit_client(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    let form = checked_form(&session, form)?;
    let id = path.clone();
    let text = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let or_null = |v: String| if v.is_empty() { serde_json::Value::Null } else { serde_json::Value::String(v) };
    let body = serde_json::json!({ "name": text("name"), "domain": or_null(text("domain")), "backup_every": or_null(text("backup_every")) });
    let done = super::kit::submit_value(body, |body| crate::super_admin::routes::update(state, sa, path, body)).await;
    after(&session, done, "Saved.")?;
    Ok(redirect(&format!("/super-admin/clients/{id}")))
}

async fn delete_backup(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    path: web::Path<(String, String)>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let sa = as_super_admin(&caller)?;
    checked_form(&session, form)?;
    let id = path.0.clone();
    let done = crate::backups::routes::delete(state, sa, path).await.map(|_| ());
    after(&session, done, "Backup deleted.")?;
    Ok(redirect(&format!("/super-admin/clients/{id}")))
}

async fn import_page(session: Session, caller: Caller) -> Result<HttpResponse, ConsoleError> {
    super_admin(&caller)?;
    let csrf = csrf_token(&session);
    Ok(signed_in(
        &session,
        "Import a shop",
        html! {
            h1 { "Import a shop" }
            p.muted { "An export file (Download an export on a shop's page, or vergeflow clients export) becomes a new shop." }
            form.stack method="post" action="/super-admin/clients/import" enctype="multipart/form-data" {
                (csrf_field(&csrf))
                label { "Export file" input type="file" name="file" required; }
                label { "Subdomain (empty: the one in the file)" input name="subdomain"; }
                button type="submit" { "Import" }
            }
        },
    ))
}

/// An export file uploaded as multipart, written to the data folder's transfer area chunk by
/// chunk (bounded by `VERGEFLOW_IMPORT_MAX_MB`), then imported as the API's import does.
async fn import_shop(
    state: web::Data<AppState>,
    session: Session,
    caller: Caller,
    mut multipart: actix_multipart::Multipart,
) -> Result<HttpResponse, ConsoleError> {
    use futures_util::StreamExt as _;
    use std::io::Write as _;
    super_admin(&caller)?;
    let limit = state.settings.import_max_bytes;
    let upload = crate::backups::transfer::new_upload_path(&state.settings.data_dir)
        .map_err(|e| AppError::Internal(e.into()))?;
    let (mut csrf, mut subdomain, mut written) = (None, None, 0u64);
    let read: Result<(), AppError> = async {
        while let Some(field) = multipart.next().await {
            let mut field = field
                .map_err(|e| AppError::bad_request("malformed_body", format!("the upload could not be read: {e}")))?;
            let name = field.name().unwrap_or_default().to_string();
            let mut small = Vec::new();
            let mut file = if name == "file" {
                Some(std::fs::File::create(&upload).map_err(|e| AppError::Internal(e.into()))?)
            } else {
                None
            };
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| {
                    AppError::bad_request("malformed_body", format!("the upload could not be read: {e}"))
                })?;
                match file.as_mut() {
                    Some(f) => {
                        written += chunk.len() as u64;
                        if written > limit {
                            return Err(AppError::PayloadTooLarge { limit: limit as usize });
                        }
                        f.write_all(&chunk).map_err(|e| AppError::Internal(e.into()))?;
                    }
                    None if small.len() + chunk.len() <= 1024 => small.extend_from_slice(&chunk),
                    None => return Err(AppError::bad_request("malformed_body", "a form field is too long")),
                }
            }
            match name.as_str() {
                "_csrf" => csrf = Some(String::from_utf8_lossy(&small).into_owned()),
                "subdomain" => {
                    subdomain = Some(String::from_utf8_lossy(&small).trim().to_string()).filter(|s| !s.is_empty())
                }
                _ => {}
            }
        }
        Ok(())
    }
    .await;
    let mut form = HashMap::new();
    if let Some(token) = csrf {
        form.insert("_csrf".to_string(), token);
    }
    let checked = checked_form(&session, web::Form(form));
    if let Err(e) = read.map_err(ConsoleError).and(checked) {
        let _ = crate::tenancy::files::remove_family(&upload);
        return Err(e);
    }
    let (tenancy, main) = (state.tenancy.clone(), state.main.clone());
    let imported = web::block(move || {
        let result = main.get().and_then(|mut conn| {
            crate::backups::transfer::import_client(&tenancy, &mut conn, &upload, subdomain.as_deref(), limit)
        });
        let _ = crate::tenancy::files::remove_family(&upload);
        result
    })
    .await
    .map_err(AppError::from)
    .and_then(|r| r);
    match imported {
        Ok(client) => {
            flash(&session, format!("Shop {} imported.", client.name));
            Ok(redirect(&format!("/super-admin/clients/{}", client.id)))
        }
        Err(e) if e.status_code().is_client_error() => {
            flash(&session, format!("Not imported: {}", super::kit::problem(&e)));
            Ok(redirect("/super-admin/clients/import"))
        }
        Err(e) => Err(e.into()),
    }
}
