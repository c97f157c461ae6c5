//! `/admin/`: a shop admin's console. Every page goes through the API's `ShopAdmin` extraction
//! (the caller's own shop, active, within its request quota), and every change through the same
//! validation and store functions as the API.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError as _, web};
use futures_util::future::LocalBoxFuture;
use maud::{Markup, html};
use serde_json::{Map, Value};

use super::views::{self, csrf_field};
use super::{ConsoleError, checked_form, csrf_token, flash, html_page, redirect, take_flash};
use crate::auth::caller::Caller;
use crate::body::Body;
use crate::catalog::store::{self as catalog, ProductFilter};
use crate::custom_fields::{CustomField, Entity, FieldType};
use crate::error::AppError;
use crate::pagination::Page;
use crate::state::AppState;
use crate::tenancy::resolve::ShopAdmin;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/password", web::get().to(forgot_page))
        .route("/password", web::post().to(forgot))
        .route("/password/reset", web::get().to(reset_page))
        .route("/password/reset", web::post().to(reset))
        .route("/", web::get().to(dashboard))
        .route("", web::get().to(|| async { redirect("/admin/") }))
        .route("/products", web::get().to(products))
        .route("/products", web::post().to(create_product))
        .route("/products/new", web::get().to(new_product))
        .route("/products/{id}", web::get().to(edit_product))
        .route("/products/{id}", web::post().to(update_product))
        .route("/categories", web::get().to(categories))
        .route("/categories", web::post().to(create_category))
        .route("/orders", web::get().to(orders))
        .route("/orders/{id}", web::get().to(order))
        .route("/orders/{id}/status", web::post().to(order_status))
        .route("/customers", web::get().to(customers))
        .route("/customers/{id}", web::get().to(customer))
        .route("/customers/{id}", web::post().to(update_customer))
        .route("/reviews", web::get().to(reviews))
        .route("/reviews/{id}", web::post().to(moderate_review))
        .route("/coupons", web::get().to(coupons))
        .route("/coupons", web::post().to(create_coupon))
        .route("/coupons/{id}/delete", web::post().to(delete_coupon))
        .route("/settings", web::get().to(settings))
        .route("/settings", web::post().to(save_settings))
        .route("/banners", web::get().to(banners))
        .route("/banners", web::post().to(create_banner))
        .route("/banners/{id}/delete", web::post().to(delete_banner))
        .route("/pages", web::get().to(pages))
        .route("/pages", web::post().to(create_page))
        .route("/pages/{id}/delete", web::post().to(delete_page))
        .route("/webhooks", web::get().to(webhooks))
        .route("/webhooks", web::post().to(create_webhook))
        .route("/webhooks/{id}", web::get().to(webhook_deliveries))
        .route("/webhooks/{id}/delete", web::post().to(delete_webhook))
        .route("/custom-fields", web::get().to(custom_fields))
        .route("/custom-fields", web::post().to(create_custom_field))
        .route("/custom-fields/{id}/delete", web::post().to(delete_custom_field))
        .route("/shipping", web::get().to(shipping))
        .route("/shipping", web::post().to(create_shipping_method))
        .route("/shipping/{id}/delete", web::post().to(delete_shipping_method))
        .route("/tax-rates", web::post().to(save_tax_rates))
        .route("/orders/{id}/notes", web::post().to(add_order_note))
        .route("/orders/{id}/refunds", web::post().to(refund_order))
        .route("/audit", web::get().to(audit))
        .route("/payments", web::get().to(payments))
        .route("/payments", web::post().to(set_provider))
        .route("/payments/{provider}/delete", web::post().to(delete_provider))
        .route("/tokens", web::get().to(tokens))
        .route("/tokens", web::post().to(create_token))
        .route("/tokens/{id}/delete", web::post().to(revoke_token))
        .route("/products/{id}/variants", web::post().to(add_variant))
        .route("/products/{id}/delete", web::post().to(delete_product))
        .route("/products/{id}/images", web::post().to(upload_image))
        .route("/images/{id}", web::get().to(image_thumbnail))
        .route("/variants/{id}", web::post().to(update_variant))
        .route("/variants/{id}/delete", web::post().to(delete_variant))
        .route("/categories/{id}/delete", web::post().to(delete_category))
        .route("/reviews/{id}/delete", web::post().to(delete_review))
        .route("/orders/{id}/payment/{action}", web::post().to(payment_action))
        .route("/images/{id}/first", web::post().to(image_first))
        .route("/images/{id}/delete", web::post().to(delete_image))
        .route("/catalog", web::get().to(catalog_page))
        .route("/catalog", web::post().to(import_catalog))
        .route("/catalog/export", web::get().to(export_catalog));
}

const NAV: &[(&str, &str)] = &[
    ("/admin/", "Dashboard"),
    ("/admin/products", "Products"),
    ("/admin/categories", "Categories"),
    ("/admin/orders", "Orders"),
    ("/admin/customers", "Customers"),
    ("/admin/reviews", "Reviews"),
    ("/admin/coupons", "Coupons"),
    ("/admin/banners", "Banners"),
    ("/admin/pages", "Pages"),
    ("/admin/webhooks", "Webhooks"),
    ("/admin/custom-fields", "Custom fields"),
    ("/admin/shipping", "Shipping and tax"),
    ("/admin/payments", "Payments"),
    ("/admin/catalog", "CSV"),
    ("/admin/settings", "Settings"),
    ("/admin/tokens", "API tokens"),
    ("/admin/audit", "Audit"),
];

/// The signed-in shop admin's shop, as the API resolves it; refusals become console pages.
struct Console(ShopAdmin);

impl FromRequest for Console {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, ConsoleError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = req.extensions().get::<Caller>().cloned().unwrap_or(Caller::Anonymous);
        let admin = ShopAdmin::from_request(req, payload);
        Box::pin(async move {
            match caller {
                Caller::Admin { .. } => Ok(Console(admin.await?)),
                Caller::Anonymous => Err(ConsoleError(AppError::Unauthorized("sign in first".into()))),
                _ => Err(ConsoleError(AppError::forbidden("forbidden", "this console is for shop admins"))),
            }
        })
    }
}

fn signed_in(session: &Session, title: &str, content: Markup) -> HttpResponse {
    let csrf = csrf_token(session);
    let nav = views::Nav { links: NAV, logout: "/admin/logout", csrf: &csrf };
    html_page(views::page(title, Some(&nav), take_flash(session).as_deref(), content))
}

fn money(cents: i64) -> String {
    format!("{}{}.{:02}", if cents < 0 { "-" } else { "" }, cents.abs() / 100, cents.abs() % 100)
}

// --- signing in ---

fn login_form(csrf: &str, problem: Option<&str>, flash: Option<&str>) -> Markup {
    views::page(
        "Sign in",
        None,
        flash,
        html! {
            h1 { "Shop admin sign-in" }
            @if let Some(p) = problem { p.error role="alert" { (p) } }
            form.stack method="post" action="/admin/login" {
                (csrf_field(csrf))
                label { "E-mail" input type="email" name="email" autocomplete="username" required; }
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
            p { a href="/admin/password" { "Forgot your password?" } }
        },
    )
}

async fn login_page(session: Session, req: HttpRequest) -> HttpResponse {
    if matches!(req.extensions().get::<Caller>(), Some(Caller::Admin { .. })) {
        return redirect("/admin/");
    }
    html_page(login_form(&csrf_token(&session), None, take_flash(&session).as_deref()))
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let refused = |message: &str| login_form(&csrf_token(&session), Some(message), None);
    super::sign_in(&state, &req, &session, form, &super::SHOP_ADMIN_DOOR, refused).await
}

async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let caller = req.extensions().get::<Caller>().cloned();
    super::sign_out(&state, &session, caller, form, &super::SHOP_ADMIN_DOOR).await
}

async fn forgot_page(session: Session) -> HttpResponse {
    html_page(views::page(
        "Forgot your password?",
        None,
        take_flash(&session).as_deref(),
        html! {
            h1 { "Forgot your password?" }
            p { "We mail a link to reset it to the address, if it has an account." }
            form.stack method="post" action="/admin/password" {
                (csrf_field(&csrf_token(&session)))
                label { "E-mail" input type="email" name="email" autocomplete="username" required; }
                button type="submit" { "Send the link" }
            }
        },
    ))
}

