//! The relay: moves notices from shops' `event_outbox` tables into main.db as `notify` jobs.
//!
//! A request that recorded a notice calls [`Relay::hint`] after its commit; the relay thread
//! gathers the hinted shops, reads each one's new rows (past its position in `event_relay`), and
//! writes their `notify` jobs and the new positions in one main.db transaction — so every row is
//! queued exactly once, however many shops and checkouts a write carries. Relayed rows are deleted
//! from the shop's file now and then ([`PRUNE_EVERY`]); until then the position skips them.
//!
//! After a crash the hints are gone, but the rows are not: at start the relay looks at every shop
//! whose file changed since it was last caught up (`event_relay_state`, less [`SCAN_MARGIN`]).
//! A restore or an import gives the shop's file a new generation, so a position in the old file
//! never hides the new file's rows.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};
use rusqlite::OptionalExtension;

use super::Notice;
use crate::error::AppError;
use crate::jobs::Task;
use crate::state::AppState;
use crate::tenancy::{files, registry};

/// Rows moved per shop per write; a shop with more is looked at again at once.
const ROWS_PER_SHOP: i64 = 256;
/// Relayed rows are deleted from a shop's file at most this often (a write to the shop).
const PRUNE_EVERY: Duration = Duration::from_secs(30);
/// A shop that could not be read (busy, being restored) is looked at again after this.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long the relay sleeps without hints before it does its housekeeping.
const IDLE: Duration = Duration::from_secs(1);
/// Shops whose files changed this long before the relay was last caught up are looked at too
/// after a crash: a hint follows its commit by far less.
const SCAN_MARGIN: u64 = 60;
/// How often "caught up" is written down while the relay is busy, and while it is idle.
const CAUGHT_UP_BUSY: Duration = Duration::from_secs(10);
const CAUGHT_UP_IDLE: Duration = Duration::from_secs(300);

/// Shops with notices to move, shared by the requests (which add) and the relay thread (which takes).
#[derive(Default)]
pub struct Relay {
    dirty: Mutex<HashSet<i64>>,
    wake: Condvar,
}

impl Relay {
    /// The shop recorded a notice that committed: move it soon.
    pub fn hint(&self, client_id: i64) {
        self.dirty.lock().insert(client_id);
        self.wake.notify_one();
    }

    /// Wakes the relay thread (shutdown).
    pub fn nudge(&self) {
        let _dirty = self.dirty.lock();
        self.wake.notify_all();
    }

    fn take(&self, stop: &AtomicBool, timeout: Duration) -> Vec<i64> {
        let mut dirty = self.dirty.lock();
        if dirty.is_empty() && !stop.load(Ordering::SeqCst) {
            self.wake.wait_for(&mut dirty, timeout);
        }
        dirty.drain().collect()
    }

    fn is_idle(&self) -> bool {
        self.dirty.lock().is_empty()
    }
}

/// What the relay thread remembers between rounds.
#[derive(Default)]
struct Memory {
    /// Per shop: the file generation and the last row id queued.
    positions: HashMap<i64, (String, i64)>,
    /// Per shop: rows through this id of this generation are relayed but not yet deleted from the
    /// file, since when.
    unpruned: HashMap<i64, (String, i64, Instant)>,
    /// Shops to look at again later, and when.
    later: HashMap<i64, Instant>,
    caught_up_written: Option<Instant>,
}

/// One shop's rows read for a write.
struct Read {
    client_id: i64,
    generation: String,
    rows: Vec<(i64, String)>,
}

