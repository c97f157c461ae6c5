//! The super admin's API over the clients registry.

pub mod routes;
