//! Fleet migrations with a real next schema version (below, "V2" is the built-in version and "V3"
//! the next one, the built-in latest and one more): the real binary, given the next version's fixture in
//! `tests/fixtures/client_next` through VERGEFLOW_EXTRA_CLIENT_MIGRATIONS, migrates V2 shops on first
//! open and as a batch (with a canary), records a shop whose data violates V3 and leaves it whole at
//! V2; an older binary refuses V3 files (without marking them failed). Then SIGKILL in the middle
//! of fleet runs, twelve rounds.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use rusqlite::Connection;
use serde_json::{Value, json};

use crate::crash::{Server, data_dir, jitter, ro};
use crate::crash_backups::{drain_queue, wait_job};
use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD};

/// The built-in schema version ("V2" below) and the fixture's ("V3").
fn cur() -> i64 {
    vergeflow::db::migrations::latest_client_version()
}
fn next() -> i64 {
    cur() + 1
}

/// `{"<version>": shops, …}` as the migrations summary counts them.
fn by_version(counts: &[(i64, i64)]) -> Value {
    Value::Object(counts.iter().map(|(v, n)| (v.to_string(), json!(n))).collect())
}

/// The next version's fixture, numbered one past the built-in migrations (so new built-in
/// migrations never collide with it), in a folder of its own.
fn with_v3() -> [(&'static str, &'static str); 1] {
    static DIR: std::sync::OnceLock<(tempfile::TempDir, String)> = std::sync::OnceLock::new();
    let (_, path) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/client_next/gtin_and_unique_names.sql");
        std::fs::copy(fixture, dir.path().join(format!("V{}__gtin_and_unique_names.sql", next()))).unwrap();
        let path = dir.path().to_str().unwrap().to_string();
        (dir, path)
    });
    [("VERGEFLOW_EXTRA_CLIENT_MIGRATIONS", path.as_str())]
}

/// (file version, has V3's column, has V3's index, has V3's table): a V2 file has none, a V3 all.
fn file_state(path: &Path) -> (i64, bool, bool, bool) {
    let conn = ro(path);
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok", "{}", path.display());
    let has = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, bool>(0)).unwrap();
    (
        vergeflow::db::migrations::client_version(&conn).unwrap(),
        has("SELECT EXISTS (SELECT 1 FROM pragma_table_info('products') WHERE name = 'gtin')"),
        has("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'products_name_unique')"),
        has("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'product_gtins_seen')"),
    )
}

/// Asserts a file is whole at V2 or V3 and returns its version.
fn whole_version(path: &Path) -> i64 {
    match file_state(path) {
        (v, false, false, false) if v == cur() => v,
        (v, true, true, true) if v == next() => v,
        other => panic!("{} is between versions: {other:?}", path.display()),
    }
}

