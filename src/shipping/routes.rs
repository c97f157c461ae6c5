//! `/api/admin/shipping-methods` (+`/{id}`), `/api/admin/tax-rates`, and the storefront's
//! `GET /api/shop/shipping-methods?country=`.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::store::{self, Fields};
use super::{Band, Kind, ShippingMethod};
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::tenancy::resolve::{Shop, ShopAdmin};
use crate::validate;

pub fn routes(api: &mut Api) {
    use Access::ShopAdmin as Admin;
    api.get(
        "/api/admin/shipping-methods",
        Spec::new("The shop's shipping methods", Admin, Answer::Json(200, schema::<ShippingMethodList>)),
        list,
    )
    .post(
        "/api/admin/shipping-methods",
        Spec::new("Add a shipping method", Admin, Answer::Json(201, schema::<ShippingMethod>)).body_as(
            schema::<MethodBody>,
            "ShippingMethodCreate",
            &["name", "kind"],
        ),
        create,
    )
    .get(
        "/api/admin/shipping-methods/{id}",
        Spec::new("One shipping method", Admin, Answer::Json(200, schema::<ShippingMethod>)),
        show,
    )
    .patch(
        "/api/admin/shipping-methods/{id}",
        Spec::new("Change a shipping method", Admin, Answer::Json(200, schema::<ShippingMethod>)).body_as(
            schema::<MethodBody>,
            "ShippingMethodUpdate",
            &[],
        ),
        update,
    )
    .delete("/api/admin/shipping-methods/{id}", Spec::new("Remove a shipping method", Admin, Answer::NoContent), delete)
    .get(
        "/api/admin/tax-rates",
        Spec::new("Tax rates by destination country", Admin, Answer::Json(200, schema::<TaxRates>)),
        tax_rates,
    )
    .put(
        "/api/admin/tax-rates",
        Spec::new("Replace the tax rates by destination country", Admin, Answer::Json(200, schema::<TaxRates>))
            .body_as(schema::<TaxRates>, "TaxRatesUpdate", &["rates"]),
        set_tax_rates,
    )
    .get(
        "/api/shop/shipping-methods",
        Spec::new(
            "The methods that ship to a country, priced for the buyer's cart",
            Access::Shop,
            Answer::Json(200, schema::<ShippingOfferList>),
        )
        .query(&[("country", "string")]),
        offers,
    );
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct ShippingMethodList {
    data: Vec<ShippingMethod>,
}

pub(crate) async fn list(admin: ShopAdmin) -> Result<web::Json<ShippingMethodList>, AppError> {
    let data = admin.0.db.run(|c| Ok(store::list(c)?)).await?;
    Ok(web::Json(ShippingMethodList { data }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Parcel EU", "kind": "weight", "countries": ["DE", "AT"],
    "bands": [{"up_to_grams": 1000, "price_cents": 495}, {"up_to_grams": 5000, "price_cents": 895}]}))]
pub(crate) struct MethodBody {
    #[schemars(length(min = 1, max = 100))]
    name: Option<String>,
    #[schemars(with = "Option<Kind>")]
    kind: Option<String>,
    #[schemars(range(min = 0, max = 100000000))]
    price_cents: Option<i64>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>", range(min = 0, max = 10000000000_i64))]
    free_over_cents: Option<Option<i64>>,
    /// Ascending weight bands (1–20), for `weight` methods.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<Vec<Band>>")]
    bands: Option<Option<Vec<Band>>>,
    /// ISO 3166-1 alpha-2 codes (1–250); null ships everywhere.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<Vec<String>>")]
    countries: Option<Option<Vec<String>>>,
    active: Option<bool>,
    #[schemars(range(min = 0, max = 10000))]
    position: Option<i64>,
}

impl MethodBody {
    fn parse(self, creating: bool) -> Result<Fields, AppError> {
        let mut e = FieldErrors::default();
        if creating {
            for (f, missing) in [("name", self.name.is_none()), ("kind", self.kind.is_none())] {
                if missing {
                    e.add(f, "is required");
                }
            }
        }
        let name = self.name.as_deref().and_then(|n| e.take("name", validate::text(n, 1, 100)));
        let kind = self.kind.as_deref().and_then(|k| {
            e.take("kind", Kind::parse(k).ok_or_else(|| "must be flat, free_over or weight".to_string()))
        });
        let range = |e: &mut FieldErrors, f: &str, v: Option<i64>, max: i64| match v {
            Some(v) if !(0..=max).contains(&v) => {
                e.add(f, format!("must be 0 to {max}"));
                None
            }
            v => v,
        };
        let price_cents = range(&mut e, "price_cents", self.price_cents, 100_000_000);
        let free_over_cents = self.free_over_cents.map(|v| range(&mut e, "free_over_cents", v, 10_000_000_000));
        if let Some(Some(bands)) = &self.bands {
            let ascending = bands.windows(2).all(|w| w[0].up_to_grams < w[1].up_to_grams);
            let sane = bands
                .iter()
                .all(|b| (1..=100_000_000).contains(&b.up_to_grams) && (0..=100_000_000).contains(&b.price_cents));
            if bands.is_empty() || bands.len() > 20 || !ascending || !sane {
                e.add(
                    "bands",
                    "must be 1 to 20 bands, ascending by up_to_grams (1 to 100000000), prices 0 to 100000000",
                );
            }
        }
        let countries = match self.countries {
            Some(Some(list)) => {
                let parsed: Vec<Option<String>> = list.iter().map(|c| validate::country(c).ok()).collect();
                if list.is_empty() || list.len() > 250 || parsed.iter().any(Option::is_none) {
                    e.add("countries", "must list 1 to 250 assigned ISO 3166-1 alpha-2 codes (or be null: everywhere)");
                    None
                } else {
                    let mut codes: Vec<String> = parsed.into_iter().flatten().collect();
                    codes.sort();
                    codes.dedup();
                    Some(Some(codes))
                }
            }
            other => other,
        };
        let position = range(&mut e, "position", self.position, 10_000);
        e.into_result()?;
        Ok(Fields {
            name,
            kind,
            price_cents,
            free_over_cents,
            bands: self.bands,
            countries,
            active: self.active,
            position,
        })
    }
}