/// The relay thread: a scan for what a crash left, then rounds until `stop`, then a last round.
pub fn run(state: &AppState, stop: &AtomicBool) {
    crate::sys::set_thread_niceness(19);
    let mut memory = Memory::default();
    match left_behind(state) {
        Ok(ids) if !ids.is_empty() => {
            tracing::info!(shops = ids.len(), "looking for order events a stop left unrelayed");
            for id in ids {
                state.relay.hint(id);
            }
        }
        Ok(_) => {}
        Err(err) => tracing::error!(error = %err, "could not look for unrelayed order events"),
    }
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let mut ids = state.relay.take(stop, IDLE);
        let now = Instant::now();
        memory.later.retain(|id, at| {
            let due = *at <= now || stopping;
            if due {
                ids.push(*id);
            }
            !due
        });
        if !ids.is_empty() {
            ids.sort_unstable();
            ids.dedup();
            round(state, ids, &mut memory);
        } else {
            housekeeping(state, &mut memory);
        }
        if stopping {
            break;
        }
    }
}

/// Shops whose files changed since the relay was last caught up (less the margin).
fn left_behind(state: &AppState) -> Result<Vec<i64>, AppError> {
    let main = state.main.get()?;
    let caught_up: i64 = main.query_row("SELECT caught_up_at FROM event_relay_state WHERE id = 1", [], |r| r.get(0))?;
    let horizon = UNIX_EPOCH + Duration::from_secs((caught_up.max(0) as u64).saturating_sub(SCAN_MARGIN));
    // A shop suspended since still has its notices moved (its orders happened).
    let shops = registry::all_with_status(&main, &[registry::ClientStatus::Active, registry::ClientStatus::Suspended])?;
    drop(main);
    Ok(shops
        .into_iter()
        .filter(|c| files::last_write(&state.tenancy.regions.path_of(c.id)).is_some_and(|at| at >= horizon))
        .map(|c| c.id)
        .collect())
}

fn round(state: &AppState, ids: Vec<i64>, memory: &mut Memory) {
    let mut reads = Vec::new();
    for id in ids {
        match read_shop(state, id, memory) {
            Ok(Some(read)) => {
                if read.rows.len() as i64 >= ROWS_PER_SHOP {
                    state.relay.hint(id);
                }
                reads.push(read);
            }
            Ok(None) => {}
            Err(err) => {
                if state.tenancy.regions.path_of(id).exists() {
                    tracing::warn!(client_id = id, error = %err, "could not read a shop's event outbox; trying again soon");
                    memory.later.insert(id, Instant::now() + RETRY_AFTER);
                }
            }
        }
    }
    if reads.is_empty() {
        return;
    }
    let caught_up = state.relay.is_idle()
        && memory.later.is_empty()
        && memory.caught_up_written.is_none_or(|at| at.elapsed() >= CAUGHT_UP_BUSY);
    match state.main.write_now(|tx| queue_reads(tx, &reads, caught_up)) {
        Ok(()) => {
            if caught_up {
                memory.caught_up_written = Some(Instant::now());
            }
            for read in reads {
                let Some(&(last, _)) = read.rows.last() else { continue };
                let since = memory.unpruned.get(&read.client_id).map_or_else(Instant::now, |u| u.2);
                memory.unpruned.insert(read.client_id, (read.generation.clone(), last, since));
                memory.positions.insert(read.client_id, (read.generation, last));
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "could not queue order events; trying again soon");
            for read in reads {
                // The position is read again from main.db: what did commit is not queued twice.
                memory.positions.remove(&read.client_id);
                memory.later.insert(read.client_id, Instant::now() + RETRY_AFTER);
            }
        }
    }
    prune_due(state, memory, false);
}

