//! Shipping methods and tax by country: what an order costs beyond its lines, by where it goes.
//!
//! A shop without shipping methods charges its settings' flat shipping (free from its line); with
//! methods, checkout offers those that ship to the address's country (and, for weight bands, carry
//! the cart's weight) and the buyer picks one. Tax comes from `tax_rates` for the destination
//! country (or `*`), else the settings' `tax_rate_bp`; prices are net (tax added) or gross (tax
//! included) by the `prices_include_tax` setting.

pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `price_cents` always.
    Flat,
    /// `price_cents` unless the discounted subtotal reaches `free_over_cents`.
    FreeOver,
    /// The price of the first band whose `up_to_grams` holds the cart's weight.
    Weight,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flat => "flat",
            Self::FreeOver => "free_over",
            Self::Weight => "weight",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Flat, Self::FreeOver, Self::Weight].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Band {
    /// The heaviest cart (grams) this band's price covers.
    pub up_to_grams: i64,
    pub price_cents: i64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 1, "name": "Parcel EU", "kind": "weight", "price_cents": 0,
    "free_over_cents": null, "bands": [{"up_to_grams": 1000, "price_cents": 495}, {"up_to_grams": 5000, "price_cents": 895}],
    "countries": ["DE", "AT", "FR"], "active": true, "position": 0,
    "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z"}))]
pub struct ShippingMethod {
    pub id: i64,
    pub name: String,
    pub kind: Kind,
    pub price_cents: i64,
    pub free_over_cents: Option<i64>,
    /// Weight bands, ascending (`weight` methods only).
    pub bands: Option<Vec<Band>>,
    /// ISO 3166-1 alpha-2 codes this method ships to; null ships everywhere.
    pub countries: Option<Vec<String>>,
    pub active: bool,
    pub position: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl ShippingMethod {
    /// What this method charges for goods worth `goods_cents` (after discount) weighing
    /// `weight_grams` going to `country`; `None` when it does not ship there or cannot carry it.
    pub fn price(&self, country: &str, goods_cents: i64, weight_grams: i64) -> Option<i64> {
        if !self.active || self.countries.as_ref().is_some_and(|c| !c.iter().any(|x| x == country)) {
            return None;
        }
        match self.kind {
            Kind::Flat => Some(self.price_cents),
            Kind::FreeOver => {
                Some(if self.free_over_cents.is_some_and(|line| goods_cents >= line) { 0 } else { self.price_cents })
            }
            Kind::Weight => self.bands.as_ref()?.iter().find(|b| weight_grams <= b.up_to_grams).map(|b| b.price_cents),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(kind: Kind) -> ShippingMethod {
        ShippingMethod {
            id: 1,
            name: "m".into(),
            kind,
            price_cents: 500,
            free_over_cents: Some(5000),
            bands: Some(vec![
                Band { up_to_grams: 1000, price_cents: 495 },
                Band { up_to_grams: 5000, price_cents: 895 },
            ]),
            countries: Some(vec!["DE".into(), "AT".into()]),
            active: true,
            position: 0,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn methods_price_by_kind_country_and_weight() {
        assert_eq!(method(Kind::Flat).price("DE", 10_000, 0), Some(500));
        assert_eq!(method(Kind::Flat).price("US", 10_000, 0), None, "not shipped there");
        assert_eq!(method(Kind::FreeOver).price("AT", 4999, 0), Some(500));
        assert_eq!(method(Kind::FreeOver).price("AT", 5000, 0), Some(0));
        assert_eq!(method(Kind::Weight).price("DE", 0, 1000), Some(495));
        assert_eq!(method(Kind::Weight).price("DE", 0, 1001), Some(895));
        assert_eq!(method(Kind::Weight).price("DE", 0, 5001), None, "too heavy");
        let everywhere = ShippingMethod { countries: None, ..method(Kind::Flat) };
        assert_eq!(everywhere.price("US", 0, 0), Some(500));
        let off = ShippingMethod { active: false, ..method(Kind::Flat) };
        assert_eq!(off.price("DE", 0, 0), None);
    }
}
