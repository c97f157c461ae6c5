//! Categories and products: the admin's catalog editing and the storefront's browsing and search.

pub mod routes;
pub mod store;
pub mod variants;