async fn forgot(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let email = form.get("email").cloned().unwrap_or_default();
    let ip = crate::proxy::remote_address(&req, &state.settings);
    // The API's "forgot password": throttled the same way, the same answer whether or not the
    // account exists.
    match crate::auth::reset::forgot(&state, &ip, None, &email).await {
        Ok(_) => flash(&session, "If that address has an account, a mail with a reset token is on its way."),
        Err(e) if e.status_code().is_client_error() => {
            flash(&session, format!("Not sent: {}", super::kit::problem(&e)))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(redirect("/admin/password/reset"))
}

async fn reset_page(session: Session) -> HttpResponse {
    html_page(views::page(
        "Set a new password",
        None,
        take_flash(&session).as_deref(),
        html! {
            h1 { "Set a new password" }
            form.stack method="post" action="/admin/password/reset" {
                (csrf_field(&csrf_token(&session)))
                label { "E-mail" input type="email" name="email" autocomplete="username" required; }
                label { "Reset token (from the mail)" input name="token" autocomplete="off" required; }
                label { "New password (at least 8 characters)" input type="password" name="password" autocomplete="new-password" required minlength="8"; }
                button type="submit" { "Set the password" }
            }
        },
    ))
}

async fn reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let body = serde_json::json!({
        "email": form.get("email").cloned().unwrap_or_default(),
        "token": form.get("token").cloned().unwrap_or_default(),
        "password": form.get("password").cloned().unwrap_or_default(),
    });
    let done = match super::kit::parse(body) {
        Ok(body) => crate::auth::routes::reset_password(state, req, body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => {
            flash(&session, "Your password is set; sign in with it.");
            Ok(redirect("/admin/login"))
        }
        Err(e) if e.status_code().is_client_error() => {
            flash(&session, format!("Not set: {}", super::kit::problem(&e)));
            Ok(redirect("/admin/password/reset"))
        }
        Err(e) => Err(e.into()),
    }
}

// --- dashboard ---

async fn dashboard(session: Session, shop: Console) -> Result<HttpResponse, ConsoleError> {
    let db = shop.0.0.db.clone();
    let name = shop.0.0.client.name.clone();
    let (orders_today, revenue_today, low): (i64, i64, Vec<(i64, String, i64)>) = db
        .run(|c| {
            let (n, revenue) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(total_cents), 0) FROM orders
                 WHERE created_at >= strftime('%Y-%m-%dT00:00:00Z', 'now') AND status <> 'cancelled'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let threshold = crate::shop_settings::store::get(c)?.low_stock_threshold;
            let low = c
                .prepare(
                    "SELECT id, name, stock FROM products WHERE active = 1 AND stock <= ?1 ORDER BY stock, id LIMIT 10",
                )?
                .query_map([threshold], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            Ok((n, revenue, low))
        })
        .await?;
    Ok(signed_in(
        &session,
        "Dashboard",
        html! {
            h1 { (name) }
            div.cards {
                div.card { div.n { (orders_today) } div.l { "orders today" } }
                div.card { div.n { (money(revenue_today)) } div.l { "revenue today" } }
            }
            h2 { "Low stock" }
            @if low.is_empty() { p.muted { "Nothing is running low." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Product" } th { "Stock" } } }
                    tbody { @for (id, name, stock) in &low {
                        tr { td { a href=(format!("/admin/products/{id}")) { (name) } } td { (stock) } }
                    } }
                } }
            }
        },
    ))
}

// --- products ---

fn page_of(q: &HashMap<String, String>) -> Page {
    let page = q.get("page").and_then(|p| p.parse().ok()).filter(|p| (1..=100_000).contains(p)).unwrap_or(1);
    Page { page, per_page: 25 }
}

async fn products(
    session: Session,
    shop: Console,
    q: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let page = page_of(&q);
    let search = q.get("q").map(|s| s.trim().to_string()).filter(|s| !s.is_empty() && s.len() <= 200);
    let category = q.get("category_id").and_then(|c| c.parse::<i64>().ok());
    let filter = ProductFilter { q: search.clone(), category_id: category, active_only: false, custom: Vec::new() };
    let ((rows, total), cats) = shop
        .0
        .0
        .db
        .run(move |c| {
            let found = catalog::search_products(c, &filter, page)?;
            let cats = catalog::list_categories(c, Page { page: 1, per_page: 100 })?.0;
            Ok((found, cats))
        })
        .await?;
    let link = |p: i64| {
        let mut query = format!("/admin/products?page={p}");
        if let Some(s) = &search {
            query.push_str(&format!("&q={}", super::super_admin::urlencoding(s)));
        }
        if let Some(c) = category {
            query.push_str(&format!("&category_id={c}"));
        }
        query
    };
    Ok(signed_in(
        &session,
        "Products",
        html! {
            h1 { "Products" }
            p { a.button href="/admin/products/new" { "New product" } }
            form.filters method="get" action="/admin/products" role="search" {
                label { "Search" input type="search" name="q" value=(search.as_deref().unwrap_or("")); }
                label { "Category"
                    select name="category_id" {
                        option value="" { "any" }
                        @for c in &cats { option value=(c.id) selected[category == Some(c.id)] { (c.name) } }
                    }
                }
                button type="submit" { "Filter" }
            }
            p.muted { (total) " products" }
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Price" } th { "Stock" } th { "Variants" } th { "Active" } } }
                tbody { @for p in &rows {
                    tr {
                        td { a href=(format!("/admin/products/{}", p.id)) { (p.name) } }
                        td { (money(p.price_cents)) }
                        td { (p.stock) }
                        td { (p.variants.len()) }
                        td { (if p.active { "yes" } else { "no" }) }
                    }
                } }
            } }
            nav.pager aria-label="Pages" {
                @if page.page > 1 { a href=(link(page.page - 1)) { "← Previous" } }
                @if page.page * page.per_page < total { a href=(link(page.page + 1)) { "Next →" } }
            }
        },
    ))
}

/// A product's form: its fields, its category, and every product custom field of the shop.
fn product_form(
    csrf: &str,
    action: &str,
    values: &HashMap<String, String>,
    cats: &[catalog::Category],
    fields: &[CustomField],
    problem: Option<&str>,
) -> Markup {
    let v = |k: &str| values.get(k).cloned().unwrap_or_default();
    html! {
        @if let Some(p) = problem { p.error role="alert" { (p) } }
        form.stack method="post" action=(action) {
            (csrf_field(csrf))
            label { "Name" input name="name" value=(v("name")) required maxlength="200"; }
            label { "Description" textarea name="description" rows="4" { (v("description")) } }
            label { "Price (cents)" input type="number" name="price_cents" min="0" value=(v("price_cents")); }
            label { "Stock" input type="number" name="stock" min="0" value=(v("stock")); }
            label { "Category"
                select name="category_id" {
                    option value="" { "none" }
                    @for c in cats { option value=(c.id) selected[v("category_id") == c.id.to_string()] { (c.name) } }
                }
            }
            label { "Options, one per line: name: value, value (e.g. size: S, M, L); empty: one form"
                textarea name="options" rows="3" { (v("options")) }
            }
            label { "Active"
                select name="active" {
                    option value="true" selected[v("active") != "false"] { "yes" }
                    option value="false" selected[v("active") == "false"] { "no" }
                }
            }
            @for f in fields {
                @let name = format!("custom.{}", f.key);
                label { (f.label) @if f.required { " *" }
                    @match f.kind {
                        FieldType::Select => {
                            select name=(name) {
                                option value="" { "–" }
                                @for o in f.options.as_deref().unwrap_or_default() {
                                    option value=(o) selected[v(&name) == *o] { (o) }
                                }
                            }
                        }
                        FieldType::Boolean => {
                            select name=(name) {
                                option value="" { "–" }
                                option value="true" selected[v(&name) == "true"] { "yes" }
                                option value="false" selected[v(&name) == "false"] { "no" }
                            }
                        }
                        FieldType::Number => { input type="number" step="any" name=(name) value=(v(&name)); }
                        FieldType::Date => { input type="date" name=(name) value=(v(&name)); }
                        FieldType::Text => { input name=(name) value=(v(&name)); }
                    }
                }
            }
            button type="submit" { "Save" }
        }
    }
}

/// The API's product body from a form: numbers and booleans typed, custom fields typed by their
/// definitions, empty fields left out (so they keep their value).
fn product_body(
    form: &HashMap<String, String>,
    fields: &[CustomField],
) -> Result<crate::catalog::routes::ProductBody, AppError> {
    let mut body = Map::new();
    let mut custom = Map::new();
    for (k, raw) in form {
        let v = raw.trim();
        if k == "_csrf" || v.is_empty() {
            continue;
        }
        let value = match k.as_str() {
            "price_cents" | "stock" | "category_id" | "weight_grams" => {
                v.parse::<i64>().map(Value::from).map_err(|_| AppError::invalid_field(k, "must be a whole number"))?
            }
            "active" => Value::Bool(v == "true"),
            key if key.starts_with("custom.") => {
                let key = &key["custom.".len()..];
                let Some(def) = fields.iter().find(|f| f.key == key) else { continue };
                let typed = match def.kind {
                    FieldType::Number => {
                        v.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)
                    }
                    FieldType::Boolean => Some(Value::Bool(v == "true")),
                    _ => None,
                };
                custom.insert(key.to_string(), typed.unwrap_or_else(|| Value::String(v.to_string())));
                continue;
            }
            "name" | "description" | "slug" => Value::String(raw.to_string()),
            "options" => Value::Array(
                v.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| {
                        let (name, values) = l.split_once(':').unwrap_or((l, ""));
                        let values: Vec<Value> = values
                            .split(',')
                            .map(str::trim)
                            .filter(|x| !x.is_empty())
                            .map(|x| Value::String(x.to_string()))
                            .collect();
                        serde_json::json!({ "name": name.trim(), "values": values })
                    })
                    .collect(),
            ),
            _ => continue,
        };
        body.insert(k.clone(), value);
    }
    if !custom.is_empty() {
        body.insert("custom".into(), Value::Object(custom));
    }
    serde_json::from_value(Value::Object(body)).map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))
}

