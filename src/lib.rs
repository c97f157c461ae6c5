//! VergeFlow: a multi-tenant e-commerce backend with one SQLite file per shop.

pub mod addresses;
pub mod auth;
pub mod bootstrap;
pub mod cart;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod coupons;
pub mod customers;
pub mod db;
pub mod error;
pub mod jobs;
pub mod openapi;
pub mod orders;
pub mod pagination;
pub mod proxy;
pub mod recently_viewed;
pub mod reviews;
pub mod startup;
pub mod state;
pub mod storefront;
pub mod super_admin;
pub mod sys;
pub mod telemetry;
pub mod tenancy;
pub mod validate;
