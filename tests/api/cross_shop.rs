//! Ids from another shop, or another customer of the same shop, are 404 for every verb.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{JsonBody, TestApp, assert_error, spawn_app_with};
use crate::shop_journeys::address;

/// A customer who has an address, a placed order, a review and a cart item.
struct Buyer {
    token: String,
    address: i64,
    order: i64,
    review: i64,
    cart_item: i64,
}

async fn buyer(app: &TestApp, subdomain: &str, email: &str, product: i64, other_product: i64) -> Buyer {
    let token = app.register_customer(subdomain, email).await;
    let address = address(app, &token).await;
    app.create(&token, "/api/shop/cart/items", json!({"product_id": product, "quantity": 1})).await;
    let order = app.create(&token, "/api/shop/checkout", json!({"address_id": address})).await;
    let review = app.create(&token, &format!("/api/shop/products/{product}/reviews"), json!({"rating": 3})).await;
    let cart_item =
        app.create(&token, "/api/shop/cart/items", json!({"product_id": other_product, "quantity": 1})).await;
    Buyer {
        token,
        address,
        order: order["id"].as_i64().unwrap(),
        review: review["id"].as_i64().unwrap(),
        cart_item: cart_item["id"].as_i64().unwrap(),
    }
}

async fn fill(app: &TestApp, subdomain: &str, count: usize) -> (String, Vec<i64>, Vec<Buyer>) {
    let shop = app.create_shop(subdomain).await;
    let t = shop.admin_token.clone();
    let mut products = Vec::new();
    for i in 0..count {
        app.create(&t, "/api/admin/categories", json!({"name": format!("{subdomain} category {i}")})).await;
        app.create(&t, "/api/admin/coupons", json!({"code": format!("CODE{i}"), "kind": "fixed", "value": 100})).await;
        let p = app
            .create(
                &t,
                "/api/admin/products",
                json!({"name": format!("{subdomain} product {i}"), "price_cents": 1000, "stock": 50}),
            )
            .await;
        products.push(p["id"].as_i64().unwrap());
        app.create(&t, "/api/admin/banners", json!({"title": format!("{subdomain} banner {i}")})).await;
        app.create(&t, "/api/admin/pages", json!({"slug": format!("page-{i}"), "title": "A page", "published": true}))
            .await;
        app.create(
            &t,
            "/api/admin/custom-fields",
            json!({"entity": "product", "key": format!("f{i}"), "label": "F", "type": "text"}),
        )
        .await;
        // Webhook ids are global (main.db); the big shop, filled first, holds 1..=count.
        app.create(
            &t,
            "/api/admin/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "events": ["product.low_stock"]}),
        )
        .await;
    }
    for i in 0..count {
        // An image of the first product and a dry-run catalogue import per catalog id.
        let res = app
            .as_user(Method::POST, &t, &format!("/api/admin/products/{}/images", products[0]))
            .header("Content-Type", "image/png")
            .body(crate::catalog_depth::png(8 + i as u32, 8))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = app
            .as_user(Method::POST, &t, "/api/admin/catalog/imports?dry_run=true")
            .header("Content-Type", "text/csv")
            .body("handle,name,price_cents\nnew-thing,New thing,100\n")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let mut buyers = Vec::new();
    for i in 0..count.min(2) {
        buyers
            .push(buyer(app, subdomain, &format!("buyer{i}@{subdomain}.test"), products[0], products[count - 1]).await);
    }
    // After the buyers' checkouts (with several methods a checkout must name one).
    for i in 0..count {
        app.create(&t, "/api/admin/shipping-methods", json!({"name": format!("Method {i}"), "kind": "flat"})).await;
    }
    (t, products, buyers)
}

/// Every id-taking endpoint with a valid body, so "not found" is the only possible refusal.
fn admin_cases(catalog_id: i64, b: &Buyer) -> Vec<(Method, String, Option<Value>)> {
    let mut cases = Vec::new();
    for (kind, id, patch) in [
        ("categories", catalog_id, json!({"name": "renamed"})),
        ("products", catalog_id, json!({"price_cents": 1})),
        ("coupons", catalog_id, json!({"value": 5})),
        ("reviews", b.review, json!({"hidden": true})),
        ("webhooks", catalog_id, json!({"active": false})),
        ("banners", catalog_id, json!({"position": 7})),
        ("pages", catalog_id, json!({"title": "Renamed"})),
        ("custom-fields", catalog_id, json!({"label": "Renamed"})),
    ] {
        cases.push((Method::GET, format!("/api/admin/{kind}/{id}"), None));
        cases.push((Method::PATCH, format!("/api/admin/{kind}/{id}"), Some(patch)));
        cases.push((Method::DELETE, format!("/api/admin/{kind}/{id}"), None));
    }
    cases.push((Method::GET, format!("/api/admin/webhooks/{catalog_id}/deliveries"), None));
    cases.push((Method::GET, format!("/api/admin/orders/{}", b.order), None));
    cases.push((Method::PATCH, format!("/api/admin/orders/{}", b.order), Some(json!({"status": "paid"}))));
    cases
}

fn customer_cases(b: &Buyer, product: i64) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/api/shop/products/{product}"), None),
        (Method::GET, format!("/api/shop/products/{product}/reviews"), None),
        (Method::POST, format!("/api/shop/products/{product}/reviews"), Some(json!({"rating": 5}))),
        (Method::PATCH, format!("/api/shop/cart/items/{}", b.cart_item), Some(json!({"quantity": 2}))),
        (Method::DELETE, format!("/api/shop/cart/items/{}", b.cart_item), None),
        (Method::GET, format!("/api/shop/addresses/{}", b.address), None),
        (Method::PATCH, format!("/api/shop/addresses/{}", b.address), Some(json!({"city": "Elsewhere"}))),
        (Method::DELETE, format!("/api/shop/addresses/{}", b.address), None),
        (Method::GET, format!("/api/shop/orders/{}", b.order), None),
    ]
}

