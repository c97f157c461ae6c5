//! `GET/PATCH /api/super-admin/clients/{id}/quotas`.

use actix_web::web;
use serde::{Deserialize, Serialize};

use super::{Quotas, Usage};
use crate::auth::caller::SuperAdmin;
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;
use crate::tenancy::registry::{self, Client};
use crate::validate;

pub fn routes(api: &mut Api) {
    api.get(
        "/api/super-admin/clients/{id}/quotas",
        Spec::new("A shop's quotas and what it uses", Access::SuperAdmin, Answer::Json(200, schema::<QuotaView>)),
        show,
    )
    .patch(
        "/api/super-admin/clients/{id}/quotas",
        Spec::new(
            "Change a shop's quotas (null: the server's default)",
            Access::SuperAdmin,
            Answer::Json(200, schema::<QuotaView>),
        )
        .body_as(schema::<QuotaBody>, "QuotaUpdate", &[]),
        update,
    );
}

#[derive(Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"max_storage_mb": 512, "max_products": 5000, "requests_per_second": 50,
    "usage": {"storage_bytes": 1048576, "products": 120, "orders": 3400, "requests_24h": 51234}}))]
pub(crate) struct QuotaView {
    #[serde(flatten)]
    quotas: Quotas,
    usage: Usage,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"max_products": 5000, "requests_per_second": 50}))]
pub(crate) struct QuotaBody {
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>", range(min = 1, max = 1048576))]
    max_storage_mb: Option<Option<i64>>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>", range(min = 0, max = 10000000))]
    max_products: Option<Option<i64>>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>", range(min = 1, max = 1000000))]
    requests_per_second: Option<Option<i64>>,
}

/// What a shop uses now: its file's size, its products and orders (read from its file), its
/// requests of the last 24 hours.
pub async fn usage(state: &web::Data<AppState>, client: &Client) -> Result<Usage, AppError> {
    let path = state.tenancy.regions.path_of(client.id);
    let storage_bytes = super::storage_bytes(&path);
    let counted = if !path.exists() {
        Err(AppError::unavailable("client_unavailable", "no shop file"))
    } else {
        match state.tenancy.pools.checkout(client.id) {
            Ok(db) => {
                db.run(|c| {
                    Ok(c.query_row("SELECT (SELECT COUNT(*) FROM products), (SELECT COUNT(*) FROM orders)", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?)
                })
                .await
            }
            Err(e) => Err(e),
        }
    };
    let (products, orders) = match counted {
        Ok((p, o)) => (Some(p), Some(o)),
        Err(err) => {
            // A shop whose file cannot be read now still has its registry row shown.
            tracing::debug!(client_id = client.id, error = %err, "usage without the shop's counts");
            (None, None)
        }
    };
    Ok(Usage { storage_bytes, products, orders, requests_24h: state.metrics.requests_24h(client.id) })
}

async fn show(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<web::Json<QuotaView>, AppError> {
    let client = crate::super_admin::routes::find_client(&state, &path).await?;
    Ok(web::Json(QuotaView { quotas: client.quotas, usage: usage(&state, &client).await? }))
}

pub(crate) async fn update(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
    body: Body<QuotaBody>,
) -> Result<web::Json<QuotaView>, AppError> {
    let id = crate::super_admin::routes::client_id(&path)?;
    let b = body.into_inner();
    let mut e = FieldErrors::default();
    for (field, value, min, max) in [
        ("max_storage_mb", b.max_storage_mb, 1, 1_048_576),
        ("max_products", b.max_products, 0, 10_000_000),
        ("requests_per_second", b.requests_per_second, 1, 1_000_000),
    ] {
        if let Some(Some(v)) = value
            && !(min..=max).contains(&v)
        {
            e.add(field, format!("must be {min} to {max}, or null for the server's default"));
        }
    }
    e.into_result()?;
    let client = state
        .main
        .write(move |tx| {
            let old =
                registry::find(tx, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
            let q = Quotas {
                max_storage_mb: b.max_storage_mb.unwrap_or(old.quotas.max_storage_mb),
                max_products: b.max_products.unwrap_or(old.quotas.max_products),
                requests_per_second: b.requests_per_second.unwrap_or(old.quotas.requests_per_second),
            };
            tx.execute(
                "UPDATE clients SET max_storage_mb = ?2, max_products = ?3, requests_per_second = ?4,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
                rusqlite::params![id, q.max_storage_mb, q.max_products, q.requests_per_second],
            )?;
            Ok(registry::find(tx, id)?.expect("just updated"))
        })
        .await?;
    state.tenancy.directory.invalidate(id);
    state.tenancy.pools.set_storage_quota(id, client.quotas.max_storage_mb.map(|mb| mb as u64 * 1024 * 1024));
    tracing::info!(client_id = id, quotas = ?client.quotas, "shop quotas changed");
    Ok(web::Json(QuotaView { quotas: client.quotas, usage: usage(&state, &client).await? }))
}