fn problem_of(e: &AppError) -> String {
    match e {
        AppError::Validation { fields, .. } => {
            fields.iter().map(|(f, p)| format!("{f} {p}")).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

async fn form_context(shop: &Console) -> Result<(Vec<catalog::Category>, Vec<CustomField>), AppError> {
    shop.0
        .0
        .db
        .run(|c| {
            Ok((
                catalog::list_categories(c, Page { page: 1, per_page: 100 })?.0,
                crate::custom_fields::store::list(c, Some(Entity::Product))?,
            ))
        })
        .await
}

async fn new_product(session: Session, shop: Console) -> Result<HttpResponse, ConsoleError> {
    let (cats, fields) = form_context(&shop).await?;
    let csrf = csrf_token(&session);
    Ok(signed_in(
        &session,
        "New product",
        html! { h1 { "New product" } (product_form(&csrf, "/admin/products", &HashMap::new(), &cats, &fields, None)) },
    ))
}

async fn create_product(
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let (cats, fields) = form_context(&shop).await?;
    let created = match product_body(&form, &fields).and_then(|b| b.parse(true)) {
        Ok(f) => crate::catalog::routes::insert_product(&shop.0, f).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(p) => {
            flash(&session, format!("{} created.", p.name));
            Ok(redirect(&format!("/admin/products/{}", p.id)))
        }
        Err(e) if e.status_code().is_client_error() => {
            let csrf = csrf_token(&session);
            let mut res = signed_in(
                &session,
                "New product",
                html! { h1 { "New product" } (product_form(&csrf, "/admin/products", &form, &cats, &fields, Some(&problem_of(&e)))) },
            );
            *res.status_mut() = e.status_code();
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

fn product_values(p: &catalog::Product) -> HashMap<String, String> {
    let mut v = HashMap::from([
        ("name".to_string(), p.name.clone()),
        ("description".to_string(), p.description.clone()),
        ("price_cents".to_string(), p.price_cents.to_string()),
        ("stock".to_string(), p.stock.to_string()),
        ("category_id".to_string(), p.category_id.map(|c| c.to_string()).unwrap_or_default()),
        ("active".to_string(), p.active.to_string()),
        (
            "options".to_string(),
            p.options.iter().map(|o| format!("{}: {}", o.name, o.values.join(", "))).collect::<Vec<_>>().join("\n"),
        ),
    ]);
    for (k, value) in &p.custom {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        v.insert(format!("custom.{k}"), text);
    }
    v
}

async fn edit_product(session: Session, shop: Console, id: web::Path<i64>) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let product = shop
        .0
        .0
        .db
        .run(move |c| {
            catalog::find_product(c, id, false)?.ok_or_else(|| AppError::not_found("not_found", "no such product"))
        })
        .await?;
    let (cats, fields) = form_context(&shop).await?;
    let csrf = csrf_token(&session);
    let action = format!("/admin/products/{id}");
    Ok(signed_in(
        &session,
        &product.name,
        html! {
            h1 { (product.name) }
            (product_form(&csrf, &action, &product_values(&product), &cats, &fields, None))
            h2 { "Variants" }
            div.table-wrap { table {
                thead { tr { th { "SKU" } th { "Options" } th { "Price and stock" } th {} } }
                tbody { @for v in &product.variants {
                    tr {
                        td { (v.sku.as_deref().unwrap_or("–")) }
                        td { (serde_json::to_string(&v.options).unwrap_or_default()) }
                        td {
                            form.inline method="post" action=(format!("/admin/variants/{}", v.id)) {
                                (csrf_field(&csrf))
                                label { "Price (cents)" input type="number" min="0" name="price_cents" value=(v.price_cents); }
                                label { "Stock" input type="number" min="0" name="stock" value=(v.stock); }
                                button.secondary type="submit" { "Save" }
                            }
                        }
                        td {
                            form.inline method="post" action=(format!("/admin/variants/{}/delete", v.id)) {
                                (csrf_field(&csrf))
                                button.secondary type="submit" { "Delete" }
                            }
                        }
                    }
                } }
            } }
            h2 { "Images" }
            div.cards {
                @for i in &product.images {
                    div.card {
                        img src=(format!("/admin/images/{}", i.id)) alt=(i.alt) width="160";
                        div.l { (i.alt) }
                        form.inline method="post" action=(format!("/admin/images/{}/first", i.id)) {
                            (csrf_field(&csrf)) button.secondary type="submit" { "First" }
                        }
                        " "
                        form.inline method="post" action=(format!("/admin/images/{}/delete", i.id)) {
                            (csrf_field(&csrf)) button.secondary type="submit" { "Delete" }
                        }
                    }
                }
            }
            form.stack method="post" action=(format!("/admin/products/{id}/images")) enctype="multipart/form-data" {
                (csrf_field(&csrf))
                label { "Image (JPEG, PNG or WebP, at most 10 MB)" input type="file" name="image" accept="image/jpeg,image/png,image/webp" required; }
                label { "Alt text" input name="alt" maxlength="500"; }
                button.secondary type="submit" { "Upload" }
            }
            @if !product.options.is_empty() {
                h2 { "New variant" }
                form.stack method="post" action=(format!("/admin/products/{id}/variants")) {
                    (csrf_field(&csrf))
                    @for o in &product.options {
                        label { (o.name)
                            select name=(format!("option.{}", o.name)) { @for v in &o.values { option value=(v) { (v) } } }
                        }
                    }
                    label { "SKU" input name="sku" maxlength="64"; }
                    label { "Price (cents)" input type="number" min="0" name="price_cents" required; }
                    label { "Stock" input type="number" min="0" name="stock"; }
                    button.secondary type="submit" { "Add the variant" }
                }
            }
            h2 { "Delete" }
            form.inline method="post" action=(format!("/admin/products/{id}/delete")) {
                (csrf_field(&csrf))
                button.danger type="submit" { "Delete this product" }
            }
        },
    ))
}

async fn update_product(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let id = id.into_inner();
    let (cats, fields) = form_context(&shop).await?;
    let mut body = form.clone();
    // Price and stock belong to the variants once a product has several: the form sends them only
    // when they changed.
    let current = shop.0.0.db.run(move |c| Ok(catalog::find_product(c, id, false)?)).await?;
    let Some(current) = current else { return Err(AppError::not_found("not_found", "no such product").into()) };
    for k in ["price_cents", "stock"] {
        let unchanged = match k {
            "price_cents" => current.price_cents.to_string(),
            _ => current.stock.to_string(),
        };
        if body.get(k).map(|v| v.trim()) == Some(unchanged.as_str()) {
            body.remove(k);
        }
    }
    let updated = match product_body(&body, &fields) {
        Ok(b) => {
            crate::catalog::routes::update_product(shop.0, web::Path::from(id), Body(b)).await.map(|j| j.into_inner())
        }
        Err(e) => Err(e),
    };
    match updated {
        Ok(p) => {
            flash(&session, format!("{} saved.", p.name));
            Ok(redirect(&format!("/admin/products/{id}")))
        }
        Err(e) if e.status_code().is_client_error() => {
            let csrf = csrf_token(&session);
            let action = format!("/admin/products/{id}");
            let mut res = signed_in(
                &session,
                &current.name,
                html! { h1 { (current.name) } (product_form(&csrf, &action, &form, &cats, &fields, Some(&problem_of(&e)))) },
            );
            *res.status_mut() = e.status_code();
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

// --- categories ---

async fn categories(session: Session, shop: Console) -> Result<HttpResponse, ConsoleError> {
    let cats = shop.0.0.db.run(|c| Ok(catalog::list_categories(c, Page { page: 1, per_page: 100 })?.0)).await?;
    let csrf = csrf_token(&session);
    Ok(signed_in(
        &session,
        "Categories",
        html! {
            h1 { "Categories" }
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Slug" } th { "Parent" } th {} } }
                tbody { @for c in &cats {
                    tr { td { (c.name) } td { (c.slug) }
                         td { (c.parent_id.and_then(|p| cats.iter().find(|x| x.id == p)).map(|p| p.name.as_str()).unwrap_or("–")) }
                         td { form.inline method="post" action=(format!("/admin/categories/{}/delete", c.id)) {
                             (csrf_field(&csrf)) button.secondary type="submit" { "Delete" } } } }
                } }
            } }
            h2 { "New category" }
            form.stack method="post" action="/admin/categories" {
                (csrf_field(&csrf))
                label { "Name" input name="name" required maxlength="200"; }
                label { "Parent"
                    select name="parent_id" {
                        option value="" { "none (top level)" }
                        @for c in cats.iter().filter(|c| c.parent_id.is_none()) { option value=(c.id) { (c.name) } }
                    }
                }
                button type="submit" { "Add" }
            }
        },
    ))
}

async fn create_category(
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let mut body = Map::new();
    body.insert("name".into(), Value::String(form.get("name").cloned().unwrap_or_default()));
    if let Some(p) = form.get("parent_id").and_then(|p| p.parse::<i64>().ok()) {
        body.insert("parent_id".into(), Value::from(p));
    }
    let parsed: crate::catalog::routes::CategoryBody = serde_json::from_value(Value::Object(body))
        .map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))?;
    let f = parsed.parse(true)?;
    let created = shop.0.0.db.write(move |tx| catalog::insert_category_with(tx, &f)).await;
    match created {
        Ok(c) => flash(&session, format!("Category {} added.", c.name)),
        Err(e) if e.status_code().is_client_error() => flash(&session, format!("Not added: {}", problem_of(&e))),
        Err(e) => return Err(e.into()),
    }
    Ok(redirect("/admin/categories"))
}

// --- orders ---

async fn orders(
    session: Session,
    shop: Console,
    q: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let page = page_of(&q);
    let status = q.get("status").filter(|s| crate::orders::store::STATUSES.contains(&s.as_str())).cloned();
    let s = status.clone();
    let (rows, total) = shop.0.0.db.run(move |c| Ok(crate::orders::store::list(c, None, s.as_deref(), page)?)).await?;
    Ok(signed_in(
        &session,
        "Orders",
        html! {
            h1 { "Orders" }
            form.filters method="get" action="/admin/orders" {
                label { "Status"
                    select name="status" {
                        option value="" { "any" }
                        @for st in crate::orders::store::STATUSES { option value=(st) selected[status.as_deref() == Some(st)] { (st) } }
                    }
                }
                button type="submit" { "Filter" }
            }
            p.muted { (total) " orders" }
            div.table-wrap { table {
                thead { tr { th { "Number" } th { "Status" } th { "Total" } th { "Ship to" } th { "Placed" } } }
                tbody { @for o in &rows {
                    tr {
                        td { a href=(format!("/admin/orders/{}", o.id)) { (o.number) } }
                        td { (o.status) }
                        td { (money(o.total_cents)) " " (o.currency) }
                        td { (o.shipping_address.name) ", " (o.shipping_address.city) }
                        td { (o.created_at) }
                    }
                } }
            } }
            nav.pager aria-label="Pages" {
                @if page.page > 1 { a href=(format!("/admin/orders?page={}", page.page - 1)) { "← Previous" } }
                @if page.page * page.per_page < total { a href=(format!("/admin/orders?page={}", page.page + 1)) { "Next →" } }
            }
        },
    ))
}

async fn order(session: Session, shop: Console, id: web::Path<i64>) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let o = shop
        .0
        .0
        .db
        .run(move |c| {
            crate::orders::store::find(c, id, None)?.ok_or_else(|| AppError::not_found("not_found", "no such order"))
        })
        .await?;
    let csrf = csrf_token(&session);
    let history = to_value(crate::orders::routes::admin_events(again(&shop), web::Path::from(id)).await?.into_inner())?;
    let history = history["data"].as_array().cloned().unwrap_or_default();
    let refunds = match crate::payments::routes::list_refunds(again(&shop), web::Path::from(id)).await {
        Ok(r) => to_value(r.into_inner())?["data"].as_array().cloned().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    Ok(signed_in(
        &session,
        &format!("Order {}", o.number),
        html! {
            h1 { "Order " (o.number) }
            dl {
                dt { "Status" } dd { (o.status) }
                dt { "Total" } dd { (money(o.total_cents)) " " (o.currency) }
                dt { "Ship to" } dd { (o.shipping_address.name) ", " (o.shipping_address.line1) ", " (o.shipping_address.city) " " (o.shipping_address.postal_code) ", " (o.shipping_address.country) }
                dt { "Placed" } dd { (o.created_at) }
            }
            h2 { "Items" }
            div.table-wrap { table {
                thead { tr { th { "Item" } th { "Quantity" } th { "Price" } th { "Total" } } }
                tbody { @for i in &o.items {
                    tr { td { (i.name) } td { (i.quantity) } td { (money(i.unit_price_cents)) } td { (money(i.line_total_cents)) } }
                } }
            } }
            @if o.payment.is_some() {
                h2 { "Payment" }
                p { (o.payment.as_ref().map(|p| p.status.clone()).unwrap_or_default()) }
                div.actions {
                    @for (action, label) in [("capture", "Capture"), ("sync", "Read back from the provider")] {
                        form.inline method="post" action=(format!("/admin/orders/{id}/payment/{action}")) {
                            (csrf_field(&csrf)) button.secondary type="submit" { (label) }
                        }
                    }
                }
            }
            h2 { "History" }
            (kit::table(&history, &[("created_at", "When"), ("kind", "What"), ("note", "Note"), ("actor", "Who")], None))
            form.stack method="post" action=(format!("/admin/orders/{id}/notes")) {
                (csrf_field(&csrf))
                label { "Note" textarea name="note" rows="2" required maxlength="2000" {} }
                label { "Shown to the customer"
                    select name="visible_to_customer" { option value="false" { "no" } option value="true" { "yes" } }
                }
                button.secondary type="submit" { "Add the note" }
            }
            h2 { "Refunds" }
            (kit::table(&refunds, &[("created_at", "When"), ("amount_cents", "Cents"), ("restocked", "Restocked"), ("reason", "Reason")], None))
            form.stack method="post" action=(format!("/admin/orders/{id}/refunds")) {
                (csrf_field(&csrf))
                label { "Amount (cents)" input type="number" min="1" name="amount_cents" required; }
                label { "Put the items back in stock"
                    select name="restock" { option value="false" { "no" } option value="true" { "yes" } }
                }
                label { "Reason" input name="reason" maxlength="500"; }
                button.secondary type="submit" { "Refund" }
            }
            h2 { "Change the status" }
            form.stack method="post" action=(format!("/admin/orders/{id}/status")) {
                (csrf_field(&csrf))
                label { "New status"
                    select name="status" {
                        @for st in crate::orders::store::STATUSES { option value=(st) selected[o.status == *st] { (st) } }
                    }
                }
                label { "Tracking number (optional)" input name="tracking_number" maxlength="100"; }
                button type="submit" { "Change" }
            }
        },
    ))
}

async fn order_status(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let id = id.into_inner();
    let mut body = Map::new();
    body.insert("status".into(), Value::String(form.get("status").cloned().unwrap_or_default()));
    if let Some(t) = form.get("tracking_number").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        body.insert("tracking_number".into(), Value::String(t.to_string()));
    }
    let parsed: crate::orders::routes::StatusBody = serde_json::from_value(Value::Object(body))
        .map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))?;
    match crate::orders::routes::admin_update(state, shop.0, web::Path::from(id), Body(parsed)).await {
        Ok(o) => flash(&session, format!("Order {} is {} now.", o.number, o.status)),
        Err(e) if e.status_code().is_client_error() => flash(&session, format!("Not changed: {}", problem_of(&e))),
        Err(e) => return Err(e.into()),
    }
    Ok(redirect(&format!("/admin/orders/{id}")))
}

// --- customers and reviews ---

async fn customers(
    session: Session,
    shop: Console,
    q: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let page = page_of(&q);
    let (rows, total) = shop.0.0.db.run(move |c| Ok(crate::customers::store::list_customers(c, page)?)).await?;
    Ok(signed_in(
        &session,
        "Customers",
        html! {
            h1 { "Customers" }
            p.muted { (total) " customers" }
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "E-mail" } th { "Orders" } th { "Spent" } th { "Last order" } } }
                tbody { @for c in &rows {
                    tr { td { a href=(format!("/admin/customers/{}", c.id)) { (c.name) } } td { (c.email) } td { (c.orders_count) } td { (money(c.total_spent_cents)) }
                         td { (c.last_order_at.as_deref().unwrap_or("–")) } }
                } }
            } }
            nav.pager aria-label="Pages" {
                @if page.page > 1 { a href=(format!("/admin/customers?page={}", page.page - 1)) { "← Previous" } }
                @if page.page * page.per_page < total { a href=(format!("/admin/customers?page={}", page.page + 1)) { "Next →" } }
            }
        },
    ))
}

