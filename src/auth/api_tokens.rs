//! API tokens for integrations: a main user (super admin or shop admin) creates named tokens with
//! abilities and an expiry (`/api/auth/tokens`); a request made with one reaches only the areas
//! its abilities cover (`<area>:read` for GET and HEAD, `<area>:write` for the rest), else 403.
//! Sessions from signing in are not API tokens: they may do all their user may.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::tokens;
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;
use crate::validate;

/// Every ability: (area, route prefixes it covers, main users who may hold it).
const AREAS: &[(&str, &[&str], Holder)] = &[
    (
        "catalog",
        &["/api/admin/products", "/api/admin/categories", "/api/admin/coupons", "/api/admin/reviews"],
        Holder::ShopAdmin,
    ),
    ("orders", &["/api/admin/orders", "/api/admin/customers"], Holder::ShopAdmin),
    ("content", &["/api/admin/banners", "/api/admin/pages"], Holder::ShopAdmin),
    (
        "settings",
        &["/api/admin/settings", "/api/admin/webhooks", "/api/admin/audit", "/api/admin/custom-fields"],
        Holder::ShopAdmin,
    ),
    ("registry", &["/api/super-admin/"], Holder::SuperAdmin),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Holder {
    ShopAdmin,
    SuperAdmin,
}

/// What any token may do: see who it belongs to, and revoke itself.
const ALWAYS: &[&str] = &["/api/auth/me", "/api/auth/logout"];

fn area_of(pattern: &str) -> Option<&'static str> {
    AREAS.iter().find(|(_, prefixes, _)| prefixes.iter().any(|p| pattern.starts_with(p))).map(|(a, _, _)| *a)
}

/// Whether an API token with `abilities` (a JSON list) may make this request; 403 if not.
pub fn allow(abilities: &str, method: &Method, pattern: Option<&str>) -> Result<(), AppError> {
    let pattern = pattern.unwrap_or("");
    if ALWAYS.contains(&pattern) {
        return Ok(());
    }
    let refuse = |why: String| Err(AppError::forbidden("ability_missing", why));
    let Some(area) = area_of(pattern) else {
        return refuse(format!("API tokens cannot use {pattern}; sign in for it"));
    };
    let kind = if matches!(*method, Method::GET | Method::HEAD) { "read" } else { "write" };
    let wanted = format!("{area}:{kind}");
    let held: Vec<String> = serde_json::from_str(abilities).unwrap_or_default();
    if held.contains(&wanted) { Ok(()) } else { refuse(format!("this token lacks the ability {wanted}")) }
}

pub fn routes(api: &mut Api) {
    api.get(
        "/api/auth/tokens",
        Spec::new("Your API tokens (never their secrets)", Access::MainUser, Answer::Json(200, schema::<TokenList>)),
        list,
    )
    .post(
        "/api/auth/tokens",
        Spec::new(
            "Create an API token; its secret is shown once",
            Access::MainUser,
            Answer::Json(201, schema::<CreatedToken>),
        )
        .body_as(schema::<TokenBody>, "ApiTokenCreate", &["name", "abilities"]),
        create,
    )
    .delete(
        "/api/auth/tokens/{id}",
        Spec::new("Revoke one of your API tokens", Access::MainUser, Answer::NoContent),
        revoke,
    );
}

#[derive(Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 7, "name": "ERP sync", "abilities": ["catalog:read", "orders:read"],
    "expires_at": "2027-02-27T10:00:00Z", "created_at": "2026-11-29T10:00:00Z"}))]
struct ApiToken {
    id: i64,
    name: String,
    abilities: Vec<String>,
    expires_at: String,
    created_at: String,
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct TokenList {
    data: Vec<ApiToken>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct CreatedToken {
    #[serde(flatten)]
    api_token: ApiToken,
    /// The secret, as sign-in answers it: `Authorization: Bearer <token>`. Shown this once; only its
    /// hash is kept.
    token: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "ERP sync", "abilities": ["catalog:read", "orders:read"], "expires_at": "2027-02-27T10:00:00Z"}))]
pub(crate) struct TokenBody {
    #[schemars(length(min = 1, max = 100))]
    name: Option<String>,
    /// `catalog`, `orders`, `content`, `settings` (shop admins) or `registry` (super admins), each
    /// `:read` or `:write`.
    abilities: Option<Vec<String>>,
    /// RFC 3339, in the future and within two years; default 90 days from now.
    expires_at: Option<String>,
}

