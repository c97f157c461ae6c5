//! Many checkouts at once: exactly one wins the last unit, and a single-use coupon is used once.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::shop_journeys::address;

const BUYERS: usize = 20;

/// Registers customers who each have `product` in their cart and a saved address.
async fn buyers(app: &TestApp, subdomain: &str, product: i64) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for i in 0..BUYERS {
        let token = app.register_customer(subdomain, &format!("buyer{i}@example.com")).await;
        app.create(&token, "/api/shop/cart/items", json!({"product_id": product, "quantity": 1})).await;
        let address_id = address(app, &token).await;
        out.push((token, address_id));
    }
    out
}

async fn checkout_all(app: Arc<TestApp>, buyers: Vec<(String, i64)>, coupon: Option<&str>) -> Vec<(StatusCode, Value)> {
    let mut tasks = Vec::new();
    for (token, address_id) in buyers {
        let app = Arc::clone(&app);
        let mut body = json!({"address_id": address_id});
        if let Some(code) = coupon {
            body["coupon_code"] = json!(code);
        }
        tasks.push(tokio::spawn(async move {
            let res = app.as_user(Method::POST, &token, "/api/shop/checkout").json(&body).send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_unit_is_sold_exactly_once() {
    let app = Arc::new(spawn_app().await);
    let shop = app.create_shop("lastone").await;
    let product = app
        .create(&shop.admin_token, "/api/admin/products", json!({"name": "Rare", "price_cents": 100, "stock": 20}))
        .await;
    let id = product["id"].as_i64().unwrap();
    let buyers = buyers(&app, "lastone", id).await;
    let res = app
        .as_user(Method::PATCH, &shop.admin_token, &format!("/api/admin/products/{id}"))
        .json(&json!({"stock": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let results = checkout_all(Arc::clone(&app), buyers, None).await;

    let won = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let sold_out = results.iter().filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"] == "out_of_stock").count();
    assert_eq!((won, sold_out), (1, BUYERS - 1), "{results:?}");
    assert_eq!(app.fetch(&shop.admin_token, &format!("/api/admin/products/{id}")).await["stock"], 0);
    assert_eq!(app.fetch(&shop.admin_token, "/api/admin/orders").await["meta"]["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_single_use_coupon_is_used_once() {
    let app = Arc::new(spawn_app().await);
    let shop = app.create_shop("oneoff").await;
    let product = app
        .create(&shop.admin_token, "/api/admin/products", json!({"name": "Plenty", "price_cents": 5000, "stock": 1000}))
        .await;
    app.create(
        &shop.admin_token,
        "/api/admin/coupons",
        json!({"code": "ONCE", "kind": "fixed", "value": 1000, "max_uses": 1}),
    )
    .await;
    let buyers = buyers(&app, "oneoff", product["id"].as_i64().unwrap()).await;

    let results = checkout_all(Arc::clone(&app), buyers, Some("ONCE")).await;

    let won: Vec<&Value> = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, b)| b).collect();
    let refused = results
        .iter()
        .filter(|(s, b)| *s == StatusCode::UNPROCESSABLE_ENTITY && b["error"] == "invalid_coupon")
        .count();
    assert_eq!((won.len(), refused), (1, BUYERS - 1), "{results:?}");
    assert_eq!(won[0]["discount_cents"], 1000);
    let coupon = app.fetch(&shop.admin_token, "/api/admin/coupons/1").await;
    assert_eq!(coupon["uses"], 1);
    assert_eq!(app.fetch(&shop.admin_token, &format!("/api/admin/products/{}", product["id"])).await["stock"], 999);
}
