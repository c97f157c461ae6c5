//! Preparing the data folder through the library, and running the real server as a child process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use vergeflow::addresses::store::AddressFields;
use vergeflow::auth::{password, tokens};
use vergeflow::config::Settings;
use vergeflow::state::AppState;
use vergeflow::tenancy::lifecycle::{self, NewClient, NewClientInput};
use vergeflow::{addresses, customers, db};

pub const SUPER_EMAIL: &str = "bench@localhost";
pub const SUPER_PASSWORD: &str = "bench-super-password";

pub fn address_fields() -> AddressFields {
    AddressFields {
        name: Some("Bench Buyer".into()),
        line1: Some("1 Load Street".into()),
        city: Some("Loopback".into()),
        postal_code: Some("12700".into()),
        country: Some("DE".into()),
        ..Default::default()
    }
}

/// A customer ready to check out: their shop, token and address.
#[derive(Clone)]
pub struct Buyer {
    pub token: String,
    pub address_id: i64,
}

/// Provisions `count` shops named `shop<N>` through the library (the same code the API runs), each
/// with product 1 in deep stock; the first `buyer_shops` get `buyers_per_shop` customers with
/// tokens and addresses.
pub fn provision(
    data_dir: &Path,
    count: usize,
    buyer_shops: usize,
    buyers_per_shop: usize,
) -> anyhow::Result<Vec<Buyer>> {
    let state = AppState::open(Settings::for_data_dir(data_dir))?;
    let admin_hash = password::hash("bench-admin-password")?;
    let mut main = state.main.get()?;
    let started = Instant::now();
    let mut buyers = Vec::new();
    for i in 1..=count {
        let (sub, email) = (format!("shop{i}"), format!("admin@shop{i}.bench"));
        let input = NewClientInput {
            name: &sub,
            subdomain: &sub,
            domain: None,
            admin_name: None,
            admin_email: &email,
            admin_password: None,
        };
        let mut new = NewClient::parse(&input, "localhost")?;
        new.admin_password_hash = admin_hash.clone();
        let client = lifecycle::provision_client(&state.tenancy, &mut main, &new)?;
        let conn = db::open_file(&data_dir.join(&client.database), false, 256)?;
        conn.execute("INSERT INTO products (name, slug, price_cents, stock) VALUES ('Bench product', 'bench-product', 1999, 1000000)", [])?;
        if i <= buyer_shops {
            // Checkouts charge tax and shipping, as a real shop's would.
            conn.execute("UPDATE shop_settings SET tax_rate_bp = 1900, shipping_flat_cents = 495 WHERE id = 1", [])?;
            for b in 0..buyers_per_shop {
                let user =
                    customers::store::register(&conn, "Bench buyer", &format!("b{b}@shop{i}.bench"), &admin_hash)?;
                let address = addresses::store::insert(&conn, user.id, &address_fields())?;
                let owner = tokens::Owner::Customer { client_id: client.id, customer_id: user.id };
                let token = tokens::issue(&main, owner, std::time::Duration::from_secs(86400))?.token;
                buyers.push(Buyer { token, address_id: address.id });
            }
        }
        if i % 1000 == 0 || i == count {
            eprint!("\r  provisioned {i}/{count} shops ({:.1} s)", started.elapsed().as_secs_f64());
        }
    }
    eprintln!();
    Ok(buyers)
}

/// A child process that is killed when dropped.
pub struct ChildServer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a process and waits for the line announcing its port (`marker` then the port).
fn start(mut cmd: Command, marker: &str) -> anyhow::Result<ChildServer> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let Some(line) = lines.next() else { anyhow::bail!("the server exited before listening") };
        let line = line?;
        if let Some(rest) = line.split(marker).nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            break digits.parse::<u16>()?;
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    wait_until_idle(child.id());
    Ok(ChildServer { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) })
}

/// Waits until a process just started stops using the CPU on its own: the server's start-up work
/// (reconciliation, the event relay's first look at every shop changed since it last ran) runs
/// after it listens, and over 10,000 freshly provisioned shops it took 40 % off the first
/// workload measured. Idle: under 3 % of one core over two half-second looks in a row.
fn wait_until_idle(pid: u32) {
    let cpu_ticks = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces), from the state (field 3): utime and
        // stime are fields 14 and 15.
        let rest = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let at = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        at(11) + at(12)
    };
    let started = Instant::now();
    let (mut last, mut quiet) = (cpu_ticks(), 0);
    while quiet < 2 && started.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let now = cpu_ticks();
        // Clock ticks are 1/100 s: 1 tick in half a second is 2 % of a core.
        quiet = if now.saturating_sub(last) <= 1 { quiet + 1 } else { 0 };
        last = now;
    }
    if started.elapsed().as_secs_f64() > 1.5 {
        eprintln!("  (waited {:.1} s for the process's start-up work)", started.elapsed().as_secs_f64());
    }
}

