//! J: the job queue and what checkouts cause. Queue throughput and wait are measured in this
//! process on a data folder of its own (the library's queue and workers, as the server runs them);
//! webhook delivery goes from the real server to a receiver in this process.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
#[cfg(feature = "bench-hooks")]
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "bench-hooks")]
use vergeflow::jobs::{self, Task};

/// Trivial jobs queued as fast as one thread can and run by the workers (the rate); then jobs
/// queued one at a time, 5 ms apart, on an idle queue (the wait from enqueue to start).
pub struct QueueFigures {
    pub jobs: usize,
    pub jobs_per_s: f64,
    /// Over the burst, where a job waits behind the ones queued before it.
    pub burst_wait_p50_ms: f64,
    pub paced: usize,
    pub wait_p50_ms: f64,
    pub wait_p99_ms: f64,
}

#[cfg(feature = "bench-hooks")]
fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64
}

/// The no-op job exists only in `--features bench-hooks` builds.
#[cfg(not(feature = "bench-hooks"))]
pub fn queue_throughput(_: &Path, _: usize) -> anyhow::Result<QueueFigures> {
    anyhow::bail!("the queue figures need --features bench-hooks (the no-op job)")
}

/// Queues `n` no-op jobs from one thread while the server's workers run them; the rate is jobs
/// finished over the time from the first enqueue to the last finish.
#[cfg(feature = "bench-hooks")]
pub fn queue_throughput(base: &Path, n: usize) -> anyhow::Result<QueueFigures> {
    let tmp = tempfile::tempdir_in(base)?;
    let mut settings = vergeflow::config::Settings::for_data_dir(tmp.path().join("data"));
    settings.admin_password = Some("bench-password".into());
    std::fs::create_dir_all(&settings.data_dir)?;
    let state = Arc::new(vergeflow::state::AppState::open(settings)?);
    let background = jobs::worker::spawn(Arc::clone(&state));
    let started = Instant::now();
    {
        let conn = state.main.get()?;
        for _ in 0..n {
            jobs::enqueue(&conn, &Task::Noop { queued_us: now_us() })?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open: i64 = state.main.get()?.query_row(
            "SELECT count(*) FROM jobs WHERE kind = 'noop' AND status IN ('pending', 'running')",
            [],
            |r| r.get(0),
        )?;
        if open == 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "{open} no-op jobs still open after 120 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    let secs = started.elapsed().as_secs_f64();
    let waits = |from_id: i64| -> anyhow::Result<Vec<u32>> {
        let mut w: Vec<u32> = state
            .main
            .get()?
            .prepare("SELECT json_extract(result, '$.waited_us') FROM jobs WHERE kind = 'noop' AND status = 'done' AND id > ?1")?
            .query_map([from_id], |r| r.get::<_, i64>(0))?
            .map(|w| w.map(|w| w as u32))
            .collect::<Result<_, _>>()?;
        w.sort_unstable();
        Ok(w)
    };
    let burst = waits(0)?;
    anyhow::ensure!(burst.len() == n, "{} of {n} no-op jobs done", burst.len());
    let last: i64 = state.main.get()?.query_row("SELECT max(id) FROM jobs", [], |r| r.get(0))?;
    let paced = 400;
    for _ in 0..paced {
        jobs::enqueue(&*state.main.get()?, &Task::Noop { queued_us: now_us() })?;
        std::thread::sleep(Duration::from_millis(5));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let paced_waits = loop {
        let w = waits(last)?;
        if w.len() == paced {
            break w;
        }
        anyhow::ensure!(Instant::now() < deadline, "{} of {paced} paced jobs done", w.len());
        std::thread::sleep(Duration::from_millis(5));
    };
    background.shutdown(Duration::from_secs(5));
    Ok(QueueFigures {
        jobs: n,
        jobs_per_s: n as f64 / secs,
        burst_wait_p50_ms: crate::load::percentile_ms(&burst, 50.0),
        paced,
        wait_p50_ms: crate::load::percentile_ms(&paced_waits, 50.0),
        wait_p99_ms: crate::load::percentile_ms(&paced_waits, 99.0),
    })
}

/// A webhook receiver: answers 200 to every POST and notes when each order's `order.created`
/// arrived.
pub struct Receiver {
    pub port: u16,
    arrived: Arc<Mutex<HashMap<i64, Instant>>>,
    pub received: Arc<std::sync::atomic::AtomicU64>,
}

impl Receiver {
    pub fn start() -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let arrived = Arc::new(Mutex::new(HashMap::new()));
        let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (a, n) = (Arc::clone(&arrived), Arc::clone(&received));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (a, n) = (Arc::clone(&a), Arc::clone(&n));
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &a, &n);
                });
            }
        });
        Ok(Receiver { port, arrived, received })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Forgets what arrived (order ids repeat across shops).
    pub fn forget(&self) {
        self.arrived.lock().unwrap().clear();
    }

    pub fn arrival(&self, order_id: i64) -> Option<Instant> {
        self.arrived.lock().unwrap().get(&order_id).copied()
    }
}

fn serve_one(
    mut stream: std::net::TcpStream,
    arrived: &Mutex<HashMap<i64, Instant>>,
    received: &std::sync::atomic::AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let at = Instant::now();
    received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
        && v["event"] == "order.created"
        && let Some(id) = v["data"]["order"]["id"].as_i64()
    {
        arrived.lock().unwrap().insert(id, at);
    }
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

/// Registers `url` for `order.created` on shops 1..=shops, in main.db (the server is stopped).
pub fn register_webhooks(data_dir: &Path, shops: usize, url: &str) -> anyhow::Result<()> {
    let main = rusqlite::Connection::open(data_dir.join("main.db"))?;
    main.busy_timeout(Duration::from_secs(5))?;
    let tx = main.unchecked_transaction()?;
    for id in 1..=shops as i64 {
        tx.execute(
            "INSERT INTO webhooks (client_id, url, events, secret) VALUES (?1, ?2, '[\"order.created\"]', ?3)",
            rusqlite::params![id, url, format!("whsec_{:064}", id)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Waits until the server's queue holds no open jobs (what checkouts queued has gone out).
pub fn drain(data_dir: &Path, within: Duration) -> anyhow::Result<f64> {
    let main =
        rusqlite::Connection::open_with_flags(data_dir.join("main.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    main.busy_timeout(Duration::from_secs(5))?;
    let started = Instant::now();
    loop {
        let open: i64 =
            main.query_row("SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')", [], |r| r.get(0))?;
        if open == 0 {
            return Ok(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(started.elapsed() < within, "{open} jobs still open after {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