/// The signed-in main user behind a session (API tokens cannot make more tokens).
fn session_user(caller: &Caller) -> Result<(i64, Holder), AppError> {
    match caller {
        Caller::SuperAdmin { user_id, .. } => Ok((*user_id, Holder::SuperAdmin)),
        Caller::Admin { user_id, .. } => Ok((*user_id, Holder::ShopAdmin)),
        Caller::Anonymous => Err(AppError::Unauthorized("sign in first".into())),
        Caller::Customer { .. } => {
            Err(AppError::forbidden("forbidden", "API tokens are for super admins and shop admins"))
        }
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: r.get(0)?,
        name: r.get(1)?,
        abilities: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
        expires_at: r.get(3)?,
        created_at: r.get(4)?,
    })
}

pub(crate) async fn list(state: web::Data<AppState>, caller: Caller) -> Result<web::Json<TokenList>, AppError> {
    let (user_id, _) = session_user(&caller)?;
    let data = state
        .main
        .run(move |c| {
            Ok(c.prepare(
                "SELECT id, name, abilities, expires_at, created_at FROM personal_access_tokens
                 WHERE user_id = ?1 AND purpose = 'api' AND expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now') ORDER BY id",
            )?
            .query_map([user_id], row)?
            .collect::<rusqlite::Result<_>>()?)
        })
        .await?;
    Ok(web::Json(TokenList { data }))
}

pub(crate) async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Body<TokenBody>,
) -> Result<HttpResponse, AppError> {
    let (user_id, holder) = session_user(&caller)?;
    let b = body.into_inner();
    let mut e = FieldErrors::default();
    let name = match b.name {
        Some(n) => e.take("name", validate::text(&n, 1, 100)),
        None => {
            e.add("name", "is required");
            None
        }
    };
    let mut abilities: Vec<String> = Vec::new();
    match b.abilities {
        None => e.add("abilities", "is required"),
        Some(list) if list.is_empty() => e.add("abilities", "must name at least one ability"),
        Some(list) => {
            for a in list {
                let known = a
                    .split_once(':')
                    .filter(|(_, kind)| matches!(*kind, "read" | "write"))
                    .and_then(|(area, _)| AREAS.iter().find(|(name, _, _)| *name == area));
                match known {
                    Some((_, _, h)) if *h == holder => {
                        if !abilities.contains(&a) {
                            abilities.push(a);
                        }
                    }
                    Some(_) => e.add("abilities", format!("{a} is not for your account")),
                    None => e.add(
                        "abilities",
                        format!("{a} is not an ability; they are catalog, orders, content, settings or registry, each :read or :write"),
                    ),
                }
            }
        }
    }
    let expires = match b.expires_at {
        None => Ok("+90 days".to_string()),
        Some(t) => validate::timestamp(&t).map(|t| t.to_string()),
    };
    let expires = e.take("expires_at", expires);
    e.into_result()?;
    let (name, expires) = (name.unwrap_or_default(), expires.unwrap_or_default());
    let json = serde_json::Value::from(abilities.clone()).to_string();
    let secret = tokens::generate();
    let digest = tokens::digest(&secret);
    let token = state
        .main
        .write(move |tx| {
            // A relative default, or an absolute time that must lie ahead and within two years.
            let at: String = if expires.starts_with('+') {
                tx.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)", [&expires], |r| r.get(0))?
            } else {
                let ok: bool = tx.query_row(
                    "SELECT ?1 > strftime('%Y-%m-%dT%H:%M:%SZ', 'now') AND ?1 <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+2 years')",
                    [&expires],
                    |r| r.get(0),
                )?;
                if !ok {
                    return Err(AppError::invalid_field("expires_at", "must be in the future and within two years"));
                }
                expires
            };
            let id: i64 = tx.query_row(
                "INSERT INTO personal_access_tokens (user_id, name, token_hash, abilities, expires_at, purpose)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'api') RETURNING id",
                rusqlite::params![user_id, name, digest, json, at],
                |r| r.get(0),
            )?;
            Ok(tx.query_row(
                "SELECT id, name, abilities, expires_at, created_at FROM personal_access_tokens WHERE id = ?1",
                [id],
                row,
            )?)
        })
        .await?;
    tracing::info!(user_id, token_id = token.id, abilities = ?token.abilities, "API token created");
    Ok(HttpResponse::Created().json(CreatedToken { api_token: token, token: secret }))
}

pub(crate) async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (user_id, _) = session_user(&caller)?;
    let id = id.into_inner();
    let gone = state
        .main
        .write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM personal_access_tokens WHERE id = ?1 AND user_id = ?2 AND purpose = 'api'",
                [id, user_id],
            )?)
        })
        .await?;
    if gone == 0 {
        return Err(AppError::not_found("not_found", "no such API token of yours"));
    }
    Ok(HttpResponse::NoContent().finish())
}