async fn reviews(
    session: Session,
    shop: Console,
    q: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let page = page_of(&q);
    let (rows, total) = shop.0.0.db.run(move |c| Ok(crate::reviews::store::list(c, None, None, page)?)).await?;
    let csrf = csrf_token(&session);
    Ok(signed_in(
        &session,
        "Reviews",
        html! {
            h1 { "Reviews" }
            p.muted { (total) " reviews" }
            div.table-wrap { table {
                thead { tr { th { "Product" } th { "By" } th { "Rating" } th { "Review" } th { "Shown" } th {} } }
                tbody { @for r in &rows {
                    tr {
                        td { a href=(format!("/admin/products/{}", r.product_id)) { (r.product_id) } }
                        td { (r.author_name) }
                        td { (r.rating) }
                        td { (r.title.as_deref().unwrap_or("")) " " (r.body.as_deref().unwrap_or("")) }
                        td { (if r.hidden { "hidden" } else { "shown" }) }
                        td {
                            form.inline method="post" action=(format!("/admin/reviews/{}", r.id)) {
                                (csrf_field(&csrf))
                                input type="hidden" name="hidden" value=(if r.hidden { "false" } else { "true" });
                                button.secondary type="submit" { (if r.hidden { "Show" } else { "Hide" }) }
                            }
                            " "
                            form.inline method="post" action=(format!("/admin/reviews/{}/delete", r.id)) {
                                (csrf_field(&csrf))
                                button.secondary type="submit" { "Delete" }
                            }
                        }
                    }
                } }
            } }
        },
    ))
}

