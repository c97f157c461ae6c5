//! A short-lived cache of registry rows, so resolving a shop by Host costs no query when hot.
//! Every change made through this process invalidates the entry at once; the TTL only bounds how
//! long a change made by another process (the CLI) can go unseen.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::Connection;

use super::registry::{self, Client};

/// How a request names a shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKey {
    Id(i64),
    Subdomain(String),
    Domain(String),
}

/// Changes made by this process invalidate at once; the CLI's registry changes are new shops (never
/// cached as absent) and schema versions, so a minute of staleness is harmless.
const TTL: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct Entries {
    by_id: HashMap<i64, (Arc<Client>, Instant)>,
    by_subdomain: HashMap<String, i64>,
    by_domain: HashMap<String, i64>,
}

#[derive(Default)]
pub struct ClientDirectory {
    entries: Mutex<Entries>,
}

impl ClientDirectory {
    /// The cached row, if fresh. `None` means "ask the registry", not "no such shop".
    pub fn cached(&self, key: &ClientKey) -> Option<Arc<Client>> {
        let e = self.entries.lock();
        let id = match key {
            ClientKey::Id(id) => *id,
            ClientKey::Subdomain(s) => *e.by_subdomain.get(s)?,
            ClientKey::Domain(d) => *e.by_domain.get(d)?,
        };
        let (client, at) = e.by_id.get(&id)?;
        (at.elapsed() < TTL).then(|| Arc::clone(client))
    }

    /// Looks the shop up, from the cache or the registry.
    pub fn lookup(&self, conn: &Connection, key: &ClientKey) -> rusqlite::Result<Option<Arc<Client>>> {
        if let Some(hit) = self.cached(key) {
            return Ok(Some(hit));
        }
        let found = match key {
            ClientKey::Id(id) => registry::find(conn, *id)?,
            ClientKey::Subdomain(s) => registry::find_by_subdomain(conn, s)?,
            ClientKey::Domain(d) => registry::find_by_domain(conn, d)?,
        };
        Ok(found.map(|c| self.remember(c)))
    }

    fn remember(&self, client: Client) -> Arc<Client> {
        let client = Arc::new(client);
        let mut e = self.entries.lock();
        if e.by_id.len() >= MAX_ENTRIES {
            *e = Entries::default();
        }
        Self::forget(&mut e, client.id);
        e.by_subdomain.insert(client.subdomain.clone(), client.id);
        if let Some(d) = &client.domain {
            e.by_domain.insert(d.clone(), client.id);
        }
        e.by_id.insert(client.id, (Arc::clone(&client), Instant::now()));
        client
    }

    /// Drops every entry (a change that concerns every shop, like the feature defaults).
    pub fn invalidate_all(&self) {
        *self.entries.lock() = Entries::default();
    }

    /// Drops a shop's entry after a rename, suspension, domain change or deletion.
    pub fn invalidate(&self, id: i64) {
        Self::forget(&mut self.entries.lock(), id);
    }

    fn forget(e: &mut Entries, id: i64) {
        if let Some((old, _)) = e.by_id.remove(&id) {
            e.by_subdomain.remove(&old.subdomain);
            if let Some(d) = &old.domain {
                e.by_domain.remove(d);
            }
        }
    }
}
