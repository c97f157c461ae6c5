//! Backups, restore, export and import of a shop, through the API against real files.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use rusqlite::Connection;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestShop, assert_error, spawn_app, spawn_app_with};

async fn add_product(app: &TestApp, shop: &TestShop, name: &str) -> i64 {
    let p = app
        .create(&shop.admin_token, "/api/admin/products", json!({"name": name, "price_cents": 1000, "stock": 50}))
        .await;
    p["id"].as_i64().unwrap()
}

async fn product_names(app: &TestApp, shop: &TestShop) -> Vec<String> {
    let list = app.fetch(&shop.admin_token, "/api/admin/products?per_page=100").await;
    let mut names: Vec<String> =
        list["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

async fn backup(app: &TestApp, id: i64) -> Value {
    let res = app.admin_api(Method::POST, &format!("/api/super-admin/clients/{id}/backups")).send().await.unwrap();
    let job = app.finish_job(res).await;
    assert_eq!(job["status"], "done", "{job}");
    job["result"]["backup"].clone()
}

async fn backups(app: &TestApp, id: i64) -> Vec<Value> {
    let list = app.fetch(&app.super_token, &format!("/api/super-admin/clients/{id}/backups")).await;
    list.as_array().unwrap().clone()
}

async fn restore(app: &TestApp, id: i64, name: &str) -> Value {
    let res = app
        .admin_api(Method::POST, &format!("/api/super-admin/clients/{id}/backups/{name}/restore"))
        .send()
        .await
        .unwrap();
    app.finish_job(res).await
}

fn backup_file(app: &TestApp, id: i64, name: &str) -> PathBuf {
    app.data_dir.join("backups").join(format!("client_{id}")).join(format!("{name}.db"))
}

#[tokio::test]
async fn a_restore_serves_exactly_the_backups_data_and_keeps_the_replaced_data() {
    let app = spawn_app().await;
    let shop = app.create_shop("restored").await;
    let other = app.create_shop("bystander").await;
    add_product(&app, &shop, "Kettle").await;
    add_product(&app, &other, "Bystander lamp").await;

    let made = backup(&app, shop.id).await;
    assert_eq!(made["verified"], true);
    assert_eq!(made["kind"], "manual");
    let list = backups(&app, shop.id).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], made["name"]);
    assert!(list[0]["size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(list[0]["schema_version"], made["schema_version"]);

    add_product(&app, &shop, "Teapot").await;
    add_product(&app, &other, "Bystander rug").await;
    assert_eq!(product_names(&app, &shop).await, ["Kettle", "Teapot"]);

    let job = restore(&app, shop.id, made["name"].as_str().unwrap()).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(product_names(&app, &shop).await, ["Kettle"]);
    assert_eq!(product_names(&app, &other).await, ["Bystander lamp", "Bystander rug"], "another shop was touched");

    // The replaced data is a backup of its own, and restoring it brings the teapot back.
    let pre = job["result"]["pre_restore"]["name"].as_str().unwrap().to_string();
    assert!(pre.starts_with("pre-restore-"), "{pre}");
    let names: Vec<String> = backups(&app, shop.id).await.iter().map(|b| b["name"].as_str().unwrap().into()).collect();
    assert_eq!(names[0], pre, "newest first");
    let job = restore(&app, shop.id, &pre).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(product_names(&app, &shop).await, ["Kettle", "Teapot"]);

    // The shop still takes writes after two swaps, and the download is the backup file itself.
    add_product(&app, &shop, "Cup").await;
    let res = app
        .admin_api(
            Method::GET,
            &format!("/api/super-admin/clients/{}/backups/{}", shop.id, made["name"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/vnd.sqlite3");
    let bytes = res.bytes().await.unwrap();
    assert_eq!(&bytes[..], &std::fs::read(backup_file(&app, shop.id, made["name"].as_str().unwrap())).unwrap()[..]);
}

#[tokio::test]
async fn a_damaged_backup_is_refused_at_restore_and_the_shop_is_left_alone() {
    let app = spawn_app().await;
    let shop = app.create_shop("damaged").await;
    add_product(&app, &shop, "Kettle").await;
    let made = backup(&app, shop.id).await;
    let name = made["name"].as_str().unwrap();
    add_product(&app, &shop, "Teapot").await;

    // One flipped byte inside a table page: integrity_check may well not see it; the checksum does.
    let path = backup_file(&app, shop.id, name);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();

    let job = restore(&app, shop.id, name).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["result"]["error"], "backup_invalid", "{job}");
    assert_eq!(job["result"]["status"], 422);
    assert_eq!(product_names(&app, &shop).await, ["Kettle", "Teapot"]);
    assert!(!app.data_files().iter().any(|f| f.contains("building")), "{:?}", app.data_files());
}

#[tokio::test]
async fn backup_names_are_opaque_and_belong_to_one_shop() {
    let app = spawn_app().await;
    let a = app.create_shop("namea").await;
    let b = app.create_shop("nameb").await;
    let made = backup(&app, a.id).await;
    let name = made["name"].as_str().unwrap();
    for bad in [
        "..%2F..%2Fmain.db".to_string(),
        "%2Fetc%2Fpasswd".to_string(),
        format!("..%2Fclient_{}%2F{name}", a.id),
        format!("{name}.db"),
        "manual-20260101T000000000Z".to_string(),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let res = app
                .admin_api(method.clone(), &format!("/api/super-admin/clients/{}/backups/{bad}", a.id))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {bad}");
        }
    }
    // Shop b does not see shop a's backup under its own id.
    let res =
        app.admin_api(Method::GET, &format!("/api/super-admin/clients/{}/backups/{name}", b.id)).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "backup_not_found").await;
    let res = app
        .admin_api(Method::POST, &format!("/api/super-admin/clients/{}/backups/{name}/restore", b.id))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "backup_not_found").await;
    // Deleting works once.
    let path = format!("/api/super-admin/clients/{}/backups/{name}", a.id);
    assert_eq!(app.admin_api(Method::DELETE, &path).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(app.admin_api(Method::DELETE, &path).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert!(backups(&app, a.id).await.is_empty());
    // Unknown shops are 404 too.
    let res = app.admin_api(Method::GET, "/api/super-admin/clients/999/backups").send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "client_not_found").await;
}

#[tokio::test]
async fn retention_keeps_what_the_rule_says() {
    let app = spawn_app_with(|s| s.backup_keep = "2".parse().unwrap()).await;
    let shop = app.create_shop("pruned").await;
    let mut made = Vec::new();
    for i in 0..4 {
        add_product(&app, &shop, &format!("Product {i}")).await;
        made.push(backup(&app, shop.id).await["name"].as_str().unwrap().to_string());
    }
    let kept: Vec<String> = backups(&app, shop.id).await.iter().map(|b| b["name"].as_str().unwrap().into()).collect();
    assert_eq!(kept, vec![made[3].clone(), made[2].clone()]);
    let folder = app.data_dir.join("backups").join(format!("client_{}", shop.id));
    let mut on_disk = crate::helpers::list_files(&folder);
    on_disk.sort();
    assert_eq!(on_disk.len(), 4, "two databases and two manifests: {on_disk:?}");
}

#[tokio::test]
async fn a_backup_run_copies_only_shops_that_changed() {
    let app = spawn_app().await;
    let shops = [app.create_shop("runa").await, app.create_shop("runb").await, app.create_shop("runc").await];
    let run = |force: bool| {
        let app = &app;
        async move {
            let res =
                app.admin_api(Method::POST, &format!("/api/super-admin/backups?force={force}")).send().await.unwrap();
            let job = app.finish_job(res).await;
            assert_eq!(job["status"], "done", "{job}");
            job["result"].clone()
        }
    };
    let first = run(false).await;
    assert_eq!(
        (first["total"].as_u64(), first["copied"].as_u64(), first["unchanged"].as_u64()),
        (Some(3), Some(3), Some(0))
    );
    assert!(first["main"].as_str().unwrap().starts_with("manual-"));
    let second = run(false).await;
    assert_eq!((second["copied"].as_u64(), second["unchanged"].as_u64()), (Some(0), Some(3)), "{second}");
    // A file touched without a change of contents (what a checkpoint does) is copied, found equal
    // to its last backup, and not kept.
    let touched = app.data_dir.join(format!("client_{}.db", shops[2].id));
    std::fs::File::options()
        .append(true)
        .open(&touched)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let after_touch = run(false).await;
    assert_eq!(
        (after_touch["copied"].as_u64(), after_touch["unchanged"].as_u64()),
        (Some(0), Some(3)),
        "{after_touch}"
    );
    assert_eq!(backups(&app, shops[2].id).await.len(), 1);
    add_product(&app, &shops[1], "Changed").await;
    let third = run(false).await;
    assert_eq!((third["copied"].as_u64(), third["unchanged"].as_u64()), (Some(1), Some(2)), "{third}");
    assert_eq!(backups(&app, shops[1].id).await.len(), 2);
    assert_eq!(backups(&app, shops[0].id).await.len(), 1);
    let forced = run(true).await;
    assert_eq!(forced["copied"].as_u64(), Some(3), "{forced}");
    assert!(app.data_dir.join("backups/main").read_dir().unwrap().count() >= 2);
}

#[tokio::test]
async fn scheduled_backups_look_at_due_shops_and_copy_the_changed_ones() {
    let app = spawn_app().await;
    let a = app.create_shop("scheda").await;
    let b = app.create_shop("schedb").await;
    // Shop a has its own schedule; b follows the global one, which is off in tests.
    let res = app
        .send_as(
            Method::PATCH,
            &app.super_token,
            &format!("/api/super-admin/clients/{}", a.id),
            json!({"backup_every": "1h"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["backup_every"], "1h");
    let res = app
        .send_as(
            Method::PATCH,
            &app.super_token,
            &format!("/api/super-admin/clients/{}", b.id),
            json!({"backup_every": "1x"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let state = app.state.clone();
    let report = tokio::task::spawn_blocking(move || vergeflow::backups::batch::scheduled(&state, &mut |_| {}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((report.total, report.copied), (1, 1), "{report:?}");
    assert_eq!(backups(&app, a.id).await[0]["kind"], "scheduled");
    assert!(backups(&app, b.id).await.is_empty());
    // Just looked at: not due again within the hour.
    let state = app.state.clone();
    let report = tokio::task::spawn_blocking(move || vergeflow::backups::batch::scheduled(&state, &mut |_| {}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.total, 0);
}

async fn export(app: &TestApp, id: i64) -> Vec<u8> {
    let res = app.admin_api(Method::GET, &format!("/api/super-admin/clients/{id}/export")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/vnd.sqlite3");
    res.bytes().await.unwrap().to_vec()
}

async fn import(app: &TestApp, bytes: Vec<u8>, query: &str) -> reqwest::Response {
    app.admin_api(Method::POST, &format!("/api/super-admin/clients/import{query}"))
        .header("content-type", "application/vnd.sqlite3")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_exported_shop_imports_on_another_server_with_its_data_and_accounts() {
    let source = spawn_app().await;
    let shop = source.create_shop("moving").await;
    let kettle = add_product(&source, &shop, "Kettle").await;
    add_product(&source, &shop, "Teapot").await;
    let customer = source.register_customer("moving", "buyer@moving.test").await;
    source.create(&customer, "/api/shop/cart/items", json!({"product_id": kettle, "quantity": 2})).await;
    let address = source
        .create(&customer, "/api/shop/addresses", json!({"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "us"}))
        .await;
    let order = source.create(&customer, "/api/shop/checkout", json!({"address_id": address["id"]})).await;
    let bytes = export(&source, shop.id).await;
    assert!(source.data_dir.join("transfers").read_dir().map_or(0, |d| d.count()) == 0, "the export stayed on disk");

    let target = spawn_app().await;
    target.create_shop("already").await; // the imported shop gets a new id
    let res = import(&target, bytes.clone(), "").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let client: Value = res.json().await.unwrap();
    assert_eq!(client["subdomain"], "moving");
    assert_eq!(client["status"], "active");
    assert_ne!(client["id"].as_i64(), Some(shop.id));

    let admin = target.login_token(&shop.admin_email, "shop-admin-password").await;
    let moved = TestShop {
        id: client["id"].as_i64().unwrap(),
        subdomain: "moving".into(),
        admin_email: shop.admin_email.clone(),
        admin_token: admin,
    };
    assert_eq!(product_names(&target, &moved).await, ["Kettle", "Teapot"]);
    let orders = target.fetch(&moved.admin_token, "/api/admin/orders").await;
    assert!(order["number"].is_string(), "{order}");
    assert_eq!(orders["data"][0]["number"], order["number"], "{orders}");
    let res = target
        .on_shop(Method::POST, "moving", "/api/shop/auth/login")
        .json(&json!({"email": "buyer@moving.test", "password": "customer-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the customer signs in on the new server");
    let hits = target.on_shop(Method::GET, "moving", "/api/shop/products?q=kettle").send().await.unwrap();
    assert_eq!(hits.json::<Value>().await.unwrap()["data"][0]["name"], "Kettle", "search works on the imported file");

    // Same export again: the subdomain (and the admin's e-mail) are taken here.
    let res = import(&target, bytes.clone(), "").await;
    assert_error(res, StatusCode::CONFLICT, "subdomain_taken").await;
    let res = import(&target, bytes, "?subdomain=moving2").await;
    assert_error(res, StatusCode::CONFLICT, "email_taken").await;
    let clients = target.list_clients().await;
    assert_eq!(clients["meta"]["total"], 2, "a refused import left a shop behind: {clients}");
    assert!(!target.data_files().iter().any(|f| f.starts_with("client_3")), "{:?}", target.data_files());
}

/// Rewrites an export file with `sql` run on it (as an attacker with a SQLite shell would).
fn tamper(bytes: &[u8], dir: &Path, sql: &str) -> Vec<u8> {
    let path = dir.join(format!("tampered-{}.db", rand_suffix()));
    std::fs::write(&path, bytes).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    std::fs::read(&path).unwrap()
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[tokio::test]
async fn crafted_import_files_are_refused_and_create_nothing() {
    let app = spawn_app_with(|s| s.import_max_bytes = 2 * 1024 * 1024).await;
    let shop = app.create_shop("crafted").await;
    add_product(&app, &shop, "Kettle").await;
    let good = export(&app, shop.id).await;
    let tmp = tempfile::tempdir().unwrap();
    let plain_backup =
        std::fs::read(backup_file(&app, shop.id, backup(&app, shop.id).await["name"].as_str().unwrap())).unwrap();
    // Delete the original so that a good import would succeed (the subdomain and e-mail are free).
    assert_eq!(
        app.admin_api(Method::DELETE, &format!("/api/super-admin/clients/{}", shop.id)).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not SQLite", b"definitely not a database, just some bytes".repeat(100), "not a SQLite database"),
        ("truncated", good[..good.len() / 2].to_vec(), ""),
        ("a plain backup", plain_backup, "not a VergeFlow export"),
        (
            "an extra trigger",
            tamper(&good, tmp.path(), "CREATE TRIGGER evil AFTER INSERT ON orders BEGIN DELETE FROM products; END;"),
            "trigger 'evil'",
        ),
        ("an extra table", tamper(&good, tmp.path(), "CREATE TABLE notes (x)"), "table 'notes'"),
        ("no shop stamp", tamper(&good, tmp.path(), "DELETE FROM shop"), "no shop stamp"),
        ("an extra view", tamper(&good, tmp.path(), "CREATE VIEW v AS SELECT 1"), "view 'v'"),
        (
            "a changed column",
            tamper(
                &good,
                tmp.path(),
                "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql, 'stock', 'stok') WHERE name = 'products'; PRAGMA writable_schema = OFF;",
            ),
            "products",
        ),
        (
            "an unknown migration",
            tamper(&good, tmp.path(), "UPDATE refinery_schema_history SET checksum = '1' WHERE version = 1"),
            "migration 1",
        ),
        (
            "another format",
            tamper(&good, tmp.path(), "UPDATE vergeflow_export SET value = 'other-9' WHERE key = 'format'"),
            "format",
        ),
        (
            "an admin without a hash",
            tamper(
                &good,
                tmp.path(),
                "UPDATE vergeflow_export SET value = '[{\"name\":\"x\",\"email\":\"x@y.test\",\"password_hash\":\"plain\"}]' WHERE key = 'admins'",
            ),
            "password hash",
        ),
    ];
    for (what, bytes, says) in cases {
        let res = import(&app, bytes, "").await;
        let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "import_invalid").await;
        assert!(body["message"].as_str().unwrap().contains(says), "{what}: {body}");
    }
    let res = import(&app, vec![0u8; 3 * 1024 * 1024], "").await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.list_clients().await["meta"]["total"], 0);
    let files = app.data_files();
    assert!(!files.iter().any(|f| f.starts_with("client_")), "{files:?}");
    assert_eq!(app.data_dir.join("transfers").read_dir().map_or(0, |d| d.count()), 0);

    // The untouched export still imports: the refusals above were about the files, not the server.
    let res = import(&app, good, "?subdomain=crafted-again").await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn deleting_a_shop_removes_its_backups_unless_a_final_backup_is_asked_for() {
    let app = spawn_app().await;
    let gone = app.create_shop("gone").await;
    let kept = app.create_shop("kept").await;
    add_product(&app, &kept, "Kettle").await;
    backup(&app, gone.id).await;
    backup(&app, kept.id).await;
    let backups_dir = app.data_dir.join("backups");

    let res = app.admin_api(Method::DELETE, &format!("/api/super-admin/clients/{}", gone.id)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(!backups_dir.join(format!("client_{}", gone.id)).exists());

    let res = app
        .admin_api(Method::DELETE, &format!("/api/super-admin/clients/{}?final_backup=true", kept.id))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(!backups_dir.join(format!("client_{}", kept.id)).exists());
    let finals: Vec<PathBuf> = backups_dir.join("deleted").read_dir().unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(finals.len(), 1, "{finals:?}");
    assert!(finals[0].to_str().unwrap().contains(&format!("client_{}-", kept.id)));
    let data = app.data_files();
    assert!(!data.iter().any(|f| f.starts_with("client_")), "{data:?}");

    // The final backup is an export: importing it brings the shop back.
    let res = import(&app, std::fs::read(&finals[0]).unwrap(), "").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let admin = app.login_token(&kept.admin_email, "shop-admin-password").await;
    let back = TestShop { id: 0, subdomain: "kept".into(), admin_email: kept.admin_email.clone(), admin_token: admin };
    assert_eq!(product_names(&app, &back).await, ["Kettle"]);

    // Past the keeping period it is purged.
    let purged = vergeflow::backups::transfer::purge_final_exports(&backups_dir, std::time::Duration::ZERO);
    assert_eq!(purged, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restores_under_load_answer_old_or_new_data_or_503_never_a_mix_or_500() {
    let app = spawn_app().await;
    let shop = app.create_shop("loaded").await;
    for i in 0..30 {
        add_product(&app, &shop, &format!("A-{i}")).await;
    }
    let a = backup(&app, shop.id).await["name"].as_str().unwrap().to_string();
    for i in 0..30 {
        add_product(&app, &shop, &format!("B-{i}")).await;
    }
    let ab = backup(&app, shop.id).await["name"].as_str().unwrap().to_string();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, stop) =
                (app.http.clone(), format!("{}/api/shop/products?per_page=100", app.address), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut unavailable) = (0u32, 0u32);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let res = http.get(&url).header("Host", "loaded.localhost").send().await.unwrap();
                    let status = res.status();
                    let body: Value = res.json().await.unwrap();
                    match status {
                        StatusCode::OK => {
                            let names: Vec<&str> =
                                body["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
                            let b = names.iter().filter(|n| n.starts_with("B-")).count();
                            assert!(
                                (names.len() == 30 && b == 0) || (names.len() == 60 && b == 30),
                                "a mix: {} products, {b} of set B",
                                names.len()
                            );
                            ok += 1;
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            assert_eq!(body["error"], "client_unavailable", "{body}");
                            unavailable += 1;
                        }
                        other => panic!("{other}: {body}"),
                    }
                }
                (ok, unavailable)
            })
        })
        .collect();
    let mut windows = Vec::new();
    for i in 0..6 {
        let job = restore(&app, shop.id, if i % 2 == 0 { &a } else { &ab }).await;
        assert_eq!(job["status"], "done", "{job}");
        windows.push(job["result"]["unavailable_ms"].as_u64().unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut unavailable) = (0, 0);
    for r in readers {
        let (o, u) = r.await.unwrap();
        ok += o;
        unavailable += u;
    }
    assert!(ok > 20, "{ok} reads answered");
    eprintln!("restores under load: {ok} reads answered, {unavailable} answered 503, 503 windows {windows:?} ms");
    assert_eq!(product_names(&app, &shop).await.len(), 60);
}

#[tokio::test]
async fn only_super_admins_reach_backups_exports_and_imports_even_of_their_own_shop() {
    let app = spawn_app().await;
    let shop = app.create_shop("ownshop").await;
    let name = backup(&app, shop.id).await["name"].as_str().unwrap().to_string();
    let customer = app.register_customer("ownshop", "buyer@ownshop.test").await;
    let id = shop.id;
    let calls: Vec<(Method, String)> = vec![
        (Method::POST, format!("/api/super-admin/clients/{id}/backups")),
        (Method::GET, format!("/api/super-admin/clients/{id}/backups")),
        (Method::GET, format!("/api/super-admin/clients/{id}/backups/{name}")),
        (Method::DELETE, format!("/api/super-admin/clients/{id}/backups/{name}")),
        (Method::POST, format!("/api/super-admin/clients/{id}/backups/{name}/restore")),
        (Method::POST, "/api/super-admin/backups".to_string()),
        (Method::GET, format!("/api/super-admin/clients/{id}/export")),
        (Method::POST, "/api/super-admin/clients/import".to_string()),
        (Method::GET, "/api/super-admin/jobs/1".to_string()),
    ];
    for (method, path) in calls {
        for token in [&shop.admin_token, &customer] {
            let res = app.as_user(method.clone(), token, &path).send().await.unwrap();
            assert!(
                matches!(res.status(), StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED),
                "{method} {path}: {}",
                res.status()
            );
        }
        let res = app.request(method.clone(), &path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path} without a token");
    }
    assert_eq!(backups(&app, id).await.len(), 1, "a refused call changed something");
}

/// Welcome mails in main.db's outbox, by address.
fn welcomes(app: &TestApp) -> Vec<String> {
    let main = Connection::open(app.data_dir.join("main.db")).unwrap();
    main.prepare("SELECT to_addr FROM mail_outbox WHERE template = 'customer_welcome' ORDER BY to_addr")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn wait_welcomes(app: &TestApp, want: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while welcomes(app) != want {
        assert!(std::time::Instant::now() < deadline, "welcome mails {:?}, want {want:?}", welcomes(app));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A restored file holds an older copy of the shop's event outbox: what it held is not sent again,
/// and what the shop records after the restore is sent even though its row ids were used before.
#[tokio::test]
async fn after_a_restore_the_shops_new_events_are_sent_and_its_old_ones_not_again() {
    let app = spawn_app().await;
    let shop = app.create_shop("relayed").await;
    app.register_customer("relayed", "one@relayed.test").await;
    wait_welcomes(&app, &["one@relayed.test"]).await;
    let made = backup(&app, shop.id).await;
    app.register_customer("relayed", "two@relayed.test").await;
    app.register_customer("relayed", "three@relayed.test").await;
    wait_welcomes(&app, &["one@relayed.test", "three@relayed.test", "two@relayed.test"]).await;

    let job = restore(&app, shop.id, made["name"].as_str().unwrap()).await;
    assert_eq!(job["status"], "done", "{job}");
    app.register_customer("relayed", "four@relayed.test").await;
    wait_welcomes(&app, &["four@relayed.test", "one@relayed.test", "three@relayed.test", "two@relayed.test"]).await;
    // And nothing more arrives (the restored file's own row for "one" is not relayed again).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(welcomes(&app).len(), 4, "{:?}", welcomes(&app));
}
