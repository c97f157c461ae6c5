//! The job queue on main.db and the server's background worker. The CLI hands work that touches
//! shop files to a running server through it.

pub mod queue;
pub mod worker;

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::state::AppState;
use crate::tenancy::lifecycle::{self, NewClient};

/// Work the queue can carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    CreateClient(NewClient),
    DeleteClient {
        client_id: i64,
    },
    /// Pending client migrations on every active or suspended shop, or only one.
    MigrateClients {
        client_id: Option<i64>,
    },
}

impl Task {
    pub fn kind(&self) -> &'static str {
        match self {
            Task::CreateClient(_) => "create_client",
            Task::DeleteClient { .. } => "delete_client",
            Task::MigrateClients { .. } => "migrate_clients",
        }
    }

    /// Does the work; the same code serves the worker and a CLI that owns the data folder.
    pub fn execute(&self, state: &AppState) -> Result<serde_json::Value, AppError> {
        let mut main = state.main.get()?;
        match self {
            Task::CreateClient(new) => {
                let client = lifecycle::provision_client(&state.tenancy, &mut main, new)?;
                Ok(serde_json::to_value(client).map_err(anyhow::Error::from)?)
            }
            Task::DeleteClient { client_id } => {
                lifecycle::delete_client(&state.tenancy, &mut main, *client_id)?;
                Ok(serde_json::json!({ "deleted": client_id }))
            }
            Task::MigrateClients { client_id } => {
                let report = lifecycle::migrate_clients(&state.tenancy, &main, *client_id, |_, _, _| {})?;
                Ok(serde_json::to_value(report).map_err(anyhow::Error::from)?)
            }
        }
    }
}
