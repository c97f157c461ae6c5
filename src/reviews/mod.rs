//! Product reviews: one per customer and product; hidden ones do not count toward the rating.

pub mod routes;
pub mod store;