async fn moderate_review(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let (id, hidden) = (id.into_inner(), form.get("hidden").map(String::as_str) == Some("true"));
    shop.0.0.db.write(move |tx| crate::reviews::store::set_hidden(tx, id, hidden)).await?;
    flash(&session, if hidden { "Review hidden." } else { "Review shown." });
    Ok(redirect("/admin/reviews"))
}

// --- coupons, settings, content, webhooks: the API's handlers behind forms ---

use super::kit::{self, Field, Kind, field};

fn again(shop: &Console) -> ShopAdmin {
    ShopAdmin(shop.0.0.clone())
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, AppError> {
    serde_json::to_value(v).map_err(|e| AppError::Internal(e.into()))
}

fn params(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default()
}

fn page_query(req: &HttpRequest) -> Result<web::Query<crate::pagination::PageQuery>, AppError> {
    web::Query::from_query(req.query_string()).map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))
}

/// A list with a delete button per row and a form for a new record.
#[allow(clippy::too_many_arguments)]
fn list_and_form(
    session: &Session,
    title: &str,
    base: &str,
    answer: &Value,
    columns: &[(&str, &str)],
    fields: &[Field],
    req: &HttpRequest,
    extra: Option<&dyn Fn(&Value) -> Markup>,
) -> HttpResponse {
    let csrf = csrf_token(session);
    let actions = |r: &Value| {
        html! {
            @if let Some(extra) = extra { (extra(r)) " " }
            form.inline method="post" action=(format!("{base}/{}/delete", r["id"])) {
                (csrf_field(&csrf))
                button.secondary type="submit" { "Delete" }
            }
        }
    };
    signed_in(
        session,
        title,
        html! {
            h1 { (title) }
            (kit::listing(answer, columns, base, &params(req), Some(&actions)))
            h2 { "New" }
            (kit::form(&csrf, base, fields, &Map::new(), "Add"))
        },
    )
}

const COUPON_FIELDS: &[Field] = &[
    field("code", "Code", Kind::Text),
    field("kind", "Kind", Kind::Choice(&["percent", "fixed"])),
    field("value", "Value (percent, or cents off)", Kind::Integer),
    field("min_subtotal_cents", "Minimum subtotal (cents)", Kind::Integer),
    field("max_uses", "Uses at most", Kind::Integer),
    field("expires_at", "Expires (RFC 3339, e.g. 2027-01-31T23:59:59Z)", Kind::Text),
    field("active", "Active", Kind::Bool),
];

async fn coupons(session: Session, shop: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let answer = to_value(crate::coupons::routes::list(again(&shop), page_query(&req)?).await?.into_inner())?;
    let columns = [
        ("code", "Code"),
        ("kind", "Kind"),
        ("value", "Value"),
        ("uses", "Used"),
        ("max_uses", "Limit"),
        ("expires_at", "Expires"),
        ("active", "Active"),
    ];
    Ok(list_and_form(&session, "Coupons", "/admin/coupons", &answer, &columns, COUPON_FIELDS, &req, None))
}

async fn create_coupon(
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let done = kit::submit(&form, COUPON_FIELDS, |body| crate::coupons::routes::create(again(&shop), body)).await;
    super::after(&session, done, "Coupon added.")?;
    Ok(redirect("/admin/coupons"))
}

async fn delete_coupon(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let done = crate::coupons::routes::remove(again(&shop), id).await.map(|_| ());
    super::after(&session, done, "Coupon deleted.")?;
    Ok(redirect("/admin/coupons"))
}

const SETTINGS_FIELDS: &[Field] = &[
    field("currency", "Currency (ISO 4217)", Kind::Text),
    field("tax_rate_bp", "Tax rate (basis points: 1900 = 19 %)", Kind::Integer),
    field("prices_include_tax", "Prices include tax", Kind::Bool),
    field("shipping_flat_cents", "Flat shipping (cents)", Kind::Integer),
    field("free_shipping_over_cents", "Free shipping from (cents)", Kind::Integer),
    field("auto_cancel_unpaid_hours", "Cancel unpaid orders after (hours)", Kind::Integer),
    field("low_stock_threshold", "Low stock at", Kind::Integer),
    field("locale", "Locale", Kind::Text),
    field("mail_sender_name", "Mail sender name", Kind::Text),
];

async fn settings(session: Session, shop: Console) -> Result<HttpResponse, ConsoleError> {
    let current = to_value(crate::shop_settings::routes::show(again(&shop)).await?.into_inner())?;
    let csrf = csrf_token(&session);
    let values = current.as_object().cloned().unwrap_or_default();
    Ok(signed_in(
        &session,
        "Settings",
        html! { h1 { "Shop settings" } (kit::form(&csrf, "/admin/settings", SETTINGS_FIELDS, &values, "Save")) },
    ))
}

async fn save_settings(
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let done =
        kit::submit(&form, SETTINGS_FIELDS, |body| crate::shop_settings::routes::update(again(&shop), body)).await;
    super::after(&session, done, "Settings saved.")?;
    Ok(redirect("/admin/settings"))
}

const BANNER_FIELDS: &[Field] = &[
    field("title", "Title", Kind::Text),
    field("image_url", "Image URL", Kind::Text),
    field("link_url", "Link", Kind::Text),
    field("position", "Position", Kind::Integer),
    field("active", "Active", Kind::Bool),
];
const PAGE_FIELDS: &[Field] = &[
    field("slug", "Slug", Kind::Text),
    field("title", "Title", Kind::Text),
    field("body", "Text (Markdown)", Kind::LongText),
    field("published", "Published", Kind::Bool),
];

fn own(shop: &Console) -> crate::content::routes::Own {
    crate::content::routes::Own(again(shop))
}

async fn banners(session: Session, shop: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let answer = to_value(crate::content::routes::list_banners(own(&shop), page_query(&req)?).await?.into_inner())?;
    let columns = [("title", "Title"), ("position", "Position"), ("active", "Active"), ("link_url", "Link")];
    Ok(list_and_form(&session, "Banners", "/admin/banners", &answer, &columns, BANNER_FIELDS, &req, None))
}

async fn create_banner(
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let done = kit::submit(&form, BANNER_FIELDS, |body| crate::content::routes::create_banner(own(&shop), body)).await;
    super::after(&session, done, "Banner added.")?;
    Ok(redirect("/admin/banners"))
}

async fn delete_banner(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let done = crate::content::routes::delete_banner(own(&shop), id).await.map(|_| ());
    super::after(&session, done, "Banner deleted.")?;
    Ok(redirect("/admin/banners"))
}

async fn pages(session: Session, shop: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let answer = to_value(crate::content::routes::list_pages(own(&shop), page_query(&req)?).await?.into_inner())?;
    let columns = [("slug", "Slug"), ("title", "Title"), ("published", "Published")];
    Ok(list_and_form(&session, "Pages", "/admin/pages", &answer, &columns, PAGE_FIELDS, &req, None))
}

async fn create_page(
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let done = kit::submit(&form, PAGE_FIELDS, |body| crate::content::routes::create_page(own(&shop), body)).await;
    super::after(&session, done, "Page added.")?;
    Ok(redirect("/admin/pages"))
}

async fn delete_page(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let done = crate::content::routes::delete_page(own(&shop), id).await.map(|_| ());
    super::after(&session, done, "Page deleted.")?;
    Ok(redirect("/admin/pages"))
}

const WEBHOOK_EVENTS: &[&str] = &["order.created", "order.status_changed", "product.low_stock"];

