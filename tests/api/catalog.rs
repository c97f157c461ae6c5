//! Search follows the catalog; bad catalog and cart input is refused with the field named.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{JsonBody, TestApp, assert_error, spawn_app};

async fn search(app: &TestApp, subdomain: &str, q: &str) -> Vec<String> {
    let res = app.on_shop(Method::GET, subdomain, "/api/shop/products").query(&[("q", q)]).send().await.unwrap();
    let body: Value = res.json().await.unwrap();
    body["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_search_index_follows_inserts_updates_and_deletes() {
    let app = spawn_app().await;
    let shop = app.create_shop("searchy").await;
    let t = &shop.admin_token;
    let p = app.create(t, "/api/admin/products", json!({"name": "Red Kettle", "price_cents": 100})).await;
    let path = format!("/api/admin/products/{}", p["id"]);
    assert_eq!(search(&app, "searchy", "kett").await, ["Red Kettle"], "prefix match");

    let res = app
        .as_user(Method::PATCH, t, &path)
        .json(&json!({"name": "Blue Teapot", "description": "crème brûlée"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(search(&app, "searchy", "kettle").await.is_empty());
    assert_eq!(search(&app, "searchy", "teapot").await, ["Blue Teapot"]);
    assert_eq!(search(&app, "searchy", "creme brulee").await, ["Blue Teapot"], "diacritics folded");
    assert_eq!(search(&app, "searchy", "\"OR* NEAR(").await, Vec::<String>::new(), "FTS syntax is not interpreted");

    let res = app.as_user(Method::PATCH, t, &path).json(&json!({"active": false})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(search(&app, "searchy", "teapot").await.is_empty(), "inactive products are not in the storefront");
    let admin: Value = app.as_user(Method::GET, t, "/api/admin/products?q=teapot").json_body().await;
    assert_eq!(admin["meta"]["total"], 1, "the admin still finds it");

    assert_eq!(app.as_user(Method::DELETE, t, &path).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let admin: Value = app.as_user(Method::GET, t, "/api/admin/products?q=teapot").json_body().await;
    assert_eq!(admin["meta"]["total"], 0);

    for i in 0..25 {
        app.create(t, "/api/admin/products", json!({"name": format!("Widget {i}"), "price_cents": 100})).await;
    }
    let page: Value =
        app.on_shop(Method::GET, "searchy", "/api/shop/products?q=widget&page=3&per_page=10").json_body().await;
    assert_eq!(page["meta"], json!({"page": 3, "per_page": 10, "total": 25}));
    assert_eq!(page["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn bad_catalog_and_cart_input_names_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let shop = app.create_shop("picky").await;
    let t = shop.admin_token.clone();
    let product = app.create(&t, "/api/admin/products", json!({"name": "Real", "price_cents": 500, "stock": 3})).await;

    let long = "x".repeat(201);
    let product_cases = [
        (json!({"name": "A", "price_cents": -1}), "price_cents"),
        (json!({"name": "A", "price_cents": 10.5}), "body"),
        (json!({"name": "A", "price_cents": 100, "stock": -5}), "stock"),
        (json!({"name": long, "price_cents": 100}), "name"),
        (json!({"name": "A", "price_cents": 100, "category_id": 999}), "category_id"),
        (json!({"name": "A", "price_cents": 100, "slug": "Not A Slug"}), "slug"),
        (json!({"price_cents": 100}), "name"),
    ];
    for (body, field) in product_cases {
        let res = app.as_user(Method::POST, &t, "/api/admin/products").json(&body).send().await.unwrap();
        let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(err["fields"][field].is_string(), "{field} not named for {body}: {err}");
    }
    let dup = app
        .as_user(Method::POST, &t, "/api/admin/products")
        .json(&json!({"name": "Real", "price_cents": 1}))
        .send()
        .await
        .unwrap();
    assert_error(dup, StatusCode::CONFLICT, "slug_taken").await;

    let coupon_cases = [
        (json!({"code": "bad code!", "kind": "fixed", "value": 10}), "code"),
        (json!({"code": "OK10", "kind": "bogus", "value": 10}), "kind"),
        (json!({"code": "OK10", "kind": "percent", "value": 150}), "value"),
        (json!({"code": "OK10", "kind": "fixed", "value": 10, "expires_at": "next week"}), "expires_at"),
        (json!({"code": "OK10", "kind": "fixed", "value": 10, "max_uses": 0}), "max_uses"),
    ];
    for (body, field) in coupon_cases {
        let res = app.as_user(Method::POST, &t, "/api/admin/coupons").json(&body).send().await.unwrap();
        let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(err["fields"][field].is_string(), "{field} not named for {body}: {err}");
    }

    // Read-only fields in a body are ignored, never applied.
    let res = app
        .as_user(Method::PATCH, &t, &format!("/api/admin/products/{}", product["id"]))
        .json(&json!({"id": 77, "rating_avg": 5, "rating_count": 100, "client_id": 2, "created_at": "2000-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    let unchanged: Value = res.json().await.unwrap();
    assert_eq!((unchanged["id"].clone(), unchanged["rating_count"].clone()), (product["id"].clone(), json!(0)));
    assert_eq!(unchanged["created_at"], product["created_at"]);

    let token = app.register_customer("picky", "eve@example.com").await;
    let cart_cases = [
        (json!({"product_id": product["id"], "quantity": 0}), StatusCode::UNPROCESSABLE_ENTITY, "quantity"),
        (json!({"product_id": product["id"], "quantity": 100000}), StatusCode::UNPROCESSABLE_ENTITY, "quantity"),
        (json!({"product_id": 999, "quantity": 1}), StatusCode::UNPROCESSABLE_ENTITY, "product_id"),
        (json!({"quantity": 1}), StatusCode::UNPROCESSABLE_ENTITY, "product_id"),
    ];
    for (body, status, field) in cart_cases {
        let res = app.as_user(Method::POST, &token, "/api/shop/cart/items").json(&body).send().await.unwrap();
        let err = assert_error(res, status, "validation_failed").await;
        assert!(err["fields"][field].is_string(), "{field} not named for {body}: {err}");
    }
    let res = app
        .as_user(Method::POST, &token, "/api/shop/cart/items")
        .json(&json!({"product_id": product["id"], "quantity": 4}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::CONFLICT, "out_of_stock").await;
    let res = app
        .as_user(Method::POST, &token, "/api/shop/addresses")
        .json(&json!({"name": "E", "line1": "x", "city": "y", "postal_code": "1", "country": "Germany"}))
        .send()
        .await
        .unwrap();
    let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(err["fields"]["country"].is_string());
    let res = app
        .as_user(Method::POST, &token, &format!("/api/shop/products/{}/reviews", product["id"]))
        .json(&json!({"rating": 6}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    assert_eq!(app.fetch(&t, "/api/admin/products").await["meta"]["total"], 1);
    assert_eq!(app.fetch(&t, "/api/admin/coupons").await["meta"]["total"], 0);
    assert_eq!(app.fetch(&token, "/api/shop/cart").await["items"], json!([]));
    assert_eq!(app.fetch(&token, "/api/shop/addresses").await["data"], json!([]));
    let res = app.get("/api/admin/products").header("Host", "picky.localhost").send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}
