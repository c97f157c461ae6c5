//! `GET /api/super-admin/regions` and `POST /api/super-admin/clients/{id}/move`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::auth::caller::SuperAdmin;
use crate::body::Body;
use crate::error::AppError;
use crate::jobs::Task;
use crate::jobs::routes::{Accepted, accept};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;
use crate::super_admin::routes::client_id;
use crate::tenancy::lifecycle::{self, unknown_region};

pub fn routes(api: &mut Api) {
    api.get(
        "/api/super-admin/regions",
        Spec::new(
            "The configured regions and how many shops each holds",
            Access::SuperAdmin,
            Answer::Json(200, schema::<RegionList>),
        ),
        list,
    )
    .post(
        "/api/super-admin/clients/{id}/move",
        Spec::new(
            "Move a shop's file to another region (a job)",
            Access::SuperAdmin,
            Answer::Json(202, schema::<Accepted>),
        )
        .body_as(schema::<MoveBody>, "ClientMove", &["region"]),
        move_client,
    );
}

#[derive(Serialize, schemars::JsonSchema)]
struct Region {
    /// Null for the data folder (shops without a region).
    name: Option<String>,
    folder: String,
    shops: i64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct RegionList {
    data: Vec<Region>,
}

async fn list(state: web::Data<AppState>, _: SuperAdmin) -> Result<web::Json<RegionList>, AppError> {
    let counts: Vec<(Option<String>, i64)> = state
        .main
        .run(|c| {
            let mut stmt = c.prepare("SELECT region, COUNT(*) FROM clients GROUP BY region")?;
            Ok(stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?)
        })
        .await?;
    let data = state
        .tenancy
        .regions
        .all_dirs()
        .into_iter()
        .map(|(name, dir)| Region {
            name: name.map(str::to_string),
            folder: dir.display().to_string(),
            shops: counts.iter().find(|(n, _)| n.as_deref() == name).map_or(0, |(_, c)| *c),
        })
        .collect();
    Ok(web::Json(RegionList { data }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"region": "eu"}))]
pub(crate) struct MoveBody {
    /// A configured region, or null for the data folder.
    #[serde(default, deserialize_with = "crate::validate::explicit_null")]
    #[schemars(with = "Option<String>", length(min = 1, max = 32))]
    region: Option<Option<String>>,
}

pub(crate) async fn move_client(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
    body: Body<MoveBody>,
) -> Result<HttpResponse, AppError> {
    let id = client_id(&path)?;
    let Some(region) = body.into_inner().region else {
        return Err(AppError::invalid_field("region", "is required (null for the data folder)"));
    };
    if state.tenancy.regions.dir(region.as_deref()).is_none() {
        return Err(unknown_region(&state.tenancy.regions));
    }
    state.main.run(move |c| lifecycle::require_served(c, id).map(|_| ())).await?;
    accept(&state, Task::MoveClient { client_id: id, region }).await
}
