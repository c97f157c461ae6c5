//! `GET/POST /api/admin/custom-fields`, `GET/PATCH/DELETE /api/admin/custom-fields/{id}`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::store::{self, FieldChanges, NewField};
use super::{CustomField, Entity, FieldType, MAX_OPTIONS, valid_key};
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::tenancy::resolve::ShopAdmin;
use crate::validate;

pub fn routes(api: &mut Api) {
    use Access::ShopAdmin as Admin;
    api.get(
        "/api/admin/custom-fields",
        Spec::new("The shop's custom fields", Admin, Answer::Json(200, schema::<FieldList>))
            .query(&[("entity", "string")]),
        list,
    )
    .post(
        "/api/admin/custom-fields",
        Spec::new("Define a custom field", Admin, Answer::Json(201, schema::<CustomField>)).body_as(
            schema::<FieldBody>,
            "CustomFieldCreate",
            &["entity", "key", "label", "type"],
        ),
        create,
    )
    .get(
        "/api/admin/custom-fields/{id}",
        Spec::new("One custom field", Admin, Answer::Json(200, schema::<CustomField>)),
        show,
    )
    .patch(
        "/api/admin/custom-fields/{id}",
        Spec::new(
            "Change a custom field's label, options, required or position",
            Admin,
            Answer::Json(200, schema::<CustomField>),
        )
        .body_as(schema::<FieldBody>, "CustomFieldUpdate", &[]),
        update,
    )
    .delete(
        "/api/admin/custom-fields/{id}",
        Spec::new("Remove a custom field and every value of it", Admin, Answer::NoContent),
        delete,
    );
}

/// Every definition (at most 50 per entity, so never paginated).
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct FieldList {
    data: Vec<CustomField>,
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    entity: Option<String>,
}

fn entity(raw: &str) -> Result<Entity, String> {
    Entity::parse(raw).ok_or_else(|| "must be product, customer or order".into())
}

pub(crate) async fn list(admin: ShopAdmin, q: web::Query<ListQuery>) -> Result<web::Json<FieldList>, AppError> {
    let wanted = match q.entity.as_deref() {
        None => None,
        Some(raw) => Some(entity(raw).map_err(|e| AppError::invalid_field("entity", e))?),
    };
    let data = admin.0.db.run(move |c| Ok(store::list(c, wanted)?)).await?;
    Ok(web::Json(FieldList { data }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"entity": "product", "key": "color", "label": "Colour", "type": "select", "options": ["red", "green"]}))]
pub(crate) struct FieldBody {
    /// Create only.
    #[schemars(with = "Option<Entity>")]
    entity: Option<String>,
    /// Create only: `[a-z][a-z0-9_]{0,39}`.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]{0,39}$"))]
    key: Option<String>,
    #[schemars(length(min = 1, max = 200))]
    label: Option<String>,
    /// Create only.
    #[serde(rename = "type")]
    #[schemars(with = "Option<FieldType>")]
    kind: Option<String>,
    /// A select field's values (1–100 distinct, each 1–200 characters); only for `select`.
    options: Option<Vec<String>>,
    required: Option<bool>,
    #[schemars(range(min = 0, max = 10000))]
    position: Option<i64>,
}

fn check_options(errors: &mut FieldErrors, options: Option<Vec<String>>) -> Option<Vec<String>> {
    let options = options?;
    let mut seen = std::collections::HashSet::new();
    let problem = if options.is_empty() || options.len() > MAX_OPTIONS {
        Some(format!("must list 1 to {MAX_OPTIONS} values"))
    } else if options.iter().any(|o| o.trim().is_empty() || o.chars().count() > 200) {
        Some("each value must be 1 to 200 characters".to_string())
    } else if !options.iter().all(|o| seen.insert(o.as_str())) {
        Some("values must be distinct".to_string())
    } else {
        None
    };
    match problem {
        Some(p) => {
            errors.add("options", p);
            None
        }
        None => Some(options),
    }
}

fn check_position(errors: &mut FieldErrors, position: Option<i64>) -> Option<i64> {
    match position {
        Some(p) if !(0..=10_000).contains(&p) => {
            errors.add("position", "must be 0 to 10000");
            None
        }
        p => p,
    }
}

pub(crate) async fn create(admin: ShopAdmin, body: Body<FieldBody>) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let mut errors = FieldErrors::default();
    for (field, missing) in [
        ("entity", b.entity.is_none()),
        ("key", b.key.is_none()),
        ("label", b.label.is_none()),
        ("type", b.kind.is_none()),
    ] {
        if missing {
            errors.add(field, "is required");
        }
    }
    let entity = b.entity.as_deref().and_then(|e| errors.take("entity", entity(e)));
    let key = b.key.filter(|k| {
        let ok = valid_key(k);
        if !ok {
            errors.add("key", "must match [a-z][a-z0-9_]{0,39}");
        }
        ok
    });
    let label = b.label.as_deref().and_then(|l| errors.take("label", validate::name(l)));
    let kind = b.kind.as_deref().and_then(|t| {
        errors.take("type", FieldType::parse(t).ok_or("must be text, number, boolean, date or select".into()))
    });
    let options = check_options(&mut errors, b.options);
    match (kind, &options) {
        (Some(FieldType::Select), None) if !errors.has("options") => {
            errors.add("options", "a select field needs options")
        }
        (Some(k), Some(_)) if k != FieldType::Select => errors.add("options", "only select fields have options"),
        _ => {}
    }
    let position = check_position(&mut errors, b.position);
    errors.into_result()?;
    let (Some(entity), Some(key), Some(label), Some(kind)) = (entity, key, label, kind) else {
        return Err(AppError::Internal(anyhow::anyhow!("validated fields missing")));
    };
    let new = NewField {
        entity,
        key,
        label,
        kind,
        options,
        required: b.required.unwrap_or(false),
        position: position.unwrap_or(0),
    };
    let created = admin.0.db.write(move |tx| store::insert(tx, &new)).await?;
    tracing::info!(field_id = created.id, entity = created.entity.as_str(), key = %created.key, "custom field defined");
    Ok(HttpResponse::Created().json(created))
}

fn not_found() -> AppError {
    AppError::not_found("not_found", "no such custom field")
}

async fn show(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<CustomField>, AppError> {
    let id = id.into_inner();
    admin.0.db.run(move |c| store::find(c, id)?.ok_or_else(not_found)).await.map(web::Json)
}

async fn update(
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<FieldBody>,
) -> Result<web::Json<CustomField>, AppError> {
    let b = body.into_inner();
    let mut errors = FieldErrors::default();
    for (field, given) in [("entity", b.entity.is_some()), ("key", b.key.is_some()), ("type", b.kind.is_some())] {
        if given {
            errors.add(field, "cannot change; remove the field and define it again");
        }
    }
    let changes = FieldChanges {
        label: b.label.as_deref().and_then(|l| errors.take("label", validate::name(l))),
        options: check_options(&mut errors, b.options),
        required: b.required,
        position: check_position(&mut errors, b.position),
    };
    errors.into_result()?;
    let id = id.into_inner();
    admin.0.db.write(move |tx| store::update(tx, id, &changes)).await.map(web::Json)
}

pub(crate) async fn delete(admin: ShopAdmin, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let cleared = admin.0.db.write(move |tx| store::delete(tx, id)).await?;
    tracing::info!(field_id = id, values_removed = cleared, "custom field removed with its values");
    Ok(HttpResponse::NoContent().finish())
}