async fn webhooks(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let answer = to_value(crate::webhooks::routes::list(state, again(&shop), page_query(&req)?).await?.into_inner())?;
    let csrf = csrf_token(&session);
    let columns = [("id", "Id"), ("url", "URL"), ("events", "Events"), ("active", "Active")];
    let deliveries = |r: &Value| html! { a href=(format!("/admin/webhooks/{}", r["id"])) { "Deliveries" } };
    let actions = |r: &Value| {
        html! {
            (deliveries(r)) " "
            form.inline method="post" action=(format!("/admin/webhooks/{}/delete", r["id"])) {
                (csrf_field(&csrf))
                button.secondary type="submit" { "Delete" }
            }
        }
    };
    Ok(signed_in(
        &session,
        "Webhooks",
        html! {
            h1 { "Webhooks" }
            (kit::listing(&answer, &columns, "/admin/webhooks", &params(&req), Some(&actions)))
            h2 { "New endpoint" }
            form.stack method="post" action="/admin/webhooks" {
                (csrf_field(&csrf))
                label { "URL (https://…)" input type="url" name="url" required; }
                fieldset {
                    legend { "Events" }
                    @for e in WEBHOOK_EVENTS {
                        label { input type="checkbox" name=(format!("event.{e}")) value="on"; " " (e) }
                    }
                }
                button type="submit" { "Add" }
            }
        },
    ))
}

async fn create_webhook(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let events: Vec<Value> = WEBHOOK_EVENTS
        .iter()
        .filter(|e| form.contains_key(&format!("event.{e}")))
        .map(|e| Value::String(e.to_string()))
        .collect();
    let body = serde_json::json!({ "url": form.get("url").cloned().unwrap_or_default(), "events": events });
    let done = match kit::parse(body) {
        Ok(body) => crate::webhooks::routes::create(state, again(&shop), body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    super::after(&session, done, "Webhook added.")?;
    Ok(redirect("/admin/webhooks"))
}

async fn delete_webhook(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let done = crate::webhooks::routes::remove(state, again(&shop), id).await.map(|_| ());
    super::after(&session, done, "Webhook deleted.")?;
    Ok(redirect("/admin/webhooks"))
}

async fn webhook_deliveries(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let webhook = *id;
    let answer =
        to_value(crate::webhooks::routes::deliveries(state, again(&shop), id, page_query(&req)?).await?.into_inner())?;
    let columns = [
        ("id", "Id"),
        ("event", "Event"),
        ("status", "Status"),
        ("attempts", "Attempts"),
        ("response_status", "Answer"),
        ("created_at", "Queued"),
    ];
    Ok(signed_in(
        &session,
        "Deliveries",
        html! {
            h1 { "Deliveries of webhook " (webhook) }
            (kit::listing(&answer, &columns, &format!("/admin/webhooks/{webhook}"), &params(&req), None))
        },
    ))
}

const CUSTOM_FIELD_FIELDS: &[Field] = &[
    field("entity", "For", Kind::Choice(&["product", "customer", "order"])),
    field("key", "Key (a-z, 0-9, _)", Kind::Text),
    field("label", "Label", Kind::Text),
    field("type", "Type", Kind::Choice(&["text", "number", "boolean", "date", "select"])),
    field("required", "Required", Kind::Bool),
    field("options", "Choices of a select field, one per line", Kind::LongText),
];

async fn custom_fields(session: Session, shop: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let q = web::Query::from_query(req.query_string())
        .map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))?;
    let answer = to_value(crate::custom_fields::routes::list(again(&shop), q).await?.into_inner())?;
    let columns = [
        ("entity", "For"),
        ("key", "Key"),
        ("label", "Label"),
        ("type", "Type"),
        ("options", "Choices"),
        ("required", "Required"),
    ];
    Ok(list_and_form(
        &session,
        "Custom fields",
        "/admin/custom-fields",
        &answer,
        &columns,
        CUSTOM_FIELD_FIELDS,
        &req,
        None,
    ))
}

async fn create_custom_field(
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let mut body = kit::body(&form, CUSTOM_FIELD_FIELDS)?;
    // A select field's choices, one per line.
    if let Some(choices) = form.get("options").filter(|o| !o.trim().is_empty()) {
        let list: Vec<Value> =
            choices.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.into())).collect();
        body["options"] = Value::Array(list);
    }
    let done = match kit::parse(body) {
        Ok(body) => crate::custom_fields::routes::create(again(&shop), body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    super::after(&session, done, "Custom field added.")?;
    Ok(redirect("/admin/custom-fields"))
}

async fn delete_custom_field(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let done = crate::custom_fields::routes::delete(again(&shop), id).await.map(|_| ());
    super::after(&session, done, "Custom field deleted.")?;
    Ok(redirect("/admin/custom-fields"))
}

const SHIPPING_FIELDS: &[Field] = &[
    field("name", "Name", Kind::Text),
    field("kind", "Kind", Kind::Choice(&["flat", "free_over", "weight"])),
    field("price_cents", "Price (cents)", Kind::Integer),
    field("free_over_cents", "Free from (cents, for free_over)", Kind::Integer),
];

async fn shipping(session: Session, shop: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let methods = to_value(crate::shipping::routes::list(again(&shop)).await?.into_inner())?;
    let rates = to_value(crate::shipping::routes::tax_rates(again(&shop)).await?.into_inner())?;
    let csrf = csrf_token(&session);
    let lines: String =
        rates["rates"].as_object().map(|m| m.iter().map(|(k, v)| format!("{k}={v}\n")).collect()).unwrap_or_default();
    let delete = |r: &Value| {
        html! {
            form.inline method="post" action=(format!("/admin/shipping/{}/delete", r["id"])) {
                (csrf_field(&csrf))
                button.secondary type="submit" { "Delete" }
            }
        }
    };
    Ok(signed_in(
        &session,
        "Shipping and tax",
        html! {
            h1 { "Shipping methods" }
            (kit::listing(&methods, &[("name", "Name"), ("kind", "Kind"), ("price_cents", "Cents"), ("free_over_cents", "Free from"),
                ("bands", "Weight bands"), ("countries", "Countries"), ("active", "Active")], "/admin/shipping", &params(&req), Some(&delete)))
            h2 { "New method" }
            form.stack method="post" action="/admin/shipping" {
                (csrf_field(&csrf))
                @for f in SHIPPING_FIELDS {
                    label { (f.label)
                        @match f.kind {
                            Kind::Choice(options) => { select name=(f.name) { @for o in options { option value=(o) { (o) } } } }
                            Kind::Integer => { input type="number" name=(f.name); }
                            _ => { input name=(f.name); }
                        }
                    }
                }
                label { "Weight bands (for weight: one per line, grams=cents, e.g. 1000=495)" textarea name="bands" rows="3" {} }
                label { "Countries (ISO codes separated by spaces; empty: everywhere)" input name="countries"; }
                button type="submit" { "Add" }
            }
            h1 { "Tax rates by country" }
            form.stack method="post" action="/admin/tax-rates" {
                (csrf_field(&csrf))
                label { "One per line: country=basis points (DE=1900), * for every other country"
                    textarea name="rates" rows="6" { (lines) }
                }
                button type="submit" { "Save the rates" }
            }
        },
    ))
}

/// `key=value` lines as pairs (blank lines skipped; a line without `=` is kept whole as the key).
fn pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

fn number_or_text(v: &str) -> Value {
    v.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(v.to_string()))
}

