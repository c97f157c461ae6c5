//! Shop coupons: percent or fixed discounts with a minimum subtotal, a usage limit and an expiry.

pub mod routes;
pub mod store;
