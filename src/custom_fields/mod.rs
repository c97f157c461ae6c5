//! Custom fields: the shop admin defines extra fields on products, customers and orders; their
//! values travel in a `custom` object on that entity, are validated by type, stored in the shop
//! file (the entity row's `custom` JSON column) and filterable on product lists
//! (`?custom.color=red`). Removing a field removes its values.

pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};

/// At most this many fields per entity and shop.
pub const MAX_FIELDS_PER_ENTITY: i64 = 50;
/// Longest text value, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Most options a select field may have.
pub const MAX_OPTIONS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    Product,
    Customer,
    Order,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Customer => "customer",
            Self::Order => "order",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Product, Self::Customer, Self::Order].into_iter().find(|e| e.as_str() == s)
    }
    /// The shop-file table whose `custom` column holds the values.
    pub fn table(self) -> &'static str {
        match self {
            Self::Product => "products",
            Self::Customer => "customers",
            Self::Order => "orders",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// A string of at most 2,000 characters.
    Text,
    /// A JSON number.
    Number,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// One of `options`.
    Select,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Select => "select",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Text, Self::Number, Self::Boolean, Self::Date, Self::Select].into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 1, "entity": "product", "key": "color", "label": "Colour", "type": "select",
    "options": ["red", "green"], "required": false, "position": 0,
    "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z"}))]
pub struct CustomField {
    pub id: i64,
    pub entity: Entity,
    /// `[a-z][a-z0-9_]{0,39}`: the name in the entity's `custom` object.
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// The allowed values of a `select` field; null for the other types.
    pub options: Option<Vec<String>>,
    /// Required fields must be given when the record is created and cannot be set to null.
    pub required: bool,
    /// Display order among the entity's fields.
    pub position: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A field key: `[a-z][a-z0-9_]{0,39}`.
pub fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    (1..=40).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// The `custom.<key>=<value>` pairs of a raw query string (percent-decoded).
pub fn query_filters(query: &str) -> Vec<(String, String)> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(query)
        .map(actix_web::web::Query::into_inner)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("custom.").map(|k| (k.to_string(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_query_filters() {
        for good in ["a", "color", "size_2", &format!("a{}", "b".repeat(39))] {
            assert!(valid_key(good), "{good}");
        }
        for bad in ["", "1a", "_a", "Color", "a-b", "a.b", "a b", "ä", &format!("a{}", "b".repeat(40))] {
            assert!(!valid_key(bad), "{bad}");
        }
        assert_eq!(
            query_filters("q=tea&custom.color=dark%20red&page=2&custom.size=L&customx=1"),
            vec![("color".into(), "dark red".into()), ("size".into(), "L".into())]
        );
    }
}
