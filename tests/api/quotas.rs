//! Per-shop quotas: a shop over its request rate gets 429 while another is served at the same
//! time, product and storage quotas refuse cleanly and are lifted at once, usage is reported.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

async fn set(app: &TestApp, id: i64, body: Value) -> (StatusCode, Value) {
    let res = app
        .admin_api(Method::PATCH, &format!("/api/super-admin/clients/{id}/quotas"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_shop_over_its_rate_gets_429_while_another_is_served() {
    let app = spawn_app().await;
    let busy = app.create_shop("busy").await;
    app.create_shop("calm").await;
    let (status, body) = set(&app, busy.id, json!({"requests_per_second": 5})).await;
    assert_eq!((status, body["requests_per_second"].as_i64()), (StatusCode::OK, Some(5)), "{body}");

    // 40 requests to each shop at once.
    let fire = |sub: &'static str| {
        let reqs: Vec<_> = (0..40).map(|_| app.on_shop(Method::GET, sub, "/api/shop/products").send()).collect();
        futures_util::future::join_all(reqs)
    };
    let started = std::time::Instant::now();
    let (busy_answers, calm_answers) = tokio::join!(fire("busy"), fire("calm"));
    // A second's burst (5), plus what refilled while the burst was answered (5 a second).
    let allowed = 5 + (started.elapsed().as_secs_f64() * 5.0).ceil() as usize + 1;
    let mut limited = 0;
    let mut served = 0;
    for res in busy_answers {
        let res = res.unwrap();
        match res.status() {
            StatusCode::OK => served += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=2).contains(&wait), "{wait}");
                assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
                limited += 1;
            }
            other => panic!("{other}"),
        }
    }
    assert!(
        (5..=allowed).contains(&served) && served + limited == 40,
        "{served} served (≤ {allowed}), {limited} limited"
    );
    assert!(limited >= 1, "the limit never bit");
    for res in calm_answers {
        assert_eq!(res.unwrap().status(), StatusCode::OK, "the other shop is served normally");
    }
    // A second later the busy shop is served again; lifted, it is not limited at all.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.on_shop(Method::GET, "busy", "/api/shop/products").send().await.unwrap().status(), StatusCode::OK);
    let (status, _) = set(&app, busy.id, json!({"requests_per_second": null})).await;
    assert_eq!(status, StatusCode::OK);
    let answers =
        futures_util::future::join_all((0..40).map(|_| app.on_shop(Method::GET, "busy", "/api/shop/products").send()))
            .await;
    assert!(answers.into_iter().all(|r| r.unwrap().status() == StatusCode::OK));
}

#[tokio::test]
async fn product_and_storage_quotas_refuse_cleanly_and_usage_is_reported() {
    let app = spawn_app().await;
    let shop = app.create_shop("small").await;
    let (status, _) = set(&app, shop.id, json!({"max_products": 2})).await;
    assert_eq!(status, StatusCode::OK);
    for i in 0..2 {
        app.create(&shop.admin_token, "/api/admin/products", json!({"name": format!("P{i}"), "price_cents": 1})).await;
    }
    let res = app
        .send_as(Method::POST, &shop.admin_token, "/api/admin/products", json!({"name": "P2", "price_cents": 1}))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "quota_exceeded").await;

    let quotas = app.fetch(&app.super_token, &format!("/api/super-admin/clients/{}/quotas", shop.id)).await;
    assert_eq!((quotas["max_products"].as_i64(), quotas["max_storage_mb"].clone()), (Some(2), Value::Null));
    assert_eq!((quotas["usage"]["products"].as_i64(), quotas["usage"]["orders"].as_i64()), (Some(2), Some(0)));
    assert!(quotas["usage"]["storage_bytes"].as_u64().unwrap() > 100_000, "{quotas}");
    let client = app.fetch(&app.super_token, &format!("/api/super-admin/clients/{}", shop.id)).await;
    assert_eq!(client["usage"]["products"], 2, "{client}");
    assert!(client["usage"]["requests_24h"].as_u64().unwrap() >= 3, "{client}");

    // Storage: 1 MiB, then writes past it are 507 and lose nothing; lifted, writes go on.
    let (status, _) = set(&app, shop.id, json!({"max_products": null, "max_storage_mb": 1})).await;
    assert_eq!(status, StatusCode::OK);
    let description = "x".repeat(15_000);
    let mut stored = 2;
    let refused = loop {
        let res = app
            .send_as(
                Method::POST,
                &shop.admin_token,
                "/api/admin/products",
                json!({"name": format!("Bulky {stored}"), "price_cents": 1, "description": description}),
            )
            .await;
        if res.status() != StatusCode::CREATED {
            break res;
        }
        stored += 1;
        assert!(stored < 200, "the storage quota never bit");
    };
    assert_error(refused, StatusCode::INSUFFICIENT_STORAGE, "storage_full").await;
    assert_eq!(app.fetch(&shop.admin_token, "/api/admin/products").await["meta"]["total"], stored);
    let (status, _) = set(&app, shop.id, json!({"max_storage_mb": 64})).await;
    assert_eq!(status, StatusCode::OK);
    app.create(
        &shop.admin_token,
        "/api/admin/products",
        json!({"name": "After", "price_cents": 1, "description": description}),
    )
    .await;

    let (status, body) =
        set(&app, shop.id, json!({"requests_per_second": 0, "max_storage_mb": 0, "max_products": -1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["requests_per_second", "max_storage_mb", "max_products"] {
        assert!(body["fields"][field].is_string(), "{field}: {body}");
    }
    let res = app
        .as_user(Method::PATCH, &shop.admin_token, &format!("/api/super-admin/clients/{}/quotas", shop.id))
        .json(&json!({"max_products": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a shop admin cannot lift its own quotas");
}
