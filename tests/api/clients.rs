use reqwest::{Method, StatusCode};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use crate::helpers::{JsonBody, assert_error, spawn_app};

fn client_tables(path: &std::path::Path) -> Vec<String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[tokio::test]
async fn provisioning_creates_a_migrated_shop_file_and_its_admin() {
    let app = spawn_app().await;

    let res = app
        .create_client(&json!({
            "name": "Vault 64", "subdomain": "vault64", "admin_email": "owner@vault64.test",
            "admin_password": "correct horse battery"
        }))
        .await;

    assert_eq!(res.status(), StatusCode::CREATED);
    let client: Value = res.json().await.unwrap();
    let id = client["id"].as_i64().unwrap();
    assert_eq!(client["status"], "active");
    assert_eq!(client["database"], format!("client_{id}.db"));
    assert_eq!(client["schema_version"], vergeflow::db::migrations::latest_client_version());
    let path = app.data_dir.join(format!("client_{id}.db"));
    assert!(path.exists(), "the shop file exists");
    let tables = client_tables(&path);
    for table in [
        "addresses",
        "cart_items",
        "categories",
        "coupons",
        "customers",
        "order_items",
        "orders",
        "product_reviews",
        "products",
        "recently_viewed",
        "shop",
        "users",
    ] {
        assert!(tables.contains(&table.to_string()), "{table} missing from {tables:?}");
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let stamp: i64 = conn.query_row("SELECT client_id FROM shop", [], |r| r.get(0)).unwrap();
    assert_eq!(stamp, id);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    // The admin was created in the main registry and belongs to this shop.
    let login: Value = app.login("owner@vault64.test", "correct horse battery").await.json().await.unwrap();
    assert_eq!(login["user"]["role"], "admin");
    assert_eq!(login["user"]["client_id"], id);
    assert!(!app.data_files().iter().any(|f| f.contains("building")));
}

#[tokio::test]
async fn deletion_removes_the_file_sidecars_admins_and_tokens() {
    let app = spawn_app().await;
    let shop = app.create_shop("doomed").await;
    let keep = app.create_shop("kept").await;
    // Open the file so -wal and -shm exist.
    assert_eq!(app.shop_by_host("doomed.localhost").await.status(), StatusCode::OK);
    assert!(app.data_files().contains(&format!("client_{}.db-wal", shop.id)));

    let res = app.admin_api(Method::DELETE, &format!("/api/super-admin/clients/{}", shop.id)).send().await.unwrap();

    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        !app.data_files().iter().any(|f| f.starts_with(&format!("client_{}.", shop.id))),
        "files left: {:?}",
        app.data_files()
    );
    assert_error(
        app.admin_api(Method::GET, &format!("/api/super-admin/clients/{}", shop.id)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "client_not_found",
    )
    .await;
    assert_error(
        app.login(&shop.admin_email, "shop-admin-password").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let me = app.get("/api/auth/me").bearer_auth(&shop.admin_token).send().await.unwrap();
    assert_error(me, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_error(app.shop_by_host("doomed.localhost").await, StatusCode::NOT_FOUND, "client_not_found").await;
    // The other shop is untouched.
    assert_eq!(app.shop_by_host("kept.localhost").await.status(), StatusCode::OK);
    assert!(app.data_dir.join(format!("client_{}.db", keep.id)).exists());
    // Deleting again is a clean 404.
    let again = app.admin_api(Method::DELETE, &format!("/api/super-admin/clients/{}", shop.id)).send().await.unwrap();
    assert_error(again, StatusCode::NOT_FOUND, "client_not_found").await;
}

#[tokio::test]
async fn suspend_rename_and_custom_domain_take_effect_at_once() {
    let app = spawn_app().await;
    let shop = app.create_shop("acme").await;
    let path = format!("/api/super-admin/clients/{}", shop.id);
    assert_eq!(app.shop_by_host("acme.localhost").await.status(), StatusCode::OK);

    let res = app.admin_api(Method::PATCH, &path).json(&json!({"status": "suspended"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(app.shop_by_host("acme.localhost").await, StatusCode::SERVICE_UNAVAILABLE, "client_unavailable").await;

    let res = app
        .admin_api(Method::PATCH, &path)
        .json(&json!({"status": "active", "name": "Acme Renamed", "subdomain": "acme2", "domain": "Shop.Acme.TEST"}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "Acme Renamed");
    assert_eq!(body["domain"], "shop.acme.test");
    assert_error(app.shop_by_host("acme.localhost").await, StatusCode::NOT_FOUND, "client_not_found").await;
    let info: Value = app.shop_by_host("acme2.localhost").await.json().await.unwrap();
    assert_eq!(info["file_client_id"], shop.id);
    let info: Value = app.shop_by_host("shop.acme.test:8443").await.json().await.unwrap();
    assert_eq!(info["name"], "Acme Renamed");

    let res = app.admin_api(Method::PATCH, &path).json(&json!({"domain": null})).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["domain"], Value::Null);
    assert_error(app.shop_by_host("shop.acme.test").await, StatusCode::NOT_FOUND, "client_not_found").await;

    let bad = app.admin_api(Method::PATCH, &path).json(&json!({"status": "deleting"})).send().await.unwrap();
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn list_show_migrate_and_stats() {
    let app = spawn_app().await;
    for s in ["one", "two", "three"] {
        app.create_shop(s).await;
    }

    let page: Value = app.admin_api(Method::GET, "/api/super-admin/clients?page=2&per_page=2").json_body().await;
    assert_eq!(page["meta"], json!({"page": 2, "per_page": 2, "total": 3}));
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["subdomain"], "three");

    let migrated: Value = app.admin_api(Method::POST, "/api/super-admin/clients/1/migrate").json_body().await;
    assert_eq!(migrated["applied"], json!([]));
    assert_eq!(migrated["client"]["schema_version"], vergeflow::db::migrations::latest_client_version());

    app.shop_by_host("one.localhost").await;
    let stats = app.stats().await;
    assert_eq!(stats["clients"], 3);
    assert_eq!(stats["open_pools"], 1);
    assert!(stats["max_open_pools"].as_u64().unwrap() >= 1);
    assert!(stats["misses"].as_u64().unwrap() >= 1);

    let health = app.get("/health").send().await.unwrap();
    assert_eq!(health.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let metrics = app.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("vergeflow_tenant_pools_open 1"), "{metrics}");
    assert_error(app.get("/no/such/thing").send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
}