/// How the server under test hashes passwords.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Hashing {
    /// The cheapest Argon2 parameters (bench-hooks builds): provisioning timed without the hash.
    Cheap,
    /// Argon2id with the production parameters, as a real server runs.
    Production,
}

/// The real `vergeflow` binary over `data_dir`, with its default limits but for `env`.
pub fn start_server_with(
    data_dir: &Path,
    max_open: usize,
    hashing: Hashing,
    env: &[(&str, &str)],
) -> anyhow::Result<ChildServer> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vergeflow"));
    cmd.arg("serve")
        .args(["--data-dir", data_dir.to_str().expect("utf-8 path"), "--bind", "127.0.0.1:0"])
        .args(["--max-open-clients", &max_open.to_string()])
        // `VERGEFLOW_BENCH_SERVER_LOG=info` shows what the servers under test log.
        .env("RUST_LOG", std::env::var("VERGEFLOW_BENCH_SERVER_LOG").unwrap_or_else(|_| "error".into()))
        .env("VERGEFLOW_ADMIN_EMAIL", SUPER_EMAIL)
        .env("VERGEFLOW_ADMIN_PASSWORD", SUPER_PASSWORD)
        // Backups run when W6 asks for them, never on their own schedule in the middle of a workload.
        .env("VERGEFLOW_BACKUP_EVERY", "off")
        // W6 restores the big shop from one backup several times: nothing may be pruned meanwhile.
        .env("VERGEFLOW_BACKUP_KEEP", "100");
    if hashing == Hashing::Cheap {
        cmd.env("VERGEFLOW_BENCH_CHEAP_PASSWORD_HASH", "1");
    }
    cmd.envs(env.iter().copied());
    start(cmd, "127.0.0.1:")
}

/// This bench binary as the floor server over `dir`.
pub fn start_floor(dir: &Path) -> anyhow::Result<ChildServer> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["--floor-server", dir.to_str().expect("utf-8 path")]);
    start(cmd, "FLOOR LISTENING ")
}

/// The floor server with the many-shop floors over `shops_dir` (the product server's data folder),
/// `warm` pools opened beforehand and an LRU of `lru` pools, in locking mode `locking`.
pub fn start_shop_floors(
    dir: &Path,
    shops_dir: &Path,
    warm: usize,
    lru: usize,
    locking: &str,
) -> anyhow::Result<ChildServer> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["--floor-server", dir.to_str().expect("utf-8 path")])
        .args(["--shops-dir", shops_dir.to_str().expect("utf-8 path")])
        .args(["--warm", &warm.to_string(), "--lru", &lru.to_string()])
        .env("VERGEFLOW_SHOP_LOCKING", locking);
    start(cmd, "FLOOR LISTENING ")
}

/// Resident memory (bytes), threads and open descriptors of a process, from /proc.
pub fn process_figures(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count() as u64).unwrap_or(0);
    (field("VmRSS:") * 1024, field("Threads:"), fds)
}

/// Fills shop `id` to the size W6 backs up: 1,000 products and 1,000 orders of one item each.
pub fn fill_big_shop(data_dir: &Path, id: i64) -> anyhow::Result<()> {
    let mut conn = db::open_file(&data_dir.join(format!("client_{id}.db")), false, 4096)?;
    let tx = conn.transaction()?;
    for p in 0..1000 {
        tx.execute(
            "INSERT INTO products (name, slug, description, price_cents, stock) VALUES (?1, ?2, ?3, 1500, 100)",
            rusqlite::params![
                format!("Big product {p}"),
                format!("big-product-{p}"),
                "A product of the big shop, with a description of a plausible length for search."
            ],
        )?;
    }
    for o in 0..1000 {
        tx.execute(
            "INSERT INTO orders (number, status, subtotal_cents, total_cents, ship_name, ship_line1, ship_city, ship_postal_code, ship_country)
             VALUES (?1, 'paid', 1500, 1500, 'Ada', '1 Main St', 'Springfield', '12345', 'US')",
            [format!("BIG-{o:06}")],
        )?;
        let order = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents) VALUES (?1, ?2, 'Big product', 1500, 1, 1500)",
            rusqlite::params![order, 2 + (o % 1000)],
        )?;
    }
    tx.commit()?;
    Ok(())
}
