//! A shop's customers: storefront sign-up and sign-in, and the admin's customer list.

pub mod routes;
pub mod store;