async fn create_shipping_method(
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let mut body = kit::body(&form, SHIPPING_FIELDS)?;
    if let Some(bands) = form.get("bands").filter(|b| !b.trim().is_empty()) {
        body["bands"] = Value::Array(
            pairs(bands)
                .into_iter()
                .map(|(g, c)| serde_json::json!({"up_to_grams": number_or_text(&g), "price_cents": number_or_text(&c)}))
                .collect(),
        );
    }
    if let Some(countries) = form.get("countries").filter(|c| !c.trim().is_empty()) {
        body["countries"] = Value::Array(countries.split_whitespace().map(|c| Value::String(c.to_string())).collect());
    }
    let done = match kit::parse(body) {
        Ok(body) => crate::shipping::routes::create(again(&shop), body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    super::after(&session, done, "Shipping method added.")?;
    Ok(redirect("/admin/shipping"))
}

async fn delete_shipping_method(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let done = crate::shipping::routes::delete(again(&shop), id).await.map(|_| ());
    super::after(&session, done, "Shipping method deleted.")?;
    Ok(redirect("/admin/shipping"))
}

async fn save_tax_rates(
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let rates: Map<String, Value> = pairs(form.get("rates").map(String::as_str).unwrap_or(""))
        .into_iter()
        .map(|(k, v)| (k, number_or_text(&v)))
        .collect();
    let done = match kit::parse(serde_json::json!({ "rates": rates })) {
        Ok(body) => crate::shipping::routes::set_tax_rates(again(&shop), body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    super::after(&session, done, "Tax rates saved.")?;
    Ok(redirect("/admin/shipping"))
}

async fn add_order_note(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let order = *id;
    let body = serde_json::json!({
        "note": form.get("note").cloned().unwrap_or_default(),
        "visible_to_customer": form.get("visible_to_customer").map(String::as_str) == Some("true"),
    });
    let done = match kit::parse(body) {
        Ok(body) => crate::orders::routes::add_note(again(&shop), id, body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    super::after(&session, done, "Note added.")?;
    Ok(redirect(&format!("/admin/orders/{order}")))
}

async fn refund_order(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let order = *id;
    let mut body = serde_json::json!({ "restock": form.get("restock").map(String::as_str) == Some("true") });
    if let Some(a) = form.get("amount_cents").map(|a| a.trim()).filter(|a| !a.is_empty()) {
        body["amount_cents"] = number_or_text(a);
    }
    if let Some(r) = form.get("reason").map(|r| r.trim()).filter(|r| !r.is_empty()) {
        body["reason"] = Value::String(r.to_string());
    }
    let done = match kit::parse(body) {
        Ok(body) => crate::payments::routes::refund(state, req, again(&shop), id, body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    super::after(&session, done, "Refunded.")?;
    Ok(redirect(&format!("/admin/orders/{order}")))
}

async fn audit(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let q = web::Query::from_query(req.query_string())
        .map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))?;
    let answer = to_value(crate::audit::routes::list_shop(state, again(&shop), q).await?.into_inner())?;
    Ok(signed_in(
        &session,
        "Audit log",
        html! {
            h1 { "Audit log" }
            (kit::listing(&answer, &[("at", "When"), ("actor", "Who"), ("action", "Action"), ("target", "Target"), ("ip", "Address")],
                "/admin/audit", &params(&req), None))
        },
    ))
}

async fn add_variant(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let product = *id;
    const FIELDS: &[Field] =
        &[field("sku", "", Kind::Text), field("price_cents", "", Kind::Integer), field("stock", "", Kind::Integer)];
    let mut body = kit::body(&form, FIELDS)?;
    let options: Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("option.")?.to_string(), Value::String(v.clone()))))
        .collect();
    body["options"] = Value::Object(options);
    let parsed: crate::catalog::routes::VariantBody =
        serde_json::from_value(body).map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))?;
    let done = match parsed.parse() {
        Ok(f) => shop.0.0.db.write(move |tx| crate::catalog::variants::insert(tx, product, &f)).await.map(|_| ()),
        Err(e) => Err(e),
    };
    super::after(&session, done, "Variant added.")?;
    Ok(redirect(&format!("/admin/products/{product}")))
}

async fn delete_product(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let id = id.into_inner();
    let done = shop.0.0.db.write(move |tx| catalog::delete_product(tx, id)).await;
    super::after(&session, done, "Product deleted.")?;
    Ok(redirect("/admin/products"))
}

const PROVIDER_FIELDS: &[Field] = &[
    field("provider", "Provider", Kind::Choice(&["manual", "bank_transfer", "cash_on_delivery", "stripe"])),
    field("enabled", "Enabled", Kind::Bool),
    field("instructions", "Instructions shown to buyers (offline providers)", Kind::LongText),
    field("capture", "Capture (stripe: automatic or manual)", Kind::Choice(&["automatic", "manual"])),
    field("secret_key", "Secret key (stripe; write-only)", Kind::Text),
    field("webhook_secret", "Webhook signing secret (stripe; write-only)", Kind::Text),
];

async fn payments(session: Session, shop: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let answer = to_value(crate::payments::routes::list_providers(again(&shop)).await?.into_inner())?;
    let csrf = csrf_token(&session);
    let delete = |r: &Value| {
        html! {
            form.inline method="post" action=(format!("/admin/payments/{}/delete", r["provider"].as_str().unwrap_or_default())) {
                (csrf_field(&csrf))
                button.secondary type="submit" { "Remove" }
            }
        }
    };
    Ok(signed_in(
        &session,
        "Payments",
        html! {
            h1 { "Payment providers" }
            (kit::listing(&answer, &[("provider", "Provider"), ("enabled", "Enabled"), ("capture", "Capture"),
                ("secret_key_set", "Secret key set"), ("webhook_secret_set", "Webhook secret set")], "/admin/payments", &params(&req), Some(&delete)))
            h2 { "Set up a provider" }
            (kit::form(&csrf, "/admin/payments", PROVIDER_FIELDS, &Map::new(), "Save"))
        },
    ))
}

async fn set_provider(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let provider = form.get("provider").cloned().unwrap_or_default();
    let mut body = kit::body(&form, &PROVIDER_FIELDS[1..])?;
    if provider != "stripe"
        && let Some(o) = body.as_object_mut()
    {
        o.remove("capture");
    }
    let done = kit::submit_value(body, |body| {
        crate::payments::routes::put_provider(state, again(&shop), web::Path::from(provider), body)
    })
    .await;
    super::after(&session, done, "Provider saved.")?;
    Ok(redirect("/admin/payments"))
}

async fn delete_provider(
    session: Session,
    shop: Console,
    provider: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let done = crate::payments::routes::delete_provider(again(&shop), provider).await.map(|_| ());
    super::after(&session, done, "Provider removed.")?;
    Ok(redirect("/admin/payments"))
}

const ABILITIES: &[&str] = &[
    "catalog:read",
    "catalog:write",
    "orders:read",
    "orders:write",
    "content:read",
    "content:write",
    "settings:read",
    "settings:write",
];

async fn tokens(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    shop: Console,
) -> Result<HttpResponse, ConsoleError> {
    let caller = shop.0.0.caller.clone();
    let answer = to_value(crate::auth::api_tokens::list(state, caller).await?.into_inner())?;
    let csrf = csrf_token(&session);
    let revoke = |r: &Value| {
        html! {
            form.inline method="post" action=(format!("/admin/tokens/{}/delete", r["id"])) {
                (csrf_field(&csrf))
                button.secondary type="submit" { "Revoke" }
            }
        }
    };
    Ok(signed_in(
        &session,
        "API tokens",
        html! {
            h1 { "API tokens" }
            (kit::listing(&answer, &[("name", "Name"), ("abilities", "Abilities"), ("expires_at", "Expires"), ("last_used_at", "Last used")],
                "/admin/tokens", &params(&req), Some(&revoke)))
            h2 { "New token" }
            form.stack method="post" action="/admin/tokens" {
                (csrf_field(&csrf))
                label { "Name" input name="name" required maxlength="100"; }
                fieldset {
                    legend { "Abilities" }
                    @for a in ABILITIES { label { input type="checkbox" name=(format!("ability.{a}")) value="on"; " " (a) } }
                }
                button type="submit" { "Create" }
            }
        },
    ))
}

async fn create_token(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let abilities: Vec<Value> = ABILITIES
        .iter()
        .filter(|a| form.contains_key(&format!("ability.{a}")))
        .map(|a| Value::String(a.to_string()))
        .collect();
    let body = serde_json::json!({ "name": form.get("name").cloned().unwrap_or_default(), "abilities": abilities });
    let caller = shop.0.0.caller.clone();
    let created = match kit::parse(body) {
        Ok(body) => crate::auth::api_tokens::create(state, caller, body).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(res) => {
            let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap_or_default();
            let token =
                serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v["token"].as_str().map(str::to_string));
            flash(
                &session,
                format!("Token created; copy it now, it is not shown again: {}", token.unwrap_or_default()),
            );
        }
        Err(e) if e.status_code().is_client_error() => flash(&session, format!("Not created: {}", kit::problem(&e))),
        Err(e) => return Err(e.into()),
    }
    Ok(redirect("/admin/tokens"))
}

async fn revoke_token(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let caller = shop.0.0.caller.clone();
    let done = crate::auth::api_tokens::revoke(state, caller, id).await.map(|_| ());
    super::after(&session, done, "Token revoked.")?;
    Ok(redirect("/admin/tokens"))
}

async fn catalog_page(session: Session, shop: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let page = page_of(&params(&req));
    let (rows, total) = shop.0.0.db.run(move |c| Ok(crate::catalog_csv::import::list(c, page)?)).await?;
    let answer = serde_json::json!({ "data": to_value(rows)?, "meta": {"page": page.page, "per_page": page.per_page, "total": total} });
    let csrf = csrf_token(&session);
    Ok(signed_in(
        &session,
        "Catalogue CSV",
        html! {
            h1 { "Catalogue CSV" }
            p { a.button href="/admin/catalog/export" hx-boost="false" { "Download the catalogue" } }
            h2 { "Imports" }
            (kit::listing(&answer, &[("id", "Id"), ("status", "Status"), ("dry_run", "Dry run"), ("rows_done", "Rows done"),
                ("rows_total", "Rows"), ("report", "Report"), ("error", "Error")], "/admin/catalog", &params(&req), None))
            h2 { "Import" }
            p.muted { "Paste the file (for large files use the API or `vergeflow catalog import`)." }
            form.stack method="post" action="/admin/catalog" {
                (csrf_field(&csrf))
                label { "CSV" textarea name="csv" rows="10" required {} }
                label { "Dry run (report only)" select name="dry_run" { option value="true" { "yes" } option value="false" { "no" } } }
                button type="submit" { "Import" }
            }
        },
    ))
}

