//! Orders: checkout (one immediate transaction), the customer's order history, and the admin's
//! order list and status changes.

pub mod checkout;
pub mod history;
pub mod routes;
pub mod status;
pub mod store;
