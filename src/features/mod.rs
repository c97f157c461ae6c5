//! Feature flags: parts of the shop API a super admin can turn off, globally (the defaults) or per
//! shop (overrides). A disabled feature's endpoints answer 404 `feature_disabled`.
//!
//! The defaults live in main.db's `settings` (key `features`), a shop's overrides in its registry
//! row (`clients.features`), both as `{"name": bool}`. The registry read that resolves a shop
//! merges them into [`Features`] on its [`Client`](crate::tenancy::registry::Client), so a check
//! in a handler is a bit test on the cached row — no query.

pub mod routes;
pub mod store;

use serde::Serialize;

use crate::error::AppError;

/// A feature that can be turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Reviews,
    Coupons,
    RecentlyViewed,
    Webhooks,
}

/// Every flag: (feature, name, what it turns off).
pub const KNOWN: [(Feature, &str, &str); 4] = [
    (Feature::Reviews, "reviews", "product reviews: the storefront's review endpoints and their moderation"),
    (Feature::Coupons, "coupons", "coupon management and coupon codes at checkout"),
    (Feature::RecentlyViewed, "recently_viewed", "the customer's recently viewed products"),
    (Feature::Webhooks, "webhooks", "webhook endpoints and the deliveries of order events"),
];

impl Feature {
    pub fn name(self) -> &'static str {
        KNOWN.iter().find(|(f, _, _)| *f == self).map_or("", |k| k.1)
    }

    fn bit(self) -> u8 {
        1 << KNOWN.iter().position(|(f, _, _)| *f == self).unwrap_or(0)
    }

    pub fn from_name(name: &str) -> Option<Feature> {
        KNOWN.iter().find(|(_, n, _)| *n == name).map(|k| k.0)
    }
}

/// Which features are on for one shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features(u8);

impl Default for Features {
    /// Everything on.
    fn default() -> Self {
        Features(u8::MAX)
    }
}

/// Reads a `{"name": bool}` object; unknown names and non-boolean values are ignored (they were
/// validated when written).
fn apply(mut f: Features, json: Option<&str>) -> Features {
    let Some(map) = json.and_then(|j| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(j).ok())
    else {
        return f;
    };
    for (name, value) in map {
        if let (Some(feature), Some(on)) = (Feature::from_name(&name), value.as_bool()) {
            f.set(feature, on);
        }
    }
    f
}

impl Features {
    /// The global defaults (`settings.features`) with a shop's overrides (`clients.features`) on top.
    pub fn merged(defaults: Option<&str>, overrides: Option<&str>) -> Features {
        apply(apply(Features::default(), defaults), overrides)
    }

    pub fn is_on(self, feature: Feature) -> bool {
        self.0 & feature.bit() != 0
    }

    pub fn set(&mut self, feature: Feature, on: bool) {
        if on {
            self.0 |= feature.bit();
        } else {
            self.0 &= !feature.bit();
        }
    }

    /// 404 `feature_disabled` unless `feature` is on.
    pub fn require(self, feature: Feature) -> Result<(), AppError> {
        if self.is_on(feature) {
            Ok(())
        } else {
            Err(AppError::not_found(
                "feature_disabled",
                format!("the {} feature is turned off for this shop", feature.name()),
            ))
        }
    }

    /// `{"reviews": true, …}` in the order of [`KNOWN`].
    pub fn to_map(self) -> serde_json::Map<String, serde_json::Value> {
        KNOWN.iter().map(|(f, name, _)| (name.to_string(), serde_json::Value::Bool(self.is_on(*f)))).collect()
    }
}

impl Serialize for Features {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}