async fn import_catalog(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let csv = form.get("csv").cloned().unwrap_or_default().into_bytes();
    let dry_run = form.get("dry_run").map(String::as_str) != Some("false");
    // As the API's upload does: the file checked as a whole, stored in the shop, applied by a job.
    if let Err(why) = crate::catalog_csv::import::parse(&csv) {
        flash(&session, format!("Not imported: {why}"));
        return Ok(redirect("/admin/catalog"));
    }
    let created = shop.0.0.db.write(move |tx| Ok(crate::catalog_csv::import::create(tx, &csv, dry_run)?)).await?;
    let task = crate::jobs::Task::ImportCatalog { client_id: shop.0.0.client.id, import_id: created.id };
    state.main.run(move |c| crate::jobs::enqueue(c, &task)).await?;
    flash(&session, format!("Import {} queued; its progress and report appear below.", created.id));
    Ok(redirect("/admin/catalog"))
}

async fn export_catalog(shop: Console) -> Result<HttpResponse, ConsoleError> {
    Ok(crate::catalog_csv::routes::export(shop.0).await?)
}

/// An image upload from the product page (multipart): the CSRF field, the alt text and the file,
/// then the API's checks and re-encoding.
async fn upload_image(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    mut multipart: actix_multipart::Multipart,
) -> Result<HttpResponse, ConsoleError> {
    use futures_util::StreamExt as _;
    let product = id.into_inner();
    let (mut csrf, mut alt, mut bytes) = (None, String::new(), Vec::new());
    while let Some(field) = multipart.next().await {
        let mut field =
            field.map_err(|e| AppError::bad_request("malformed_body", format!("the upload could not be read: {e}")))?;
        let name = field.name().unwrap_or_default().to_string();
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk
                .map_err(|e| AppError::bad_request("malformed_body", format!("the upload could not be read: {e}")))?;
            if value.len() + chunk.len() > crate::images::process::MAX_UPLOAD_BYTES {
                return Err(AppError::PayloadTooLarge { limit: crate::images::process::MAX_UPLOAD_BYTES }.into());
            }
            value.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "_csrf" => csrf = Some(String::from_utf8_lossy(&value).into_owned()),
            "alt" => alt = String::from_utf8_lossy(&value).trim().to_string(),
            "image" => bytes = value,
            _ => {}
        }
    }
    let mut form = HashMap::new();
    if let Some(token) = csrf {
        form.insert("_csrf".to_string(), token);
    }
    checked_form(&session, web::Form(form))?;
    let done = async {
        if alt.chars().count() > 500 {
            return Err(AppError::invalid_field("alt", "must be at most 500 characters"));
        }
        let processed = web::block(move || crate::images::process::process(&bytes)).await??;
        shop.0.0.db.write(move |tx| crate::images::store::insert(tx, product, None, &alt, &processed)).await.map(|_| ())
    }
    .await;
    super::after(&session, done, "Image added.")?;
    Ok(redirect(&format!("/admin/products/{product}")))
}

/// An image's thumbnail for the console (the shop's admin sees those of inactive products too).
async fn image_thumbnail(shop: Console, id: web::Path<i64>) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let found = shop.0.0.db.run(move |c| Ok(crate::images::store::bytes(c, id, true, false)?)).await?;
    let (content_type, _, bytes) = found.ok_or_else(|| AppError::not_found("not_found", "no such image"))?;
    Ok(HttpResponse::Ok().content_type(content_type).body(bytes))
}

async fn image_first(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let id = id.into_inner();
    let moved = shop.0.0.db.write(move |tx| crate::images::store::update(tx, id, None, Some(0), None)).await;
    let product = crate::images::store::find_product_of(&shop.0.0.db, id).await;
    super::after(&session, moved.map(|_| ()), "Image moved first.")?;
    Ok(redirect(&product.map(|p| format!("/admin/products/{p}")).unwrap_or_else(|| "/admin/products".into())))
}

async fn delete_image(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let id = id.into_inner();
    let product = crate::images::store::find_product_of(&shop.0.0.db, id).await;
    let done = shop.0.0.db.write(move |tx| crate::images::store::delete(tx, id)).await;
    super::after(&session, done, "Image deleted.")?;
    Ok(redirect(&product.map(|p| format!("/admin/products/{p}")).unwrap_or_else(|| "/admin/products".into())))
}

async fn update_variant(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let id = id.into_inner();
    const FIELDS: &[Field] = &[field("price_cents", "", Kind::Integer), field("stock", "", Kind::Integer)];
    let done = match kit::body(&form, FIELDS).and_then(|b| {
        serde_json::from_value::<crate::catalog::routes::VariantBody>(b)
            .map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))
    }) {
        Ok(b) => match b.parse() {
            Ok(f) => shop.0.0.db.write(move |tx| crate::catalog::variants::update(tx, id, &f)).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let product = done.as_ref().ok().map(|v| v.product_id);
    super::after(&session, done.map(|_| ()), "Variant saved.")?;
    Ok(redirect(&product.map(|p| format!("/admin/products/{p}")).unwrap_or_else(|| "/admin/products".into())))
}

async fn delete_variant(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let id = id.into_inner();
    let product = shop.0.0.db.run(move |c| Ok(crate::catalog::variants::find(c, id)?)).await?.map(|v| v.product_id);
    let done = shop.0.0.db.write(move |tx| crate::catalog::variants::delete(tx, id)).await;
    super::after(&session, done, "Variant deleted.")?;
    Ok(redirect(&product.map(|p| format!("/admin/products/{p}")).unwrap_or_else(|| "/admin/products".into())))
}

async fn delete_category(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let id = id.into_inner();
    let done = shop.0.0.db.write(move |tx| catalog::delete_category(tx, id)).await;
    super::after(&session, done, "Category deleted.")?;
    Ok(redirect("/admin/categories"))
}

async fn delete_review(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let done = crate::reviews::routes::remove(again(&shop), id).await.map(|_| ());
    super::after(&session, done, "Review deleted.")?;
    Ok(redirect("/admin/reviews"))
}

async fn payment_action(
    state: web::Data<AppState>,
    session: Session,
    shop: Console,
    path: web::Path<(i64, String)>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    checked_form(&session, form)?;
    let (id, action) = path.into_inner();
    let done = match action.as_str() {
        "capture" => crate::payments::routes::capture(state, again(&shop), web::Path::from(id)).await.map(|_| ()),
        "sync" => crate::payments::routes::sync(state, again(&shop), web::Path::from(id)).await.map(|_| ()),
        _ => Err(AppError::not_found("not_found", "no such payment action")),
    };
    super::after(&session, done, "Done.")?;
    Ok(redirect(&format!("/admin/orders/{id}")))
}

async fn customer(session: Session, shop: Console, id: web::Path<i64>) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let c = to_value(crate::customers::routes::show(again(&shop), web::Path::from(id)).await?.into_inner())?;
    let fields = shop.0.0.db.run(|c| Ok(crate::custom_fields::store::list(c, Some(Entity::Customer))?)).await?;
    let csrf = csrf_token(&session);
    Ok(signed_in(
        &session,
        c["name"].as_str().unwrap_or("Customer"),
        html! {
            h1 { (c["name"].as_str().unwrap_or("")) }
            dl {
                dt { "E-mail" } dd { (kit::cell(&c["email"])) }
                dt { "Orders" } dd { (kit::cell(&c["orders_count"])) }
                dt { "Spent" } dd { (money(c["total_spent_cents"].as_i64().unwrap_or(0))) }
                dt { "Last order" } dd { (kit::cell(&c["last_order_at"])) }
            }
            @if fields.is_empty() {
                p.muted { "The shop has no customer custom fields (see Custom fields)." }
            } @else {
                form.stack method="post" action=(format!("/admin/customers/{id}")) {
                    (csrf_field(&csrf))
                    @for f in &fields {
                        label { (f.label) input name=(format!("custom.{}", f.key)) value=(kit::cell(&c["custom"][&f.key]).replace('–', "")); }
                    }
                    button type="submit" { "Save" }
                }
            }
        },
    ))
}

async fn update_customer(
    session: Session,
    shop: Console,
    id: web::Path<i64>,
    form: web::Form<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = checked_form(&session, form)?;
    let customer = *id;
    let fields = shop.0.0.db.run(|c| Ok(crate::custom_fields::store::list(c, Some(Entity::Customer))?)).await?;
    // Typed as the product form types them; an emptied field removes its value.
    let mut custom = Map::new();
    for f in &fields {
        let Some(raw) = form.get(&format!("custom.{}", f.key)) else { continue };
        let v = raw.trim();
        let value = if v.is_empty() {
            Value::Null
        } else {
            match f.kind {
                FieldType::Number => v
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(v.into())),
                FieldType::Boolean => Value::Bool(v == "true"),
                _ => Value::String(v.into()),
            }
        };
        custom.insert(f.key.clone(), value);
    }
    let done = kit::submit_value(serde_json::json!({ "custom": custom }), |body| {
        crate::customers::routes::update(again(&shop), id, body)
    })
    .await;
    super::after(&session, done, "Saved.")?;
    Ok(redirect(&format!("/admin/customers/{customer}")))
}
