//! `GET/PUT /api/super-admin/schedules`.

use actix_web::web;
use serde::{Deserialize, Serialize};

use super::Schedule;
use crate::auth::caller::SuperAdmin;
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;

pub fn routes(api: &mut Api) {
    api.get(
        "/api/super-admin/schedules",
        Spec::new(
            "Every schedule, global first, with its next run",
            Access::SuperAdmin,
            Answer::Json(200, schema::<Schedules>),
        ),
        list,
    )
    .put(
        "/api/super-admin/schedules",
        Spec::new(
            "Set a schedule (global, or a shop's override with client_id; cron null removes an override)",
            Access::SuperAdmin,
            Answer::Json(200, schema::<Schedules>),
        )
        .body_as(schema::<PutBody>, "ScheduleUpdate", &["name"]),
        put,
    );
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct Schedules {
    data: Vec<Schedule>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "order_auto_cancel", "client_id": 3, "cron": "0 * * * *", "enabled": true, "setting": 120}))]
pub(crate) struct PutBody {
    /// `backups`, `prune` or `order_auto_cancel`.
    name: String,
    /// A shop's id for that shop's override; absent or null for the global schedule.
    client_id: Option<i64>,
    /// Five cron fields, UTC; null (with client_id) removes the shop's override.
    cron: Option<String>,
    enabled: Option<bool>,
    /// `order_auto_cancel` only: minutes an unpaid order may stay pending (5 to 43200).
    #[schemars(range(min = 5, max = 43200))]
    setting: Option<i64>,
}

pub(crate) async fn list(state: web::Data<AppState>, _: SuperAdmin) -> Result<web::Json<Schedules>, AppError> {
    let data = state.main.run(|c| Ok(super::list(c)?)).await?;
    Ok(web::Json(Schedules { data }))
}

pub(crate) async fn put(
    state: web::Data<AppState>,
    _: SuperAdmin,
    body: Body<PutBody>,
) -> Result<web::Json<Schedules>, AppError> {
    let b = body.into_inner();
    let mut errors = FieldErrors::default();
    if !super::NAMES.contains(&b.name.as_str()) {
        errors.add("name", format!("must be one of {}", super::NAMES.join(", ")));
    }
    if b.name == "prune" && b.client_id.is_some() {
        errors.add("client_id", "prune is global; it has no per-shop override");
    }
    match (&b.cron, b.client_id) {
        (Some(c), _) => {
            errors.take("cron", super::parse_cron(c.trim()).map(|_| ()));
        }
        (None, None) => errors.add("cron", "is required for a global schedule"),
        (None, Some(_)) => {}
    }
    match (b.name.as_str(), b.setting) {
        ("order_auto_cancel", Some(m)) if !(5..=43_200).contains(&m) => {
            errors.add("setting", "must be 5 to 43200 minutes")
        }
        ("order_auto_cancel", _) | (_, None) => {}
        (_, Some(_)) => errors.add("setting", "only order_auto_cancel takes a setting"),
    }
    errors.into_result()?;
    let data = state
        .main
        .run(move |c| {
            if let Some(id) = b.client_id
                && crate::tenancy::registry::find(c, id)?.is_none()
            {
                return Err(AppError::not_found("client_not_found", "no such client"));
            }
            match (&b.cron, b.client_id) {
                (None, Some(id)) => {
                    super::remove_override(c, &b.name, id)?;
                }
                (Some(cron), _) => {
                    let setting = b.setting.or_else(|| {
                        // An override without minutes keeps the global ones.
                        (b.name == "order_auto_cancel")
                            .then(|| {
                                c.query_row(
                                    "SELECT setting FROM schedules WHERE name = 'order_auto_cancel' AND client_id IS NULL",
                                    [],
                                    |r| r.get::<_, Option<i64>>(0),
                                )
                                .ok()
                                .flatten()
                            })
                            .flatten()
                    });
                    super::put(c, &b.name, b.client_id, cron.trim(), b.enabled.unwrap_or(true), setting)?;
                }
                (None, None) => unreachable!("validated above"),
            }
            Ok(super::list(c)?)
        })
        .await?;
    tracing::info!("schedules changed");
    Ok(web::Json(Schedules { data }))
}
