//! The real binary killed with SIGKILL at random moments during provisioning, deletion and
//! checkout; after every restart the registry and the files must agree, every order must be
//! whole or absent, and every order present gets exactly one notice (its mail and webhooks). Also: a shop file the running server has open is locked to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD, list_files};

/// Kills per operation.
const KILLS: usize = 30;

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
}

impl Server {
    pub(crate) async fn start(data: &Path) -> Server {
        Self::start_with(data, &[]).await
    }

    pub(crate) async fn start_with(data: &Path, env: &[(&str, &str)]) -> Server {
        let data = data.to_path_buf();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let log = data.parent().unwrap().join("server.log");
        let (child, port) = tokio::task::spawn_blocking(move || {
            let stderr = std::fs::File::create(&log).unwrap();
            let mut child = Command::new(env!("CARGO_BIN_EXE_vergeflow"))
                .args(["serve", "--data-dir", data.to_str().unwrap(), "--bind", "127.0.0.1:0"])
                .env("RUST_LOG", "error")
                .env("VERGEFLOW_ADMIN_EMAIL", SUPER_EMAIL)
                .env("VERGEFLOW_ADMIN_PASSWORD", SUPER_PASSWORD)
                .env("VERGEFLOW_WORKERS", "2")
                .envs(env)
                .stdout(Stdio::piped())
                .stderr(stderr)
                .spawn()
                .expect("the server binary starts");
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let port = loop {
                let Some(line) = lines.next() else {
                    panic!("the server did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
                };
                let line = line.unwrap();
                if let Some(rest) = line.split("127.0.0.1:").nth(1) {
                    break rest.chars().take_while(char::is_ascii_digit).collect::<String>();
                }
            };
            std::thread::spawn(move || for _ in lines {});
            (child, port)
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
        Server { child, base: format!("http://127.0.0.1:{port}"), http }
    }

    /// SIGTERM, then waits (up to `within`) for the process to exit; returns how long it took.
    pub(crate) fn terminate(mut self, within: Duration) -> Duration {
        let started = std::time::Instant::now();
        // SAFETY: kill(2) with a pid of our own child and a valid signal number.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return started.elapsed();
            }
            assert!(started.elapsed() < within, "the server did not exit within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }

    /// Creates shop `sub` with admin `<sub>@crash.test` / `crash-password`.
    pub(crate) async fn create_shop(&self, super_token: &str, sub: &str) {
        let body = json!({"name": "Crash", "subdomain": sub, "admin_email": format!("{sub}@crash.test"), "admin_password": "crash-password"});
        let res = self
            .http
            .post(format!("{}/api/super-admin/clients", self.base))
            .bearer_auth(super_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    /// `GET <path>` on shop `sub` (by Host): the status and the JSON body (null if none).
    pub(crate) async fn shop_get(&self, sub: &str, path: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Host", format!("{sub}.localhost"))
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn token(&self, email: &str, password: &str) -> String {
        let res = self
            .http
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn ro(path: &Path) -> Connection {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// Registry and files agree; every shop file is whole, stamped and current; every shop is served.
/// Reads the files first: the server holds the shops it has open exclusively.
pub(crate) async fn verify_registry_and_files(server: &Server, data: &Path) -> usize {
    let clients: Vec<(i64, String, String)> = {
        let main = ro(&data.join("main.db"));
        let mut stmt = main.prepare("SELECT id, subdomain, status FROM clients").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let latest = vergeflow::db::migrations::latest_client_version();
    for (id, _, status) in &clients {
        assert_eq!(status, "active", "client {id} left {status} after reconciliation");
        let path = data.join(format!("client_{id}.db"));
        let conn = ro(&path);
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "client {id}");
        let stamp: i64 = conn.query_row("SELECT client_id FROM shop", [], |r| r.get(0)).unwrap();
        assert_eq!(stamp, *id);
        assert_eq!(vergeflow::db::migrations::client_version(&conn).unwrap(), latest, "client {id}");
    }
    // Only now ask the server: once it has a shop open, no other process can open that file.
    for (id, subdomain, _) in &clients {
        let res = server
            .http
            .get(format!("{}/api/shop", server.base))
            .header("Host", format!("{subdomain}.localhost"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "client {id} is not served");
    }
    let ids: Vec<i64> = clients.iter().map(|c| c.0).collect();
    for name in list_files(data) {
        assert!(!name.contains("building"), "{name} survived reconciliation");
        if let Some(id) =
            name.strip_prefix("client_").and_then(|r| r.split('.').next()).and_then(|d| d.parse::<i64>().ok())
        {
            assert!(ids.contains(&id), "{name} has no registry row");
        }
    }
    assert!(!data.join("orphans").exists() || list_files(&data.join("orphans")).is_empty(), "files were orphaned");
    clients.len()
}

/// An operation kept running back to back until stopped.
pub(crate) struct Running {
    stop: Arc<AtomicBool>,
    /// Calls answered by the server.
    done: Arc<AtomicU64>,
    /// Whether a call is on the wire right now.
    busy: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the loop; says whether a call was in flight when the server died.
    async fn finish(self, was_busy: bool) -> (u64, bool) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        (self.done.load(Ordering::SeqCst), was_busy)
    }
}

pub(crate) fn keep_running<F, Fut>(op: F) -> Running
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicBool::new(false));
    let (s, d, b) = (Arc::clone(&stop), Arc::clone(&done), Arc::clone(&busy));
    let task = tokio::spawn(async move {
        let mut i = 0;
        while !s.load(Ordering::SeqCst) {
            i += 1;
            b.store(true, Ordering::SeqCst);
            let answered = op(i).await;
            b.store(false, Ordering::SeqCst);
            if answered {
                d.fetch_add(1, Ordering::SeqCst);
            } else {
                break;
            }
        }
    });
    Running { stop, done, busy, task }
}

/// Kills the server while `ops` run; returns (calls answered, kills that caught a call in flight).
pub(crate) async fn kill_during(server: Server, ops: Vec<Running>) -> (u64, u64) {
    let busy = ops.iter().any(|o| o.busy.load(Ordering::SeqCst));
    server.kill();
    let mut answered = 0;
    for op in ops {
        answered += op.finish(false).await.0;
    }
    (answered, u64::from(busy))
}

pub(crate) fn jitter(i: usize, max_ms: u64) -> Duration {
    // Spread kills over the whole operation; deterministic per run so failures reproduce.
    Duration::from_micros((i as u64 * 7919 + 1237) % (max_ms * 1000))
}

pub(crate) fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    (tmp, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_provisioning_and_deletion_always_reconcile() {
    let (_tmp, data) = data_dir();
    let (mut created, mut caught) = (0u64, 0u64);
    for round in 0..KILLS {
        let server = Server::start(&data).await;
        verify_registry_and_files(&server, &data).await;
        let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
        let (http, base) = (server.http.clone(), server.base.clone());
        let op = keep_running(move |i| {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            async move {
                let body = json!({"name": "Crash", "subdomain": format!("p{round}-{i}"), "admin_email": format!("a{round}-{i}@crash.test"), "admin_password": "crash-password"});
                http.post(format!("{base}/api/super-admin/clients"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .is_ok()
            }
        });
        tokio::time::sleep(Duration::from_millis(20) + jitter(round, 60)).await;
        let (answered, busy) = kill_during(server, vec![op]).await;
        created += answered;
        caught += busy;
    }
    eprintln!("provisioning: {KILLS} kills, {caught} with a create in flight, {created} creates answered");
    assert!(caught >= KILLS as u64 / 2, "only {caught} kills caught a create in flight");
    let server = Server::start(&data).await;
    let shops = verify_registry_and_files(&server, &data).await;
    assert!(shops as u64 >= created, "{shops} shops for {created} answered creates");
    assert!(shops > 0);
    server.kill();

    // Now delete them under the same treatment.
    let mut caught = 0u64;
    for round in 0..KILLS {
        let server = Server::start(&data).await;
        verify_registry_and_files(&server, &data).await;
        let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
        let existing: i64 =
            ro(&data.join("main.db")).query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0)).unwrap();
        for i in existing..3 {
            server.create_shop(&token, &format!("r{round}-{i}")).await;
        }
        let ids: Vec<i64> = {
            let main = ro(&data.join("main.db"));
            let mut stmt = main.prepare("SELECT id FROM clients ORDER BY id").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        let (http, base) = (server.http.clone(), server.base.clone());
        let ids = Arc::new(ids);
        let op = keep_running(move |i| {
            let (http, base, token, ids) = (http.clone(), base.clone(), token.clone(), Arc::clone(&ids));
            async move {
                let Some(id) = ids.get(i as usize - 1) else { return false };
                http.delete(format!("{base}/api/super-admin/clients/{id}")).bearer_auth(&token).send().await.is_ok()
            }
        });
        tokio::time::sleep(jitter(round, 3)).await;
        caught += kill_during(server, vec![op]).await.1;
    }
    eprintln!("deletion: {KILLS} kills, {caught} with a delete in flight");
    assert!(caught >= KILLS as u64 / 2, "only {caught} kills caught a delete in flight");
    let server = Server::start(&data).await;
    verify_registry_and_files(&server, &data).await;
}

/// Every order is whole: items, totals, stock, coupon uses and customer totals all agree.
fn verify_orders(shop_file: &Path, initial_stock: i64) -> i64 {
    let conn = ro(shop_file);
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let (stock, sold): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT stock FROM products WHERE id = 1),
                    (SELECT COALESCE(SUM(i.quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.status <> 'cancelled')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(stock + sold, initial_stock, "stock {stock} + sold {sold}");
    let broken: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)
                OR o.subtotal_cents <> (SELECT SUM(line_total_cents) FROM order_items i WHERE i.order_id = o.id)
                OR o.total_cents <> o.subtotal_cents - o.discount_cents + o.shipping_cents + o.tax_cents
                OR o.shipping_cents <> 495 OR o.tax_cents <> (o.subtotal_cents - o.discount_cents + 495) * 19 / 100
                                                             + ((o.subtotal_cents - o.discount_cents + 495) * 19 % 100 >= 50)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(broken, 0, "orders without their items or with wrong totals");
    let (uses, with_coupon): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT uses FROM coupons WHERE id = 1), (SELECT COUNT(*) FROM orders WHERE coupon_id = 1)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(uses, with_coupon, "coupon uses");
    let mismatched: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM customers c WHERE c.orders_count <> (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id)
                OR c.total_spent_cents <> (SELECT COALESCE(SUM(total_cents), 0) FROM orders o WHERE o.customer_id = c.id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mismatched, 0, "customer totals");
    conn.query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0)).unwrap()
}

/// Order notices in the shop's outbox the relay had not moved into main.db (what a kill left).
fn unrelayed(data: &Path, shop_file: &Path) -> i64 {
    let shop = ro(shop_file);
    let generation: String =
        shop.query_row("SELECT generation FROM event_outbox_generation", [], |r| r.get(0)).unwrap();
    let relayed: Option<(String, i64)> = ro(&data.join("main.db"))
        .query_row("SELECT generation, relayed_through FROM event_relay WHERE client_id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .ok();
    let through = relayed.filter(|(g, _)| *g == generation).map_or(0, |(_, t)| t);
    let n: i64 = shop.query_row("SELECT COUNT(*) FROM event_outbox WHERE id > ?1", [through], |r| r.get(0)).unwrap();
    n
}

/// Every order in the shop file gets its notice expanded exactly once — one "order placed" mail to
/// its customer in main.db's outbox, none more, none for an order that is not there — within
/// `within` of the restart.
async fn verify_order_events(data: &Path, shop_file: &Path, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let orders: std::collections::BTreeSet<String> = ro(shop_file)
            .prepare("SELECT number FROM orders")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let subjects: Vec<String> = ro(&data.join("main.db"))
            .prepare("SELECT subject FROM mail_outbox WHERE template = 'order_placed' ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // "Your order 1001 at Crash"
        let mailed: Vec<String> =
            subjects.iter().map(|s| s.split_whitespace().nth(2).unwrap_or_default().to_string()).collect();
        let distinct: std::collections::BTreeSet<String> = mailed.iter().cloned().collect();
        assert_eq!(distinct.len(), mailed.len(), "an order's notice was expanded twice: {mailed:?}");
        assert!(distinct.is_subset(&orders), "mail for an order that is not there: {:?}", distinct.difference(&orders));
        if distinct == orders {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} orders never got their mail: {:?}",
            orders.len() - distinct.len(),
            orders.difference(&distinct).take(10).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_checkout_leave_every_order_whole_or_absent() {
    const STOCK: i64 = 100_000;
    let (_tmp, data) = data_dir();
    let buyers: Vec<(String, i64)> = {
        let server = Server::start(&data).await;
        let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
        server.create_shop(&token, "till").await;
        let admin = server.token("till@crash.test", "crash-password").await;
        let post = |path: &str, token: &str, body: Value| {
            server.http.post(format!("{}{path}", server.base)).bearer_auth(token).json(&body).send()
        };
        assert_eq!(
            post("/api/admin/products", &admin, json!({"name": "Tea", "price_cents": 500, "stock": STOCK}))
                .await
                .unwrap()
                .status(),
            StatusCode::CREATED
        );
        // Tax and shipping on every order, so the totals checked below have all their parts.
        let res = server
            .http
            .patch(format!("{}/api/admin/settings", server.base))
            .bearer_auth(&admin)
            .json(&json!({"tax_rate_bp": 1900, "shipping_flat_cents": 495}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            post("/api/admin/coupons", &admin, json!({"code": "CRASH", "kind": "percent", "value": 10}))
                .await
                .unwrap()
                .status(),
            StatusCode::CREATED
        );
        let mut buyers = Vec::new();
        for i in 0..4 {
            let res = server
                .http
                .post(format!("{}/api/shop/auth/register", server.base))
                .header("Host", "till.localhost")
                .json(&json!({"name": "Buyer", "email": format!("b{i}@till.test"), "password": "buyer-password"}))
                .send()
                .await
                .unwrap();
            let token = res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
            let address = post(
                "/api/shop/addresses",
                &token,
                json!({"name": "B", "line1": "1 St", "city": "C", "postal_code": "1", "country": "DE"}),
            )
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["id"]
                .as_i64()
                .unwrap();
            buyers.push((token, address));
        }
        server.kill();
        buyers
    };
    let shop_file = data.join("client_1.db");
    let (mut answered, mut caught, mut left_unrelayed) = (0, 0, 0);
    for round in 0..KILLS {
        if unrelayed(&data, &shop_file) > 0 {
            left_unrelayed += 1;
        }
        let server = Server::start(&data).await;
        verify_orders(&shop_file, STOCK);
        verify_registry_and_files(&server, &data).await;
        verify_order_events(&data, &shop_file, Duration::from_secs(15)).await;
        let mut tasks = Vec::new();
        for (token, address) in buyers.clone() {
            let (http, base) = (server.http.clone(), server.base.clone());
            tasks.push(keep_running(move |i| {
                let (http, base, token) = (http.clone(), base.clone(), token.clone());
                async move {
                    let add = http
                        .post(format!("{base}/api/shop/cart/items"))
                        .bearer_auth(&token)
                        .json(&json!({"product_id": 1, "quantity": 1}))
                        .send()
                        .await;
                    if add.is_err() {
                        return false;
                    }
                    let mut body = json!({"address_id": address});
                    if i % 2 == 0 {
                        body["coupon_code"] = json!("CRASH");
                    }
                    http.post(format!("{base}/api/shop/checkout")).bearer_auth(&token).json(&body).send().await.is_ok()
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(10) + jitter(round, 40)).await;
        let (n, busy) = kill_during(server, tasks).await;
        answered += n;
        caught += busy;
    }
    eprintln!(
        "checkout: {KILLS} kills, {caught} with a checkout in flight, {left_unrelayed} leaving order notices \
         unrelayed, {answered} checkouts answered"
    );
    assert!(caught >= KILLS as u64 / 2, "only {caught} kills caught a checkout in flight");
    assert!(left_unrelayed >= KILLS / 10, "only {left_unrelayed} kills left notices for the restart to find");
    let server = Server::start(&data).await;
    let orders = verify_orders(&shop_file, STOCK);
    verify_registry_and_files(&server, &data).await;
    verify_order_events(&data, &shop_file, Duration::from_secs(15)).await;
    assert!(orders > 0 && answered > 0, "{orders} orders, {answered} answered checkouts");
}

/// With exclusive locking, while the server has a shop open the shop file is locked to the server
/// process: another process gets "database is locked" instead of reading or writing behind the
/// server's back, and the server goes on serving the shop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_exclusive_locking_a_shop_file_the_server_has_open_is_locked_to_it() {
    let (_tmp, data) = data_dir();
    let server = Server::start_with(&data, &[("VERGEFLOW_SHOP_LOCKING", "exclusive")]).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    server.create_shop(&token, "held").await;
    let shop = || server.http.get(format!("{}/api/shop", server.base)).header("Host", "held.localhost").send();
    assert_eq!(shop().await.unwrap().status(), StatusCode::OK);
    let path = data.join("client_1.db");
    let outsider = tokio::task::spawn_blocking(move || {
        let conn = Connection::open(&path).unwrap();
        conn.busy_timeout(Duration::ZERO).unwrap();
        conn.query_row("SELECT COUNT(*) FROM products", [], |r| r.get::<_, i64>(0)).map_err(|e| e.to_string())
    })
    .await
    .unwrap();
    let error = outsider.expect_err("another process read a shop file the server has open");
    assert!(error.contains("locked"), "{error}");
    assert_eq!(shop().await.unwrap().status(), StatusCode::OK);
    server.kill();
}

/// With exclusive locking, files held by another process cost only their own shops: while five
/// shop files are held (more than the threads that open shops), a sixth shop still opens at once,
/// and the held shops answer 503 once the checkout timeout has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_exclusive_locking_files_held_by_another_process_do_not_stall_other_shops() {
    let (_tmp, data) = data_dir();
    let server = Server::start_with(&data, &[("VERGEFLOW_SHOP_LOCKING", "exclusive")]).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    for i in 1..=6 {
        server.create_shop(&token, &format!("s{i}")).await;
    }
    // Five read transactions left open in this process: the server cannot take those files.
    let held: Vec<Connection> = (1..=5)
        .map(|id| {
            let conn = Connection::open(data.join(format!("client_{id}.db"))).unwrap();
            conn.execute_batch("BEGIN").unwrap();
            conn.query_row("SELECT COUNT(*) FROM products", [], |r| r.get::<_, i64>(0)).unwrap();
            conn
        })
        .collect();
    let get = |sub: String| {
        let (http, base) = (server.http.clone(), server.base.clone());
        async move { http.get(format!("{base}/api/shop")).header("Host", format!("{sub}.localhost")).send().await }
    };
    let waiting: Vec<_> = (1..=5).map(|i| tokio::spawn(get(format!("s{i}")))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let free = get("s6".into()).await.unwrap();
    assert_eq!(free.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2), "a free shop waited {:?} behind held files", started.elapsed());
    let held_answer = waiting.into_iter().next().unwrap().await.unwrap().unwrap();
    assert_eq!(held_answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(held_answer.json::<Value>().await.unwrap()["error"], "client_unavailable");
    drop(held);
    assert_eq!(get("s1".into()).await.unwrap().status(), StatusCode::OK);
    server.kill();
}

/// With shared locking (the default), other processes use live shop files the usual SQLite way: a
/// Python process reads a shop the server has open, writes a product the server then serves, and
/// makes a `.backup` copy, while the server goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_shared_locking_other_processes_read_write_and_back_up_live_shop_files() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    server.create_shop(&token, "open").await;
    let products =
        || server.http.get(format!("{}/api/shop/products", server.base)).header("Host", "open.localhost").send();
    assert_eq!(products().await.unwrap().status(), StatusCode::OK);
    let path = data.join("client_1.db");
    let copy = data.parent().unwrap().join("outside-copy.db");
    let script = format!(
        r#"
import sqlite3
c = sqlite3.connect({path:?}, timeout=5)
print(c.execute("SELECT COUNT(*) FROM products").fetchone()[0])
with c:
    c.execute("INSERT INTO products (name, slug, price_cents, stock) VALUES ('Written outside', 'written-outside', 500, 3)")
c.backup(sqlite3.connect({copy:?}))
"#,
        path = path.to_str().unwrap(),
        copy = copy.to_str().unwrap()
    );
    let out = tokio::task::spawn_blocking(move || Command::new("python3").args(["-c", &script]).output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    let body: Value = products().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"][0]["name"], "Written outside", "{body}");
    let copied: i64 = ro(&copy).query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0)).unwrap();
    assert_eq!(copied, 1);
    server.kill();
}
