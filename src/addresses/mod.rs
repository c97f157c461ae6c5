//! A customer's saved shipping addresses.

pub mod routes;
pub mod store;
