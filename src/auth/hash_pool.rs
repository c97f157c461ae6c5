//! Password hashing on a few threads of its own, with a short queue in front of them.
//!
//! Each Argon2 hash holds 19 MiB for tens of milliseconds. Run on the blocking threads that serve
//! SQLite queries, a flood of sign-ups took those threads from every other shop and grew memory
//! by 19 MiB per request in flight. Here at most `threads` hashes run at once (memory is bounded
//! by `threads × 19 MiB`), at most `queue` wait, and anything beyond that is refused at once with
//! 503 `overloaded` and `Retry-After` instead of queueing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use parking_lot::Mutex;

use super::password;
use crate::error::AppError;

type Work = Box<dyn FnOnce() + Send>;

/// Seconds a refused caller is told to wait: the queue drains well within it.
const RETRY_AFTER_SECS: u64 = 1;

/// The hashing threads and their bounded queue.
pub struct HashPool {
    sender: SyncSender<Work>,
    refused: AtomicU64,
}

impl HashPool {
    /// Starts `threads` hashing threads (at least one) behind a queue of `queue` places.
    pub fn start(threads: usize, queue: usize) -> Self {
        let (sender, receiver) = sync_channel::<Work>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("vf-hash-{n}"))
                .spawn(move || work(&receiver))
                .expect("spawning a password-hashing thread");
        }
        Self { sender, refused: AtomicU64::new(0) }
    }

    /// How many requests were refused because every place was taken.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Runs `f` on a hashing thread, or refuses at once when the queue is full.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Work = Box::new(move || {
            let _ = tx.send(f());
        });
        match self.sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(AppError::Overloaded { retry_after_secs: RETRY_AFTER_SECS });
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(AppError::Internal(anyhow::anyhow!("the password-hashing threads have stopped")));
            }
        }
        rx.await.map_err(|_| AppError::Internal(anyhow::anyhow!("a password-hashing task panicked")))
    }

    /// Hashes a new password.
    pub async fn hash(&self, plain: String) -> Result<String, AppError> {
        self.run(move || password::hash(&plain)).await?
    }

    /// The account a sign-in found, if `plain` is its password, with an Argon2id hash to store
    /// in place of an imported bcrypt one (see [`password::is_legacy`]). No account burns the same
    /// time as a wrong password, so an unknown address cannot be told from a wrong password.
    pub async fn verify<U: Send + 'static>(
        &self,
        plain: String,
        found: Option<(U, String)>,
    ) -> Result<Option<(U, Option<String>)>, AppError> {
        self.run(move || match found {
            Some((account, stored)) => {
                if !password::verify(&plain, &stored) {
                    return Ok(None);
                }
                let rehashed = if password::is_legacy(&stored) { Some(password::hash(&plain)?) } else { None };
                Ok(Some((account, rehashed)))
            }
            None => {
                password::verify_dummy(&plain);
                Ok(None)
            }
        })
        .await?
    }
}

fn work(receiver: &Mutex<Receiver<Work>>) {
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let next = receiver.lock().recv();
        match next {
            Ok(job) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                    tracing::error!("a password-hashing task panicked");
                }
            }
            Err(_) => return, // the pool was dropped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn refuses_at_once_when_every_place_is_taken() {
        let pool = HashPool::start(1, 1);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        // Occupy the one thread, then the one queue place.
        let hold: Work = Box::new(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        pool.sender.try_send(hold).unwrap();
        started_rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        pool.sender.try_send(Box::new(|| {})).unwrap();

        let refused = pool.run(|| 1).await;
        assert!(matches!(refused, Err(AppError::Overloaded { .. })), "a third job must be refused");
        assert_eq!(pool.refused(), 1);

        release_tx.send(()).unwrap();
        let mut answered = None;
        for _ in 0..100 {
            match pool.run(|| 2).await {
                Ok(v) => {
                    answered = Some(v);
                    break;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        assert_eq!(answered, Some(2), "once the thread is free, work is accepted again");
    }
}
