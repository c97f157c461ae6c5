//! Catalogue CSV: one row per variant, export ([`export`]) and import as a job with a report
//! ([`import`]), for the shop admin API and the CLI.

pub mod export;
pub mod import;
pub mod routes;

/// The columns, in the order an export writes them. An import needs `handle` and reads the others
/// it finds (in any order; unknown columns are refused so a typo is not silently ignored).
pub const COLUMNS: &[&str] = &[
    "handle",
    "name",
    "description",
    "category",
    "active",
    "weight_grams",
    "meta_title",
    "meta_description",
    "option1_name",
    "option1_value",
    "option2_name",
    "option2_value",
    "option3_name",
    "option3_value",
    "sku",
    "price_cents",
    "compare_at_price_cents",
    "stock",
    "variant_active",
    "variant_weight_grams",
    "images",
];

/// Categories are written as their path of names, parent first.
pub const PATH_SEPARATOR: &str = " > ";

/// Largest CSV file accepted by the API.
pub const MAX_CSV_BYTES: usize = 64 * 1024 * 1024;
