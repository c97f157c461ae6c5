//! A signed-in customer's cart: items with the product's current price.

pub mod routes;
pub mod store;
