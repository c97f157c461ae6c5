//! The storefront: what a shop shows its visitors and customers.

pub mod routes;
