//! `GET/PATCH /api/super-admin/features`, `GET/PATCH /api/super-admin/clients/{id}/features`,
//! `GET /api/shop/features`.

use actix_web::web;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Features, KNOWN, store};
use crate::auth::caller::SuperAdmin;
use crate::body::Body;
use crate::error::AppError;
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;
use crate::tenancy::registry;
use crate::tenancy::resolve::Shop;

pub fn routes(api: &mut Api) {
    api.get(
        "/api/super-admin/features",
        Spec::new("Every feature flag and its global default", Access::SuperAdmin, Answer::Json(200, schema::<Flags>)),
        defaults,
    )
    .patch(
        "/api/super-admin/features",
        Spec::new("Change global defaults", Access::SuperAdmin, Answer::Json(200, schema::<Flags>))
            .body(schema::<FeatureChange>),
        set_defaults,
    )
    .get(
        "/api/super-admin/clients/{id}/features",
        Spec::new(
            "A shop's features (defaults with its overrides)",
            Access::SuperAdmin,
            Answer::Json(200, schema::<FeatureMap>),
        ),
        for_client,
    )
    .patch(
        "/api/super-admin/clients/{id}/features",
        Spec::new(
            "Override features for a shop (null: back to the default)",
            Access::SuperAdmin,
            Answer::Json(200, schema::<FeatureMap>),
        )
        .body(schema::<FeatureChange>),
        set_for_client,
    )
    .get(
        "/api/shop/features",
        Spec::new("Which features this shop has on", Access::Shop, Answer::Json(200, schema::<FeatureMap>)),
        for_shop,
    );
}

/// One flag.
#[derive(Serialize, schemars::JsonSchema)]
struct Flag {
    name: &'static str,
    description: &'static str,
    /// Whether shops without an override have it.
    default: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct Flags {
    data: Vec<Flag>,
}

/// On (true) or off (false) per feature.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"reviews": true, "coupons": false, "recently_viewed": true, "webhooks": true}))]
#[allow(dead_code)] // The document's shape of the `{"name": bool}` answers.
struct FeatureMap {
    reviews: bool,
    coupons: bool,
    recently_viewed: bool,
    webhooks: bool,
}

/// Features to change: true or false (a shop's override may also be null: back to the default).
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"coupons": false}))]
#[allow(dead_code)] // The document's shape of the change bodies.
struct FeatureChange {
    reviews: Option<bool>,
    coupons: Option<bool>,
    recently_viewed: Option<bool>,
    webhooks: Option<bool>,
}

fn flags(defaults: Features) -> Flags {
    Flags {
        data: KNOWN
            .iter()
            .map(|(f, name, description)| Flag { name, description, default: defaults.is_on(*f) })
            .collect(),
    }
}

pub(crate) async fn defaults(state: web::Data<AppState>, _: SuperAdmin) -> Result<web::Json<Flags>, AppError> {
    let d = state.main.run(|c| Ok(store::defaults(c)?)).await?;
    Ok(web::Json(flags(d)))
}

pub(crate) async fn set_defaults(
    state: web::Data<AppState>,
    _: SuperAdmin,
    body: Body<Map<String, Value>>,
) -> Result<web::Json<Flags>, AppError> {
    let changes = store::check_change(&body, false)?;
    let d = state.main.write(move |tx| store::set_defaults(tx, &changes)).await?;
    state.tenancy.directory.invalidate_all();
    tracing::info!(defaults = ?d.to_map(), "feature defaults changed");
    Ok(web::Json(flags(d)))
}

pub(crate) async fn for_client(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<web::Json<Features>, AppError> {
    Ok(web::Json(crate::super_admin::routes::find_client(&state, &path).await?.features))
}

pub(crate) async fn set_for_client(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
    body: Body<Map<String, Value>>,
) -> Result<web::Json<Features>, AppError> {
    let id = crate::super_admin::routes::client_id(&path)?;
    let changes = store::check_change(&body, true)?;
    let client = state
        .main
        .write(move |tx| {
            store::set_overrides(tx, id, &changes)?
                .ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
            Ok(registry::find(tx, id)?)
        })
        .await?
        .ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
    state.tenancy.directory.invalidate(id);
    tracing::info!(client_id = id, features = ?client.features.to_map(), "shop features changed");
    Ok(web::Json(client.features))
}

async fn for_shop(shop: Shop) -> Result<web::Json<Features>, AppError> {
    Ok(web::Json(shop.client.features))
}
