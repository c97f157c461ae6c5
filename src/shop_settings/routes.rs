//! `GET/PATCH /api/admin/settings`.

use actix_web::web;
use serde::Deserialize;

use super::{ShopSettings, store};
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::tenancy::resolve::ShopAdmin;
use crate::validate;

pub fn routes(api: &mut Api) {
    api.get(
        "/api/admin/settings",
        Spec::new("The shop's settings", Access::ShopAdmin, Answer::Json(200, schema::<ShopSettings>)),
        show,
    )
    .patch(
        "/api/admin/settings",
        Spec::new("Change the shop's settings", Access::ShopAdmin, Answer::Json(200, schema::<ShopSettings>)).body_as(
            schema::<SettingsBody>,
            "ShopSettingsUpdate",
            &[],
        ),
        update,
    );
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"currency": "EUR", "tax_rate_bp": 1900, "shipping_flat_cents": 495, "free_shipping_over_cents": 5000}))]
pub(crate) struct SettingsBody {
    /// ISO 4217, three letters.
    #[schemars(regex(pattern = r"^[A-Za-z]{3}$"))]
    currency: Option<String>,
    #[schemars(range(min = 0, max = 10000))]
    tax_rate_bp: Option<i64>,
    #[schemars(range(min = 0, max = 100000000))]
    shipping_flat_cents: Option<i64>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>", range(min = 0, max = 10000000000_i64))]
    free_shipping_over_cents: Option<Option<i64>>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>", range(min = 1, max = 720))]
    auto_cancel_unpaid_hours: Option<Option<i64>>,
    #[schemars(range(min = 0, max = 1000000))]
    low_stock_threshold: Option<i64>,
    /// A BCP 47 tag such as `en` or `de-DE`.
    #[schemars(regex(pattern = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"), length(max = 35))]
    locale: Option<String>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(min = 1, max = 100))]
    mail_sender_name: Option<Option<String>>,
    /// Prices and shipping are entered with tax included.
    prices_include_tax: Option<bool>,
}

fn within(errors: &mut FieldErrors, field: &str, v: Option<i64>, min: i64, max: i64) -> Option<i64> {
    match v {
        Some(v) if !(min..=max).contains(&v) => {
            errors.add(field, format!("must be {min} to {max}"));
            None
        }
        other => other,
    }
}

impl SettingsBody {
    fn check(self) -> Result<store::Change, AppError> {
        let mut e = FieldErrors::default();
        let currency = self.currency.and_then(|c| {
            let c = c.trim().to_ascii_uppercase();
            if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                Some(c)
            } else {
                e.add("currency", "must be a three-letter ISO 4217 code, e.g. EUR");
                None
            }
        });
        let locale = self.locale.and_then(|l| {
            let l = l.trim().to_string();
            let mut parts = l.split('-');
            let first = parts.next().unwrap_or_default();
            let ok = l.len() <= 35
                && (2..=3).contains(&first.len())
                && first.bytes().all(|b| b.is_ascii_alphabetic())
                && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
            if ok {
                Some(l)
            } else {
                e.add("locale", "must be a language tag such as en or de-DE");
                None
            }
        });
        let mail_sender_name = match self.mail_sender_name {
            Some(Some(n)) => match validate::text(&n, 1, 100) {
                Ok(n) if !n.contains(['\n', '\r']) => Some(Some(n)),
                Ok(_) => {
                    e.add("mail_sender_name", "must be one line");
                    None
                }
                Err(why) => {
                    e.add("mail_sender_name", why);
                    None
                }
            },
            other => other,
        };
        let change = store::Change {
            currency,
            tax_rate_bp: within(&mut e, "tax_rate_bp", self.tax_rate_bp, 0, 10_000),
            shipping_flat_cents: within(&mut e, "shipping_flat_cents", self.shipping_flat_cents, 0, 100_000_000),
            free_shipping_over_cents: self
                .free_shipping_over_cents
                .map(|v| within(&mut e, "free_shipping_over_cents", v, 0, 10_000_000_000)),
            auto_cancel_unpaid_hours: self
                .auto_cancel_unpaid_hours
                .map(|v| within(&mut e, "auto_cancel_unpaid_hours", v, 1, super::MAX_AUTO_CANCEL_HOURS)),
            low_stock_threshold: within(&mut e, "low_stock_threshold", self.low_stock_threshold, 0, 1_000_000),
            locale,
            mail_sender_name,
            prices_include_tax: self.prices_include_tax,
        };
        e.into_result()?;
        Ok(change)
    }
}

pub(crate) async fn show(admin: ShopAdmin) -> Result<web::Json<ShopSettings>, AppError> {
    admin.0.db.run(|c| Ok(store::get(c)?)).await.map(web::Json)
}

pub(crate) async fn update(admin: ShopAdmin, body: Body<SettingsBody>) -> Result<web::Json<ShopSettings>, AppError> {
    let change = body.into_inner().check()?;
    let settings = admin.0.db.write(move |tx| store::update(tx, &change)).await?;
    tracing::info!(currency = %settings.currency, tax_rate_bp = settings.tax_rate_bp, "shop settings changed");
    Ok(web::Json(settings))
}