async fn expect_404(app: &TestApp, token: &str, cases: Vec<(Method, String, Option<Value>)>) -> usize {
    let n = cases.len();
    for (method, path, body) in cases {
        let mut req = app.as_user(method.clone(), token, &path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let code = if path.contains("/webhooks/") { "webhook_not_found" } else { "not_found" };
        assert_error(res, StatusCode::NOT_FOUND, code).await;
    }
    n
}

#[tokio::test]
async fn another_shops_ids_are_not_found_for_every_verb() {
    let app = spawn_app_with(|s| s.webhook_allow_private = true).await;
    let (a_admin, a_products, a_buyers) = fill(&app, "bigshop", 3).await;
    let (b_admin, _b_products, b_buyers) = fill(&app, "smallshop", 1).await;
    let a_order_before = app.fetch(&a_admin, &format!("/api/admin/orders/{}", a_buyers[1].order)).await;

    // Ids that exist only in the big shop, asked for by the small shop's admin and customer.
    let mut cases = 0;
    let only_in_a = &a_buyers[1];
    assert!(only_in_a.order > b_buyers[0].order && only_in_a.review > b_buyers[0].review);
    cases += expect_404(&app, &b_admin, admin_cases(3, only_in_a)).await;
    cases += expect_404(&app, &b_buyers[0].token, customer_cases(only_in_a, a_products[2])).await;

    // Within one shop, another customer's records are just as invisible.
    let own = &a_buyers[0];
    let mut theirs = customer_cases(&a_buyers[1], a_products[0]);
    theirs.retain(|(_, path, _)| !path.contains("/products/"));
    cases += expect_404(&app, &own.token, theirs).await;
    assert_eq!(cases, 42, "the matrix lost cases");

    // Nothing in the big shop changed.
    assert_eq!(app.fetch(&a_admin, &format!("/api/admin/orders/{}", a_buyers[1].order)).await, a_order_before);
    assert_eq!(app.fetch(&a_admin, &format!("/api/admin/products/{}", a_products[2])).await["price_cents"], 1000);
    assert_eq!(app.fetch(&a_admin, "/api/admin/categories").await["meta"]["total"], 3);
    assert_eq!(app.fetch(&a_admin, "/api/admin/reviews").await["meta"]["total"], 2);
    assert_eq!(app.fetch(&a_admin, "/api/admin/banners/3").await["position"], 0);
    assert_eq!(app.fetch(&a_admin, "/api/admin/pages/3").await["title"], "A page");
    assert_eq!(app.fetch(&a_buyers[1].token, "/api/shop/addresses").await["data"][0]["city"], "Springfield");
    assert_eq!(app.fetch(&a_buyers[1].token, "/api/shop/cart").await["items"].as_array().unwrap().len(), 1);

    // Overlapping ids answer with each shop's own record.
    let a1 = app.fetch(&a_admin, "/api/admin/products/1").await;
    let b1 = app.fetch(&b_admin, "/api/admin/products/1").await;
    assert_eq!(
        (a1["name"].as_str().unwrap(), b1["name"].as_str().unwrap()),
        ("bigshop product 0", "smallshop product 0")
    );

    // A token of one shop cannot be pointed at the other.
    let res = app
        .as_user(Method::GET, &b_buyers[0].token, "/api/shop/cart")
        .header("Host", "bigshop.localhost")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "tenant_mismatch").await;
    let res =
        app.as_user(Method::GET, &b_admin, "/api/admin/products").header("X-Client", "bigshop").send().await.unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "tenant_mismatch").await;
}

