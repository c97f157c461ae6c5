//! Faults inside a running server: a shop deleted under load, LRU churn, a full shop file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{JsonBody, TestApp, assert_error, spawn_app, spawn_app_with, spawn_on};
use crate::shop_journeys::address;

/// What one request saw: when it started and ended (relative to the test start), status and code.
struct Seen {
    started: Duration,
    status: StatusCode,
    code: String,
    write: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_shop_under_load_is_clean() {
    let app = Arc::new(spawn_app().await);
    let shop = app.create_shop("doomed").await;
    let admin = shop.admin_token.clone();
    let product =
        app.create(&admin, "/api/admin/products", json!({"name": "Thing", "price_cents": 100, "stock": 100000})).await;
    let customer = app.register_customer("doomed", "c@doomed.test").await;
    address(&app, &customer).await;
    let bystander = app.create_shop("bystander").await;
    let t0 = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut tasks = Vec::new();
    for worker in 0..20usize {
        let (app, stop) = (Arc::clone(&app), Arc::clone(&stop));
        let (admin, customer, pid) = (admin.clone(), customer.clone(), product["id"].clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let started = t0.elapsed();
                let (req, write) = match (worker + n) % 4 {
                    0 => (
                        app.as_user(Method::POST, &admin, "/api/admin/products")
                            .json(&json!({"name": format!("w{worker}-{n}"), "price_cents": 1})),
                        true,
                    ),
                    1 => (
                        app.as_user(Method::POST, &customer, "/api/shop/cart/items")
                            .json(&json!({"product_id": pid, "quantity": 1})),
                        true,
                    ),
                    2 => (app.on_shop(Method::GET, "doomed", "/api/shop/products"), false),
                    _ => (app.as_user(Method::GET, &customer, "/api/shop/cart"), false),
                };
                let res = req.send().await.unwrap();
                let status = res.status();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                seen.push(Seen { started, status, code: body["error"].as_str().unwrap_or("").to_string(), write });
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = app.admin_api(Method::DELETE, &format!("/api/super-admin/clients/{}", shop.id)).send().await.unwrap();
    let deleted_at = t0.elapsed();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let files = |app: &TestApp| {
        app.data_files().into_iter().filter(|f| f.starts_with(&format!("client_{}.", shop.id))).collect::<Vec<_>>()
    };
    assert!(files(&app).is_empty(), "{:?}", files(&app));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);

    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let ok_before = all.iter().filter(|s| s.status.is_success()).count();
    assert!(ok_before > 20, "the load did not run before the delete ({ok_before} successes)");
    for s in &all {
        let clean = s.status.is_success()
            || matches!(
                (s.status.as_u16(), s.code.as_str()),
                (401, "unauthenticated") | (404, "client_not_found") | (503, "client_unavailable")
            );
        assert!(clean, "unclean answer during deletion: {} {}", s.status, s.code);
        if s.started > deleted_at {
            assert!(!s.status.is_success(), "a request sent after the delete returned succeeded (write: {})", s.write);
        }
    }
    assert!(files(&app).is_empty(), "a file came back: {:?}", files(&app));
    assert_eq!(app.shop_by_host("bystander.localhost").await.status(), StatusCode::OK);
    assert_eq!(app.fetch(&bystander.admin_token, "/api/admin/products").await["meta"]["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lru_churn_never_mixes_shops_and_stays_bounded() {
    const CAPACITY: usize = 4;
    let app = Arc::new(spawn_app_with(|s| s.max_open_clients = CAPACITY).await);
    let mut shops = Vec::new();
    for i in 0..CAPACITY * 3 {
        let shop = app.create_shop(&format!("churn{i}")).await;
        shops.push((shop.id, shop.subdomain.clone(), shop.admin_token.clone()));
    }
    let shops = Arc::new(shops);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for worker in 0..16usize {
        let (app, shops) = (Arc::clone(&app), Arc::clone(&shops));
        tasks.push(tokio::spawn(async move {
            let mut checked = 0;
            let mut n = worker;
            while Instant::now() < deadline {
                n += 7;
                let (id, sub, token) = &shops[n % shops.len()];
                match n % 3 {
                    0 => {
                        let res = app
                            .as_user(Method::POST, token, "/api/admin/products")
                            .json(&json!({"name": format!("{sub} item {worker} {n}"), "price_cents": 1}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(res.status(), StatusCode::CREATED);
                    }
                    1 => {
                        let body: Value =
                            app.as_user(Method::GET, token, "/api/admin/products?per_page=100").json_body().await;
                        for p in body["data"].as_array().expect("a product list") {
                            assert!(p["name"].as_str().unwrap().starts_with(&format!("{sub} ")), "{sub} saw {p}");
                        }
                    }
                    _ => {
                        let body: Value = app.shop_by_host(&format!("{sub}.localhost")).await.json().await.unwrap();
                        assert_eq!(body["file_client_id"], *id, "{body}");
                    }
                }
                checked += 1;
            }
            checked
        }));
    }
    let mut checked = 0;
    for t in tasks {
        checked += t.await.unwrap();
    }
    assert!(checked > 100, "only {checked} requests ran");
    let stats = app.stats().await;
    assert!(stats["evictions"].as_u64().unwrap() > 10, "{stats}");
    assert!(stats["open_pools"].as_u64().unwrap() <= CAPACITY as u64, "{stats}");
    // Evicted pools close as their last request finishes; give the closer a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = app.stats().await;
    assert!(stats["open_connections"].as_i64().unwrap() <= (CAPACITY * 4) as i64, "{stats}");
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    assert!(fds < 1000, "{fds} open descriptors in the test process");
}

#[tokio::test]
async fn a_full_shop_fails_cleanly_keeps_its_data_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // 1 MiB per shop: the schema takes about 200 KiB, the rest fills with products.
    let app = spawn_on(&data, |s| s.max_shop_bytes = Some(1 << 20)).await;
    let full = app.create_shop("full").await;
    let other = app.create_shop("other").await;
    let description = "x".repeat(15_000);
    let mut stored = 0;
    let refused = loop {
        let res = app
            .as_user(Method::POST, &full.admin_token, "/api/admin/products")
            .json(&json!({"name": format!("Bulky {stored}"), "price_cents": 1, "description": description}))
            .send()
            .await
            .unwrap();
        if res.status() != StatusCode::CREATED {
            break res;
        }
        stored += 1;
        assert!(stored < 200, "the limit never bit");
    };
    assert_error(refused, StatusCode::INSUFFICIENT_STORAGE, "storage_full").await;
    assert!(stored > 10, "{stored}");
    assert_eq!(app.fetch(&full.admin_token, "/api/admin/products").await["meta"]["total"], stored);
    app.create(
        &other.admin_token,
        "/api/admin/products",
        json!({"name": "Fine", "price_cents": 1, "description": description}),
    )
    .await;
    let (data, _tmp2) = app.stop().await;

    let app = spawn_on(&data, |s| s.max_shop_bytes = Some(8 << 20)).await;
    let token = app.login_token(&full.admin_email, "shop-admin-password").await;
    app.create(&token, "/api/admin/products", json!({"name": "After", "price_cents": 1, "description": description}))
        .await;
    assert_eq!(app.fetch(&token, "/api/admin/products").await["meta"]["total"], stored + 1);
    drop(tmp);
}