/// The shop's rows past the relay's position, or `None` when there are none.
fn read_shop(state: &AppState, client_id: i64, memory: &mut Memory) -> Result<Option<Read>, AppError> {
    let db = state.tenancy.pools.checkout(client_id)?;
    let conn = db.get()?;
    let generation: String =
        conn.query_row("SELECT generation FROM event_outbox_generation WHERE id = 1", [], |r| r.get(0))?;
    let position = match memory.positions.get(&client_id) {
        Some(p) => Some(p.clone()),
        None => state
            .main
            .get()?
            .query_row("SELECT generation, relayed_through FROM event_relay WHERE client_id = ?1", [client_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?,
    };
    let after = match position {
        Some((g, through)) if g == generation => through,
        _ => 0,
    };
    let rows: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, payload FROM event_outbox WHERE id > ?1 ORDER BY id LIMIT ?2")?
        .query_map([after, ROWS_PER_SHOP], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((!rows.is_empty()).then_some(Read { client_id, generation, rows }))
}

/// Queues the rows' `notify` jobs and moves the positions, in the caller's transaction. Rows of a
/// shop deleted meanwhile are dropped with it.
fn queue_reads(tx: &rusqlite::Transaction<'_>, reads: &[Read], caught_up: bool) -> Result<(), AppError> {
    for read in reads {
        if registry::find(tx, read.client_id)?.is_none() {
            continue;
        }
        for (row_id, payload) in &read.rows {
            match serde_json::from_str::<Notice>(payload) {
                Ok(notice) => {
                    crate::jobs::enqueue(tx, &Task::Notify { client_id: read.client_id, notice })?;
                }
                Err(err) => tracing::error!(
                    client_id = read.client_id, row_id, error = %err,
                    "an event outbox row is unreadable; skipped"
                ),
            }
        }
        let last = read.rows.last().map_or(0, |r| r.0);
        tx.prepare_cached(
            "INSERT INTO event_relay (client_id, generation, relayed_through) VALUES (?1, ?2, ?3)
             ON CONFLICT (client_id) DO UPDATE SET generation = excluded.generation, relayed_through = excluded.relayed_through",
        )?
        .execute(rusqlite::params![read.client_id, read.generation, last])?;
    }
    if caught_up {
        mark_caught_up(tx)?;
    }
    Ok(())
}

fn mark_caught_up(conn: &rusqlite::Connection) -> Result<(), AppError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    conn.execute("UPDATE event_relay_state SET caught_up_at = ?1 WHERE id = 1", [now])?;
    Ok(())
}

/// With nothing to move: deletes relayed rows from files when due, and notes that the relay is
/// caught up now and then.
fn housekeeping(state: &AppState, memory: &mut Memory) {
    prune_due(state, memory, true);
    if memory.later.is_empty() && memory.caught_up_written.is_none_or(|at| at.elapsed() >= CAUGHT_UP_IDLE) {
        match state.main.write_now(|tx| mark_caught_up(tx)) {
            Ok(()) => memory.caught_up_written = Some(Instant::now()),
            Err(err) => tracing::warn!(error = %err, "could not note that the event relay is caught up"),
        }
    }
}

/// Deletes relayed rows from the files of shops last pruned [`PRUNE_EVERY`] ago (all of them when
/// `idle`, those relayed to meanwhile otherwise).
fn prune_due(state: &AppState, memory: &mut Memory, idle: bool) {
    let due: Vec<(i64, String, i64)> = memory
        .unpruned
        .iter()
        .filter(|(_, (_, _, since))| idle && since.elapsed() >= PRUNE_EVERY || since.elapsed() >= PRUNE_EVERY * 2)
        .map(|(id, (generation, through, _))| (*id, generation.clone(), *through))
        .collect();
    for (id, generation, through) in due {
        memory.unpruned.remove(&id);
        let pruned = state.tenancy.pools.checkout(id).and_then(|db| {
            let mut conn = db.get()?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Only in the file the rows were read from: a restored one's rows are not relayed yet.
            tx.execute(
                "DELETE FROM event_outbox WHERE id <= ?1
                 AND (SELECT generation FROM event_outbox_generation WHERE id = 1) = ?2",
                rusqlite::params![through, generation],
            )?;
            tx.commit()?;
            Ok(())
        });
        if let Err(err) = pruned {
            tracing::debug!(client_id = id, error = %err, "could not delete relayed events; later");
        }
    }
}

/// Gives a shop file that holds another copy of the shop's history (a restored backup, an
/// import) a new generation and an empty outbox: its old rows were relayed from the file they
/// came from, and its new ones must not hide behind that file's position.
pub fn renew_generation(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DELETE FROM event_outbox;
         UPDATE event_outbox_generation SET generation = lower(hex(randomblob(16))) WHERE id = 1;",
    )
}
