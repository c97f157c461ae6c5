//! `/api/super-admin/migrations`: the ledger's summary, and fleet runs as jobs.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::ledger;
use crate::auth::caller::SuperAdmin;
use crate::db::migrations;
use crate::error::AppError;
use crate::jobs::routes::{Accepted, accept};
use crate::jobs::{Task, queue};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;

/// Failures listed by the summary at most (the count is always whole).
const FAILURES_SHOWN: i64 = 1000;

pub fn routes(api: &mut Api) {
    api.get(
        "/api/super-admin/migrations",
        Spec::new(
            "The migration ledger: shops by schema version, failures, the running fleet run",
            Access::SuperAdmin,
            Answer::Json(200, schema::<Summary>),
        ),
        summary,
    )
    .post(
        "/api/super-admin/migrations",
        Spec::new(
            "Migrate every shop behind this server's schema version (a job with progress); canary=ID first, stopping if it fails",
            Access::SuperAdmin,
            Answer::Json(202, schema::<Accepted>),
        )
        .query(&[("canary", "integer")]),
        start,
    );
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct Summary {
    /// The schema version this server serves.
    target_version: i64,
    /// Active and suspended shops by the schema version of their file.
    shops_by_version: BTreeMap<String, i64>,
    /// How many shops failed their last migration (each answers 503 until migrated).
    failed_count: usize,
    /// Those shops (the first 1000 by id), with the reason.
    failed: Vec<ledger::Failure>,
    /// The fleet run pending or running, if any.
    running: Option<queue::JobView>,
}

pub(crate) async fn summary(state: web::Data<AppState>, _: SuperAdmin) -> Result<web::Json<Summary>, AppError> {
    let summary = state
        .main
        .run(|c| {
            let failed_count = ledger::count_failed(c)?;
            Ok(Summary {
                target_version: migrations::latest_client_version(),
                shops_by_version: ledger::shops_by_version(c)?,
                failed_count: failed_count as usize,
                failed: ledger::failures(c, FAILURES_SHOWN)?,
                running: queue::open_of_kind(c, "migrate_clients")?,
            })
        })
        .await?;
    Ok(web::Json(summary))
}

#[derive(Deserialize)]
pub(crate) struct StartQuery {
    canary: Option<String>,
}

pub(crate) async fn start(
    state: web::Data<AppState>,
    _: SuperAdmin,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    let canary = match query.canary.as_deref() {
        None => None,
        Some(raw) => Some(
            crate::super_admin::routes::client_id(raw)
                .map_err(|_| AppError::invalid_field("canary", "must be the id of an active or suspended shop"))?,
        ),
    };
    state
        .main
        .run(move |c| {
            if let Some(id) = canary {
                crate::tenancy::lifecycle::require_served(c, id)?;
            }
            match queue::open_of_kind(c, "migrate_clients")? {
                Some(job) => Err(AppError::conflict(
                    "migration_running",
                    format!(
                        "fleet migration job {} is already {}; follow it at /api/super-admin/jobs/{}",
                        job.id, job.status, job.id
                    ),
                )),
                None => Ok(()),
            }
        })
        .await?;
    accept(&state, Task::MigrateClients { client_id: None, canary }).await
}