/// A valid body for every id-taking endpoint that takes one, so "not found" is the only refusal
/// left. An endpoint missing here fails the test: new endpoints cannot slip past the matrix.
fn sample_body(method: &str, path: &str) -> Option<Value> {
    Some(match (method, path) {
        ("patch", "/api/admin/categories/{id}") => json!({"name": "renamed"}),
        ("patch", "/api/admin/products/{id}") => json!({"price_cents": 1}),
        ("patch", "/api/admin/coupons/{id}") => json!({"value": 5}),
        ("patch", "/api/admin/reviews/{id}") => json!({"hidden": true}),
        ("patch", "/api/admin/orders/{id}") => json!({"status": "paid"}),
        ("patch", "/api/shop/cart/items/{id}") => json!({"quantity": 2}),
        ("patch", "/api/shop/addresses/{id}") => json!({"city": "Elsewhere"}),
        ("post", "/api/shop/products/{id}/reviews") => json!({"rating": 5}),
        ("patch", "/api/admin/webhooks/{id}") => json!({"active": false}),
        ("patch", "/api/admin/banners/{id}") => json!({"position": 7}),
        ("patch", "/api/admin/pages/{id}") => json!({"title": "Renamed"}),
        ("patch", "/api/admin/custom-fields/{id}") => json!({"label": "Renamed"}),
        ("patch", "/api/admin/customers/{id}") => json!({"custom": {}}),
        ("post", "/api/admin/orders/{id}/notes") => json!({"note": "A note"}),
        ("post", "/api/admin/orders/{id}/refunds") => json!({"amount_cents": 1}),
        ("patch", "/api/admin/shipping-methods/{id}") => json!({"price_cents": 1}),
        ("patch", "/api/admin/variants/{id}") => json!({"price_cents": 1}),
        ("post", "/api/admin/products/{id}/variants") => json!({"price_cents": 1, "options": {"size": "S"}}),
        ("patch", "/api/admin/images/{id}") => json!({"alt": "Renamed"}),
        // Refused as another shop's product before the upload is read.
        ("post", "/api/admin/products/{id}/images") => json!({}),
        _ => return None,
    })
}

#[tokio::test]
async fn the_openapi_route_table_drives_a_complete_cross_shop_matrix() {
    let app = spawn_app_with(|s| s.webhook_allow_private = true).await;
    let (a_admin, _a_products, _a_buyers) = fill(&app, "bigshop", 3).await;
    let (b_admin, _b_products, b_buyers) = fill(&app, "smallshop", 1).await;
    let doc: Value = app.get("/api/openapi.json").json_body().await;
    let before = app.fetch(&a_admin, "/api/admin/orders").await;

    let mut cases = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if !path.contains("{id}") || path.starts_with("/api/super-admin") {
            continue;
        }
        for (method, op) in ops.as_object().unwrap() {
            // Ids that exist in the big shop only: catalog ids 3, everything else 2.
            let catalog_like = [
                "categories",
                "products",
                "coupons",
                "webhooks",
                "banners",
                "pages",
                "custom-fields",
                "shipping-methods",
                "variants",
                "images",
                "catalog/imports",
            ];
            let id = if catalog_like.iter().any(|k| path.contains(k)) { 3 } else { 2 };
            let url = path.replace("{id}", &id.to_string());
            let token = match op["x-access"].as_str().unwrap() {
                "Customer" | "Buyer" => b_buyers[0].token.clone(),
                "ShopAdmin" | "Shop" | "MainUser" => b_admin.clone(),
                other => panic!("{method} {path}: no caller for access {other}"),
            };
            let mut req = app.as_user(method.to_uppercase().parse().unwrap(), &token, &url);
            if op.get("requestBody").is_some() {
                let body = sample_body(method, path).unwrap_or_else(|| panic!("add a sample body for {method} {path}"));
                req = req.json(&body);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {url} from the other shop");
            cases += 1;
        }
    }
    assert!(cases >= 28, "only {cases} id-taking operations found in the document");
    eprintln!("cross-shop matrix from the OpenAPI document: {cases} operations");
    assert_eq!(app.fetch(&a_admin, "/api/admin/orders").await, before, "the big shop changed");
}
