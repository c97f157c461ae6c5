//! Regions (data residency): shops created in a named storage root live there; a move copies,
//! verifies and switches with a short 503 while the shop is under load, losing no acknowledged
//! write; deletion, backups and restores follow the shop's region; and SIGKILL during moves,
//! twelve rounds, always leaves exactly one whole copy, in the folder the registry names.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::crash::{Server, data_dir, jitter, ro};
use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD, TestApp, assert_error, spawn_app_with};

fn roots_of(data: &Path) -> (PathBuf, PathBuf) {
    let base = data.parent().unwrap();
    (base.join("region-eu"), base.join("region-us"))
}

/// Every `client_<id>.db` (with its folder) in the data folder and both regions.
fn copies(data: &Path, id: i64) -> Vec<PathBuf> {
    let (eu, us) = roots_of(data);
    [data.to_path_buf(), eu, us]
        .into_iter()
        .map(|dir| dir.join(format!("client_{id}.db")))
        .filter(|p| p.exists())
        .collect()
}

async fn create_in(app: &TestApp, sub: &str, region: Value) -> (StatusCode, Value) {
    let res = app
        .admin_api(Method::POST, "/api/super-admin/clients")
        .json(&json!({"name": sub, "subdomain": sub, "admin_email": format!("admin@{sub}.test"),
                      "admin_password": "shop-admin-password", "region": region}))
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn move_to(app: &TestApp, id: i64, region: Value) -> Value {
    let res = app
        .admin_api(Method::POST, &format!("/api/super-admin/clients/{id}/move"))
        .json(&json!({ "region": region }))
        .send()
        .await
        .unwrap();
    let job = app.finish_job(res).await;
    assert_eq!(job["status"], "done", "{job}");
    job["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shops_live_in_their_region_and_move_under_load_without_losing_a_write() {
    let app = spawn_app_with(|s| {
        let (eu, us) = roots_of(&s.data_dir);
        s.storage_roots = vec![("eu".into(), eu), ("us".into(), us)];
    })
    .await;
    let (eu, us) = roots_of(&app.data_dir);
    let regions = app.fetch(&app.super_token, "/api/super-admin/regions").await;
    let names: Vec<Value> = regions["data"].as_array().unwrap().iter().map(|r| r["name"].clone()).collect();
    assert_eq!(names, [Value::Null, json!("eu"), json!("us")]);

    // Created in a region, the file is there and nowhere else; an unknown region is refused.
    let (status, shop) = create_in(&app, "euroshop", json!("eu")).await;
    assert_eq!((status, shop["region"].as_str()), (StatusCode::CREATED, Some("eu")), "{shop}");
    let id = shop["id"].as_i64().unwrap();
    assert_eq!(copies(&app.data_dir, id), [eu.join(format!("client_{id}.db"))]);
    let (status, err) = create_in(&app, "marsshop", json!("mars")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err["fields"]["region"].as_str().unwrap().contains("eu, us"), "{err}");
    assert!(!app.list_clients().await.to_string().contains("marsshop"));
    let (_, home) = create_in(&app, "homeshop", Value::Null).await;
    let home_id = home["id"].as_i64().unwrap();
    assert_eq!(copies(&app.data_dir, home_id), [app.data_dir.join(format!("client_{home_id}.db"))]);
    let regions = app.fetch(&app.super_token, "/api/super-admin/regions").await;
    assert_eq!(regions["data"][1]["shops"], 1);

    let admin = app.login_token("admin@euroshop.test", "shop-admin-password").await;
    for i in 0..300 {
        app.create(&admin, "/api/admin/products", json!({"name": format!("Seed {i}"), "price_cents": 100})).await;
    }

    // Writers and readers hammer the shop while it moves from eu to us: every answer is a success
    // or a 503 `client_unavailable`, and every acknowledged write is in the moved file.
    let stop = Arc::new(AtomicBool::new(false));
    let (created, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for worker in 0..3 {
        let (http, base, admin) = (app.http.clone(), app.address.clone(), admin.clone());
        let (stop, created, refused) = (stop.clone(), created.clone(), refused.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let res = if worker == 0 {
                    http.get(format!("{base}/api/shop/products?per_page=5"))
                        .header("Host", "euroshop.localhost")
                        .send()
                        .await
                } else {
                    http.post(format!("{base}/api/admin/products"))
                        .bearer_auth(&admin)
                        .json(&json!({"name": format!("Load {worker}-{n}"), "price_cents": 100}))
                        .send()
                        .await
                }
                .unwrap();
                match res.status() {
                    StatusCode::OK => {}
                    StatusCode::CREATED => {
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        let body: Value = res.json().await.unwrap();
                        assert_eq!(body["error"], "client_unavailable", "{body}");
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    other => panic!("{other} during the move: {}", res.text().await.unwrap()),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = move_to(&app, id, json!("us")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str(), report["already_there"].as_bool()),
        (Some("eu"), Some("us"), Some(false))
    );
    assert!(report["size_bytes"].as_u64().unwrap() > 0, "{report}");
    eprintln!(
        "move under load: {} ms unavailable, {} bytes, {} writes acknowledged, {} requests refused with 503",
        report["unavailable_ms"],
        report["size_bytes"],
        created.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    assert!(created.load(Ordering::Relaxed) > 0, "the load made no writes");
    assert_eq!(copies(&app.data_dir, id), [us.join(format!("client_{id}.db"))], "the old copy is gone");
    assert!(!eu.join(format!("client_{id}.db-wal")).exists());
    let products = app.fetch(&admin, "/api/admin/products?per_page=1").await;
    assert_eq!(products["meta"]["total"].as_u64().unwrap() as usize, 300 + created.load(Ordering::Relaxed));
    assert_eq!(app.fetch(&app.super_token, &format!("/api/super-admin/clients/{id}")).await["region"], "us");

    // Moving to where it is does nothing; unknown regions and shops are refused; back home works.
    assert_eq!(move_to(&app, id, json!("us")).await["already_there"], true);
    let res = app
        .admin_api(Method::POST, &format!("/api/super-admin/clients/{id}/move"))
        .json(&json!({"region": "mars"}))
        .send()
        .await
        .unwrap();
    assert!(
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await["fields"]["region"].is_string()
    );
    let res = app
        .admin_api(Method::POST, &format!("/api/super-admin/clients/{id}/move"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .admin_api(Method::POST, "/api/super-admin/clients/999/move")
        .json(&json!({"region": "eu"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "client_not_found").await;
    move_to(&app, id, Value::Null).await;
    assert_eq!(copies(&app.data_dir, id), [app.data_dir.join(format!("client_{id}.db"))]);
    move_to(&app, id, json!("eu")).await;

    // Backups and restores follow the region: a restore puts the file back in eu.
    let res = app.admin_api(Method::POST, &format!("/api/super-admin/clients/{id}/backups")).send().await.unwrap();
    let backup = app.finish_job(res).await;
    assert_eq!(backup["status"], "done", "{backup}");
    let name = backup["result"]["backup"]["name"].as_str().or(backup["result"]["name"].as_str()).unwrap().to_string();
    let doomed = app.create(&admin, "/api/admin/products", json!({"name": "After the backup", "price_cents": 1})).await;
    let res = app
        .admin_api(Method::POST, &format!("/api/super-admin/clients/{id}/backups/{name}/restore"))
        .send()
        .await
        .unwrap();
    assert_eq!(app.finish_job(res).await["status"], "done");
    assert_eq!(copies(&app.data_dir, id), [eu.join(format!("client_{id}.db"))]);
    let res = app.as_user(Method::GET, &admin, &format!("/api/admin/products/{}", doomed["id"])).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "the restore brought the backup's data");

    // The other shop was never touched; deletion removes the region's file.
    let home_admin = app.login_token("admin@homeshop.test", "shop-admin-password").await;
    assert_eq!(app.fetch(&home_admin, "/api/admin/products").await["meta"]["total"], 0);
    let res = app.admin_api(Method::DELETE, &format!("/api/super-admin/clients/{id}")).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    if res.status() == StatusCode::ACCEPTED {
        app.finish_job(res).await;
    }
    assert_eq!(copies(&app.data_dir, id), Vec::<PathBuf>::new());
}

const ROUNDS: usize = 12;

/// Where the registry says shop 1 lives, read straight from main.db.
fn registered_dir(data: &Path) -> PathBuf {
    let region: Option<String> =
        ro(&data.join("main.db")).query_row("SELECT region FROM clients WHERE id = 1", [], |r| r.get(0)).unwrap();
    let (eu, us) = roots_of(data);
    match region.as_deref() {
        None => data.to_path_buf(),
        Some("eu") => eu,
        Some("us") => us,
        Some(other) => panic!("unknown region {other}"),
    }
}

fn products_in(path: &Path) -> i64 {
    let conn = ro(path);
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok", "{}", path.display());
    conn.query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_moves_leave_one_whole_copy_where_the_registry_points() {
    let (_tmp, data) = data_dir();
    let (eu, us) = roots_of(&data);
    let roots = format!("eu={},us={}", eu.display(), us.display());
    let env = [("VERGEFLOW_STORAGE_ROOTS", roots.as_str())];
    let server = Server::start_with(&data, &env).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    server.create_shop(&token, "mover").await;
    server.kill();
    // Big enough (a few MB) that a move takes long enough for kills to land inside it.
    {
        let conn = rusqlite::Connection::open(data.join("client_1.db")).unwrap();
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO products (name, slug, description, price_cents, stock)
             SELECT 'Item ' || i, 'item-' || i, printf('%.200c', 'x'), 100, 5 FROM n;",
        )
        .unwrap();
    }
    let mut expected = products_in(&data.join("client_1.db"));
    let (mut caught_inside, mut caught_after_switch) = (0, 0);
    for round in 0..ROUNDS {
        let server = Server::start_with(&data, &env).await;
        let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
        let admin = server.token("mover@crash.test", "crash-password").await;
        // An acknowledged write before each move, which must survive whatever the kill interrupts.
        let res = server
            .http
            .post(format!("{}/api/admin/products", server.base))
            .bearer_auth(&admin)
            .json(&json!({"name": format!("Round {round}"), "price_cents": 100}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        expected += 1;
        let here: Option<String> =
            ro(&data.join("main.db")).query_row("SELECT region FROM clients WHERE id = 1", [], |r| r.get(0)).unwrap();
        let to = match here.as_deref() {
            Some("eu") => json!("us"),
            Some("us") => Value::Null,
            _ => json!("eu"),
        };
        let res = server
            .http
            .post(format!("{}/api/super-admin/clients/1/move", server.base))
            .bearer_auth(&token)
            .json(&json!({ "region": to }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        tokio::time::sleep(jitter(round, 40)).await;
        server.kill();

        // Before any restart: the registry names a folder holding a whole copy with every write.
        let home = registered_dir(&data);
        let found = copies(&data, 1);
        assert!(
            found.contains(&home.join("client_1.db")),
            "round {round}: the registry points at a missing file: {found:?}"
        );
        assert_eq!(products_in(&home.join("client_1.db")), expected, "round {round}");
        let building = [data.clone(), eu.clone(), us.clone()].iter().any(|d| d.join("client_1.db.building").exists());
        if building || found.len() > 1 {
            caught_inside += 1;
            let switched: Option<String> = ro(&data.join("main.db"))
                .query_row("SELECT region FROM clients WHERE id = 1", [], |r| r.get(0))
                .unwrap();
            if switched != here {
                caught_after_switch += 1;
            }
        }

        // After the restart (start-up removes what the kill left; the move's job, put back on the
        // queue, runs again or finds the shop already there): one copy, where the registry points,
        // served with every write.
        let server = Server::start_with(&data, &env).await;
        let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let jobs: Value = server
                .http
                .get(format!("{}/api/super-admin/jobs?kind=move_client", server.base))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let open =
                jobs["data"].as_array().unwrap().iter().any(|j| j["status"] == "pending" || j["status"] == "running");
            if !open {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "round {round}: the move did not finish: {jobs}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let home = registered_dir(&data);
        assert_eq!(copies(&data, 1), [home.join("client_1.db")], "round {round}: exactly one copy");
        let (status, body) = server.shop_get("mover", "/api/shop/products?per_page=1").await;
        assert_eq!(status, StatusCode::OK, "round {round}: {body}");
        assert_eq!(body["meta"]["total"].as_i64(), Some(expected), "round {round}");
        server.kill();
    }
    eprintln!(
        "kills during moves: {caught_inside} of {ROUNDS} landed inside a move, {caught_after_switch} of them after the switch"
    );
    assert!(caught_inside >= 2, "only {caught_inside} of {ROUNDS} kills fell inside a move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_removes_the_copies_and_half_built_files_a_move_left_in_other_roots() {
    let with_roots = |s: &mut vergeflow::config::Settings| {
        let (eu, us) = roots_of(&s.data_dir);
        s.storage_roots = vec![("eu".into(), eu), ("us".into(), us)];
    };
    let app = spawn_app_with(with_roots).await;
    let (eu, us) = roots_of(&app.data_dir);
    let (_, shop) = create_in(&app, "leftover", json!("eu")).await;
    let id = shop["id"].as_i64().unwrap();
    let admin = app.login_token("admin@leftover.test", "shop-admin-password").await;
    app.create(&admin, "/api/admin/products", json!({"name": "Kept", "price_cents": 100})).await;
    let (data, tmp) = app.stop().await;
    // What a kill leaves: the copy a move made before its switch (or the one it left after), a
    // sidecar with it, and a half-built copy in the third root. The registry names eu.
    let live = eu.join(format!("client_{id}.db"));
    std::fs::copy(&live, data.join(format!("client_{id}.db"))).unwrap();
    std::fs::write(data.join(format!("client_{id}.db-shm")), b"stale").unwrap();
    std::fs::copy(&live, us.join(format!("client_{id}.db.building"))).unwrap();
    // A file of no shop in a region's folder is set aside, as in the data folder.
    std::fs::copy(&live, us.join("client_999.db")).unwrap();

    // doctor (read-only) names each of them first.
    let roots = format!("eu={},us={}", eu.display(), us.display());
    let doctor = |roots: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vergeflow"))
            .args(["doctor", "--json", "--data-dir", data.to_str().unwrap()])
            .env("VERGEFLOW_STORAGE_ROOTS", roots)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut found: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            // Free disk space is the machine's, not this test's subject.
            .filter(|f| f["check"] != "disk")
            .map(|f| format!("{} {}", f["check"].as_str().unwrap(), f["file"].as_str().unwrap_or("-")))
            .collect();
        found.sort();
        found
    };
    let us_file = |name: &str| us.join(name).display().to_string();
    assert_eq!(
        doctor(&roots),
        [
            format!("building_file {}", us_file(&format!("client_{id}.db.building"))),
            format!("orphan {}", us_file("client_999.db")),
            format!("stray_copy client_{id}.db"),
            format!("stray_copy client_{id}.db-shm"),
        ]
    );
    // Without eu configured, doctor says so and the server refuses to start, naming shop and region.
    assert!(doctor("").contains(&"unknown_region -".to_string()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vergeflow"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
        .env("VERGEFLOW_ADMIN_PASSWORD", "super-secret-password")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("client {id} lives in region 'eu'")), "{stderr}");

    let app = crate::helpers::spawn_on(&data, with_roots).await;
    assert_eq!(copies(&data, id), [live]);
    assert!(!data.join(format!("client_{id}.db-shm")).exists());
    assert!(!us.join(format!("client_{id}.db.building")).exists());
    assert!(!us.join("client_999.db").exists() && us.join("orphans").exists(), "moved aside in its own root");
    let admin = app.login_token("admin@leftover.test", "shop-admin-password").await;
    assert_eq!(app.fetch(&admin, "/api/admin/products").await["meta"]["total"], 1);
    drop(tmp);
}
