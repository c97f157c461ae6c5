//! `/api/admin/coupons`: the shop admin's coupon editing.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::store::{self, Coupon, CouponFields};
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, PAGE, Spec, schema};
use crate::pagination::{Page, PageQuery, Paginated};
use crate::tenancy::resolve::ShopAdmin;
use crate::validate;

pub fn routes(api: &mut Api) {
    use Access::ShopAdmin as Admin;
    api.get(
        "/api/admin/coupons",
        Spec::new("List coupons", Admin, Answer::Json(200, schema::<Paginated<Coupon>>)).query(PAGE),
        list,
    )
    .post(
        "/api/admin/coupons",
        Spec::new("Create a coupon", Admin, Answer::Json(201, schema::<Coupon>)).body_as(
            schema::<CouponBody>,
            "CouponCreate",
            &["code", "kind", "value"],
        ),
        create,
    )
    .get("/api/admin/coupons/{id}", Spec::new("One coupon", Admin, Answer::Json(200, schema::<Coupon>)), show)
    .patch(
        "/api/admin/coupons/{id}",
        Spec::new("Change a coupon", Admin, Answer::Json(200, schema::<Coupon>)).body_as(
            schema::<CouponBody>,
            "CouponUpdate",
            &[],
        ),
        update,
    )
    .delete("/api/admin/coupons/{id}", Spec::new("Delete a coupon", Admin, Answer::NoContent), remove);
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"code": "TEA10", "kind": "percent", "value": 10, "min_subtotal_cents": 1000}))]
pub(crate) struct CouponBody {
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{3,40}$"))]
    code: Option<String>,
    #[schemars(with = "Option<super::store::CouponKind>")]
    kind: Option<String>,
    /// 1–100 for a percent coupon, cents for a fixed one.
    #[schemars(range(min = 1, max = 1_000_000_000))]
    value: Option<i64>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>")]
    min_subtotal_cents: Option<Option<i64>>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>")]
    max_uses: Option<Option<i64>>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>")]
    expires_at: Option<Option<String>>,
    active: Option<bool>,
}

impl CouponBody {
    fn parse(self, creating: bool) -> Result<CouponFields, AppError> {
        let mut errors = FieldErrors::default();
        if creating {
            for (field, missing) in
                [("code", self.code.is_none()), ("kind", self.kind.is_none()), ("value", self.value.is_none())]
            {
                if missing {
                    errors.add(field, "is required");
                }
            }
        }
        let kind = match self.kind.as_deref() {
            None => None,
            Some(k @ ("percent" | "fixed")) => Some(k.to_string()),
            Some(_) => {
                errors.add("kind", "must be percent or fixed");
                None
            }
        };
        let value = match (self.value, kind.as_deref()) {
            (None, _) => None,
            (Some(v), Some("percent")) if !(1..=100).contains(&v) => {
                errors.add("value", "a percent coupon takes 1 to 100");
                None
            }
            (Some(v), _) if !(1..=validate::MAX_PRICE_CENTS).contains(&v) => {
                errors.add("value", format!("must be between 1 and {}", validate::MAX_PRICE_CENTS));
                None
            }
            (Some(v), _) => Some(v),
        };
        let fields = CouponFields {
            code: self.code.as_deref().and_then(|c| errors.take("code", validate::coupon_code(c))),
            min_subtotal_cents: match self.min_subtotal_cents {
                Some(Some(v)) => errors.take("min_subtotal_cents", validate::price_cents(v)).map(Some),
                other => other,
            },
            max_uses: match self.max_uses {
                Some(Some(v)) if !(1..=1_000_000_000).contains(&v) => {
                    errors.add("max_uses", "must be at least 1");
                    None
                }
                other => other,
            },
            expires_at: match self.expires_at {
                Some(Some(t)) => {
                    let parsed = validate::timestamp(&t).and_then(|t| {
                        // A new coupon that has already expired is a mistake; ending one early is not.
                        if creating && t <= validate::now_timestamp() {
                            Err("must be in the future".to_string())
                        } else {
                            Ok(t)
                        }
                    });
                    errors.take("expires_at", parsed).map(Some)
                }
                other => other,
            },
            active: self.active,
            kind,
            value,
        };
        errors.into_result()?;
        Ok(fields)
    }
}

pub(crate) async fn list(admin: ShopAdmin, q: web::Query<PageQuery>) -> Result<web::Json<Paginated<Coupon>>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Coupons)?;
    let page = Page::from_query(&q)?;
    let (rows, total) = admin.0.db.run(move |c| Ok(store::list(c, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

pub(crate) async fn create(admin: ShopAdmin, body: Body<CouponBody>) -> Result<HttpResponse, AppError> {
    admin.0.client.features.require(crate::features::Feature::Coupons)?;
    let f = body.into_inner().parse(true)?;
    let created = admin.0.db.write(move |tx| store::insert(tx, &f)).await?;
    Ok(HttpResponse::Created().json(created))
}

async fn show(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<Coupon>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Coupons)?;
    let id = id.into_inner();
    admin
        .0
        .db
        .run(move |c| store::find(c, id)?.ok_or_else(|| AppError::not_found("not_found", "no such coupon")))
        .await
        .map(web::Json)
}

async fn update(admin: ShopAdmin, id: web::Path<i64>, body: Body<CouponBody>) -> Result<web::Json<Coupon>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Coupons)?;
    let (id, f) = (id.into_inner(), body.into_inner().parse(false)?);
    admin.0.db.write(move |tx| store::update(tx, id, &f)).await.map(web::Json)
}

pub(crate) async fn remove(admin: ShopAdmin, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    admin.0.client.features.require(crate::features::Feature::Coupons)?;
    let id = id.into_inner();
    admin.0.db.write(move |tx| store::delete(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
