//! `vergeflow doctor`.
