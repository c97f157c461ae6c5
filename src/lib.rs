//! VergeFlow: a multi-tenant e-commerce backend with one SQLite file per shop.

pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod jobs;
pub mod pagination;
pub mod proxy;
pub mod startup;
pub mod state;
pub mod storefront;
pub mod super_admin;
pub mod sys;
pub mod telemetry;
pub mod tenancy;