pub(crate) async fn create(admin: ShopAdmin, body: Body<MethodBody>) -> Result<HttpResponse, AppError> {
    let f = body.into_inner().parse(true)?;
    let made = admin.0.db.write(move |tx| store::insert(tx, &f)).await?;
    Ok(HttpResponse::Created().json(made))
}

async fn show(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<ShippingMethod>, AppError> {
    let id = id.into_inner();
    admin
        .0
        .db
        .run(move |c| store::find(c, id)?.ok_or_else(|| AppError::not_found("not_found", "no such shipping method")))
        .await
        .map(web::Json)
}

async fn update(
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<MethodBody>,
) -> Result<web::Json<ShippingMethod>, AppError> {
    let (id, f) = (id.into_inner(), body.into_inner().parse(false)?);
    admin.0.db.write(move |tx| store::update(tx, id, &f)).await.map(web::Json)
}

pub(crate) async fn delete(admin: ShopAdmin, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    admin.0.db.write(move |tx| store::delete(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"rates": {"DE": 1900, "AT": 2000, "*": 0}}))]
pub(crate) struct TaxRates {
    /// Basis points by ISO 3166-1 alpha-2 code, `*` for every other country. Countries without a
    /// rate (and no `*`) use the shop setting `tax_rate_bp`.
    rates: BTreeMap<String, i64>,
}

pub(crate) async fn tax_rates(admin: ShopAdmin) -> Result<web::Json<TaxRates>, AppError> {
    let rates = admin.0.db.run(|c| Ok(store::tax_rates(c)?)).await?;
    Ok(web::Json(TaxRates { rates }))
}

pub(crate) async fn set_tax_rates(admin: ShopAdmin, body: Body<TaxRates>) -> Result<web::Json<TaxRates>, AppError> {
    let mut e = FieldErrors::default();
    let mut rates = BTreeMap::new();
    if body.rates.len() > 300 {
        e.add("rates", "at most 300 countries");
    }
    for (country, rate) in &body.rates {
        let field = format!("rates.{country}");
        let code = if country == "*" { Some("*".to_string()) } else { e.take(&field, validate::country(country)) };
        if !(0..=10_000).contains(rate) {
            e.add(&field, "must be 0 to 10000 basis points");
        }
        if let Some(code) = code {
            rates.insert(code, *rate);
        }
    }
    e.into_result()?;
    let saved = admin
        .0
        .db
        .write(move |tx| {
            store::set_tax_rates(tx, &rates)?;
            Ok(store::tax_rates(tx)?)
        })
        .await?;
    Ok(web::Json(TaxRates { rates: saved }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct ShippingOffer {
    id: i64,
    name: String,
    /// What it costs for the buyer's cart now (an empty cart without one).
    price_cents: i64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct ShippingOfferList {
    data: Vec<ShippingOffer>,
}

#[derive(Deserialize)]
struct OfferQuery {
    country: Option<String>,
}

async fn offers(
    shop: Shop,
    req: HttpRequest,
    q: web::Query<OfferQuery>,
) -> Result<web::Json<ShippingOfferList>, AppError> {
    let country = match q.country.as_deref() {
        None => return Err(AppError::invalid_field("country", "is required")),
        Some(c) => validate::country(c).map_err(|e| AppError::invalid_field("country", e))?,
    };
    // The buyer's cart, when the request names one (a customer, or a guest's Cart-Token).
    let owner = match crate::cart::routes::owner(&shop, &req).await {
        Ok(o) => o,
        Err(AppError::Forbidden { .. }) => None,
        Err(e) => return Err(e),
    };
    let data = shop
        .db
        .run(move |c| {
            let (goods, weight) = match owner {
                Some(o) => crate::cart::store::totals(c, o)?,
                None => (0, 0),
            };
            Ok(store::list(c)?
                .into_iter()
                .filter_map(|m| {
                    m.price(&country, goods, weight).map(|p| ShippingOffer { id: m.id, name: m.name, price_cents: p })
                })
                .collect())
        })
        .await?;
    Ok(web::Json(ShippingOfferList { data }))
}