/// (id, schema_version, migration_error, migration_running) of every client in the registry.
fn ledger(data: &Path) -> Vec<(i64, i64, Option<String>, i64)> {
    let main = ro(&data.join("main.db"));
    let mut stmt =
        main.prepare("SELECT id, schema_version, migration_error, migration_running FROM clients ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Adds `n` products straight into a stopped server's shop file (names `<prefix>-<i>`).
fn add_products(path: &Path, prefix: &str, n: usize) {
    let mut conn = Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    for i in 0..n {
        tx.execute(
            "INSERT INTO products (name, slug, price_cents, stock) VALUES (?1, ?2, 100, 1)",
            [format!("{prefix}-{i}"), format!("{prefix}-{i}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

async fn get(server: &Server, token: &str, path: &str) -> (StatusCode, Value) {
    let res = server.http.get(format!("{}{path}", server.base)).bearer_auth(token).send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

async fn shop_products(server: &Server, sub: &str) -> (StatusCode, Value) {
    server.shop_get(sub, "/api/shop/products").await
}

async fn start_fleet_run(server: &Server, token: &str, query: &str) -> Value {
    let res = server
        .http
        .post(format!("{}/api/super-admin/migrations{query}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let job = wait_job(&server.http, &server.base, token, res).await.unwrap();
    assert_eq!(job["status"], "done", "{job}");
    job["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_v3_migrates_on_first_open_and_in_batches_records_failures_and_older_binaries_refuse_v3() {
    let (_tmp, data) = data_dir();
    // Four V2 shops; "dup" holds two products with one name, which V3's unique index refuses.
    let server = Server::start(&data).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    for sub in ["first", "second", "dup", "fourth"] {
        server.create_shop(&token, sub).await;
    }
    server.kill();
    add_products(&data.join("client_1.db"), "kettle", 3);
    add_products(&data.join("client_3.db"), "same", 2);
    Connection::open(data.join("client_3.db")).unwrap().execute("UPDATE products SET name = 'same'", []).unwrap();

    let server = Server::start_with(&data, &with_v3()).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    let (status, summary) = get(&server, &token, "/api/super-admin/migrations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(summary["target_version"], next());
    assert_eq!(summary["shops_by_version"], by_version(&[(cur(), 4)]));
    assert_eq!(summary["failed"], json!([]));

    // Policy for older files: migrated on first open, then served.
    let (status, products) = shop_products(&server, "first").await;
    assert_eq!(status, StatusCode::OK, "{products}");
    assert_eq!(products["meta"]["total"], 3);
    assert_eq!(whole_version(&data.join("client_1.db")), next());
    let (_, client) = get(&server, &token, "/api/super-admin/clients/1").await;
    assert_eq!((client["schema_version"].as_i64(), client["migration_error"].clone()), (Some(next()), Value::Null));

    // A failing canary stops the run before any other shop is touched.
    let report = start_fleet_run(&server, &token, "?canary=3").await;
    assert_eq!(report["stopped_by_canary"], true, "{report}");
    assert_eq!(report["failed"][0]["client_id"], 3);
    assert!(report["failed"][0]["error"].as_str().unwrap().contains("UNIQUE"), "{report}");
    assert_eq!(whole_version(&data.join("client_2.db")), cur(), "the canary's failure left the others alone");
    assert_eq!(whole_version(&data.join("client_3.db")), cur(), "the failed shop is untouched");

    // Without a canary, the run goes past the failing shop.
    let report = start_fleet_run(&server, &token, "").await;
    assert_eq!((report["migrated"].as_u64(), report["already_current"].as_u64()), (Some(2), Some(1)), "{report}");
    assert_eq!(report["failed"].as_array().unwrap().len(), 1, "{report}");
    for (id, version) in [(1, next()), (2, next()), (3, cur()), (4, next())] {
        assert_eq!(whole_version(&data.join(format!("client_{id}.db"))), version, "client {id}");
    }
    let (_, summary) = get(&server, &token, "/api/super-admin/migrations").await;
    assert_eq!(summary["shops_by_version"], by_version(&[(cur(), 1), (next(), 3)]));
    assert_eq!(summary["failed"][0]["client_id"], 3, "{summary}");
    assert_eq!(summary["failed"][0]["version"], cur());
    assert!(summary["failed"][0]["at"].is_string());
    assert!(summary["running"].is_null());
    let (_, client) = get(&server, &token, "/api/super-admin/clients/3").await;
    assert!(client["migration_error"].as_str().unwrap().contains("UNIQUE"), "{client}");
    // The failed shop is not served by code expecting V3, and says so without internals.
    let (status, body) = shop_products(&server, "dup").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("client_unavailable")));
    assert!(!body["message"].as_str().unwrap().contains("UNIQUE"), "{body}");

    // Fixed by hand (shared locking lets sqlite3 in), one shop is migrated alone and served again.
    Connection::open(data.join("client_3.db"))
        .unwrap()
        .execute("UPDATE products SET name = 'other' WHERE id = (SELECT MAX(id) FROM products)", [])
        .unwrap();
    let res = server
        .http
        .post(format!("{}/api/super-admin/clients/3/migrate", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["applied"], json!([next()]));
    assert_eq!(body["client"]["migration_error"], Value::Null);
    assert_eq!(shop_products(&server, "dup").await.0, StatusCode::OK);
    server.kill();

    // An older binary (without V3) refuses V3 files with a clear message instead of serving them.
    let server = Server::start(&data).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    let (status, body) = shop_products(&server, "first").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["message"].as_str().unwrap().contains("newer VergeFlow"), "{body}");
    let (_, summary) = get(&server, &token, "/api/super-admin/migrations").await;
    assert_eq!(
        (summary["target_version"].as_i64(), summary["shops_by_version"].clone()),
        (Some(cur()), by_version(&[(next(), 4)]))
    );
    server.kill();

    // Its CLI names every shop it cannot migrate, with the reason, and fails.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vergeflow"))
        .args(["migrate", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (id, sub) in [(1, "first"), (2, "second"), (3, "dup"), (4, "fourth")] {
        assert!(stderr.contains(&format!("shop {id} ({sub}): ")), "{stderr}");
    }
    assert!(stderr.contains(&format!("newer than this server's {}", cur())), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("0 migrated, 0 already at version {}, 4 failed", cur()))
    );

    // None of that marked the shops failed: the V3 binary serves them again at once.
    let server = Server::start_with(&data, &with_v3()).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    assert_eq!(shop_products(&server, "first").await.0, StatusCode::OK);
    let (_, summary) = get(&server, &token, "/api/super-admin/migrations").await;
    assert_eq!(
        (summary["shops_by_version"].clone(), summary["failed"].clone()),
        (by_version(&[(next(), 4)]), json!([]))
    );
    // A run with a current canary counts every shop once.
    let report = start_fleet_run(&server, &token, "?canary=1").await;
    assert_eq!((report["migrated"].as_u64(), report["already_current"].as_u64()), (Some(0), Some(4)), "{report}");
}

const ROUNDS: usize = 12;
const SHOPS_PER_ROUND: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_fleet_migrations_leave_every_shop_whole_at_one_version_and_the_ledger_agreeing() {
    let (_tmp, data) = data_dir();
    let (mut caught_between, mut shops) = (0usize, 0usize);
    for round in 0..ROUNDS {
        // New V2 shops from the V2 binary, made slow enough to migrate that kills land inside runs.
        let server = Server::start(&data).await;
        let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
        for i in 0..SHOPS_PER_ROUND {
            server.create_shop(&token, &format!("r{round}s{i}")).await;
        }
        server.kill();
        for _ in 0..SHOPS_PER_ROUND {
            shops += 1;
            add_products(&data.join(format!("client_{shops}.db")), "item", 4000);
        }

        // A fleet run killed somewhere in the middle.
        let server = Server::start_with(&data, &with_v3()).await;
        let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
        let res = server
            .http
            .post(format!("{}/api/super-admin/migrations", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let job: Value = res.json().await.unwrap();
        let job_path = format!("/api/super-admin/jobs/{}", job["job"]["id"]);
        while get(&server, &token, &job_path).await.1["status"] == "pending" {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(jitter(round, 24)).await;
        server.kill();

        // What the kill left: every file whole at V2 or V3 (read before any process opens it again).
        let versions: Vec<i64> = (1..=shops).map(|id| whole_version(&data.join(format!("client_{id}.db")))).collect();
        if versions.contains(&cur()) && versions.contains(&next()) {
            caught_between += 1;
        }
        // After the restart (and any run queued before the kill), the ledger agrees with the files.
        let server = Server::start_with(&data, &with_v3()).await;
        drain_queue(&data).await;
        for (id, recorded, error, running) in ledger(&data) {
            assert_eq!(running, 0, "round {round}: client {id} still marked running");
            assert_eq!(error, None, "round {round}: client {id}");
            let file = whole_version(&data.join(format!("client_{id}.db")));
            assert_eq!(recorded, file, "round {round}: the ledger disagrees with client {id}'s file");
        }
        // Then the run is finished, and every shop is served at V3.
        let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
        let report = start_fleet_run(&server, &token, "").await;
        assert_eq!(report["failed"], json!([]), "{report}");
        for id in 1..=shops {
            assert_eq!(whole_version(&data.join(format!("client_{id}.db"))), next());
        }
        assert_eq!(shop_products(&server, &format!("r{round}s0")).await.0, StatusCode::OK);
        server.kill();
    }
    // The kills must have landed inside runs, not only before or after them.
    assert!(caught_between >= 2, "only {caught_between} of {ROUNDS} kills fell inside a fleet run");
}
