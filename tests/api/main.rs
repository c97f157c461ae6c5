//! Integration tests: the real server on port 0 over a fresh temporary data folder.

mod auth;
mod backups;
mod budget;
mod catalog;
mod cli;
mod cli_binary;
mod clients;
mod concurrency;
mod crash;
mod crash_backups;
mod cross_shop;
mod deploy;
mod docs;
mod doctor;
mod faults;
mod fleet;
mod hardening;
mod helpers;
mod isolation;
mod litestream;
mod mail;
mod observability;
mod reconcile;
mod resolution;
mod shop_journeys;
mod validation;
