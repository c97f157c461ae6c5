//! Integration tests: the real server on port 0 over a fresh temporary data folder.

mod auth;
mod cli;
mod clients;
mod helpers;
mod isolation;
mod reconcile;
mod resolution;
mod shop_journeys;
mod validation;
