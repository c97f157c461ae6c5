//! The customer's and the admin's journeys through one shop, end to end.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{JsonBody, TestApp, TestShop, assert_error, spawn_app};

/// A shop with a category tree, three products and a coupon.
pub struct Catalog {
    pub shop: TestShop,
    pub kettle: i64,
    pub teapot: i64,
    pub mug: i64,
    pub parent_category: i64,
    pub child_category: i64,
}

pub async fn catalog(app: &TestApp, subdomain: &str) -> Catalog {
    let shop = app.create_shop(subdomain).await;
    let t = shop.admin_token.clone();
    let parent = app.create(&t, "/api/admin/categories", json!({"name": "Kitchen"})).await;
    assert_eq!(parent["slug"], "kitchen");
    let child = app.create(&t, "/api/admin/categories", json!({"name": "Tea things", "parent_id": parent["id"]})).await;
    let kettle = app
        .create(&t, "/api/admin/products", json!({"name": "Red Kettle", "description": "Boils water fast", "price_cents": 2999, "stock": 5, "category_id": parent["id"]}))
        .await;
    let teapot = app
        .create(&t, "/api/admin/products", json!({"name": "Porcelain Teapot", "description": "Pairs with a kettle", "price_cents": 4500, "stock": 2, "category_id": child["id"]}))
        .await;
    let mug = app.create(&t, "/api/admin/products", json!({"name": "Mug", "price_cents": 800, "stock": 100})).await;
    app.create(
        &t,
        "/api/admin/coupons",
        json!({"code": "tea10", "kind": "percent", "value": 10, "min_subtotal_cents": 1000, "max_uses": 5}),
    )
    .await;
    Catalog {
        shop,
        kettle: kettle["id"].as_i64().unwrap(),
        teapot: teapot["id"].as_i64().unwrap(),
        mug: mug["id"].as_i64().unwrap(),
        parent_category: parent["id"].as_i64().unwrap(),
        child_category: child["id"].as_i64().unwrap(),
    }
}

pub async fn address(app: &TestApp, token: &str) -> i64 {
    let a = app
        .create(token, "/api/shop/addresses", json!({"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "us"}))
        .await;
    assert_eq!(a["country"], "US");
    assert_eq!(a["is_default"], true);
    a["id"].as_i64().unwrap()
}

#[tokio::test]
async fn customer_journey_from_browsing_to_review() {
    let app = spawn_app().await;
    let c = catalog(&app, "teashop").await;

    // Browse and search anonymously, by subdomain.
    let list: Value = app.on_shop(Method::GET, "teashop", "/api/shop/products").json_body().await;
    assert_eq!(list["meta"]["total"], 3);
    let found: Value = app.on_shop(Method::GET, "teashop", "/api/shop/products?q=kettle").json_body().await;
    let names: Vec<&str> = found["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Red Kettle", "Porcelain Teapot"], "name matches rank above description matches");
    let in_kitchen: Value = app
        .on_shop(Method::GET, "teashop", &format!("/api/shop/products?category_id={}", c.parent_category))
        .json_body()
        .await;
    assert_eq!(in_kitchen["meta"]["total"], 2, "a category includes its sub-category");
    let cats: Value = app.on_shop(Method::GET, "teashop", "/api/shop/categories").json_body().await;
    assert_eq!(cats["data"][1]["parent_id"], c.parent_category);

    // Register (a smuggled role is ignored), view products, fill the cart.
    let res = app
        .on_shop(Method::POST, "teashop", "/api/shop/auth/register")
        .json(&json!({"name": "Ada", "email": "ada@example.com", "password": "customer-password", "role": "admin", "client_id": 99}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let reg: Value = res.json().await.unwrap();
    assert_eq!(reg["user"]["role"], "customer");
    let token = reg["token"].as_str().unwrap().to_string();
    let login = app
        .on_shop(Method::POST, "teashop", "/api/shop/auth/login")
        .json(&json!({"email": "ADA@example.com", "password": "customer-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);

    for id in [c.mug, c.kettle, c.teapot, c.kettle] {
        app.fetch(&token, &format!("/api/shop/products/{id}")).await;
    }
    let recent = app.fetch(&token, "/api/shop/recently-viewed").await;
    let ids: Vec<i64> = recent["data"].as_array().unwrap().iter().map(|p| p["product_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [c.kettle, c.teapot, c.mug], "newest first, no duplicates");

    let item = app
        .create(
            &token,
            "/api/shop/cart/items",
            json!({"product_id": c.kettle, "quantity": 1, "stock": 0, "unit_price_cents": 1}),
        )
        .await;
    assert_eq!(item["unit_price_cents"], 2999);
    let again = app.create(&token, "/api/shop/cart/items", json!({"product_id": c.kettle, "quantity": 1})).await;
    assert_eq!(again["quantity"], 2, "adding again adds to the line");
    app.create(&token, "/api/shop/cart/items", json!({"product_id": c.mug, "quantity": 3})).await;
    let res = app
        .as_user(Method::PATCH, &token, &format!("/api/shop/cart/items/{}", item["id"]))
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cart = app.fetch(&token, "/api/shop/cart").await;
    assert_eq!(cart["subtotal_cents"], 2999 + 3 * 800);

    // Check out with the coupon.
    let address_id = address(&app, &token).await;
    let order = app
        .create(
            &token,
            "/api/shop/checkout",
            json!({"address_id": address_id, "coupon_code": "Tea10", "total_cents": 1}),
        )
        .await;
    assert_eq!(order["status"], "pending");
    assert_eq!(order["subtotal_cents"], 5399);
    assert_eq!(order["discount_cents"], 539);
    assert_eq!(order["total_cents"], 4860);
    assert_eq!(order["coupon_code"], "TEA10");
    assert_eq!(order["items"].as_array().unwrap().len(), 2);
    assert_eq!(order["shipping_address"]["city"], "Springfield");
    assert_eq!(app.fetch(&token, "/api/shop/cart").await["items"], json!([]));
    let mine = app.fetch(&token, "/api/shop/orders").await;
    assert_eq!(mine["meta"]["total"], 1);
    assert_eq!(app.fetch(&token, &format!("/api/shop/orders/{}", order["id"])).await["number"], order["number"]);
    let admin = &c.shop.admin_token;
    assert_eq!(app.fetch(admin, &format!("/api/admin/products/{}", c.kettle)).await["stock"], 4);
    assert_eq!(app.fetch(admin, "/api/admin/coupons/1").await["uses"], 1);

    // Review, once.
    let review = app
        .create(
            &token,
            &format!("/api/shop/products/{}/reviews", c.kettle),
            json!({"rating": 4, "title": "Loud but fast"}),
        )
        .await;
    assert_eq!(review["author_name"], "Ada");
    let dup = app
        .as_user(Method::POST, &token, &format!("/api/shop/products/{}/reviews", c.kettle))
        .json(&json!({"rating": 5}))
        .send()
        .await
        .unwrap();
    assert_error(dup, StatusCode::CONFLICT, "already_reviewed").await;
    let product: Value =
        app.on_shop(Method::GET, "teashop", &format!("/api/shop/products/{}", c.kettle)).json_body().await;
    assert_eq!(product["rating_avg"], 4.0);
    assert_eq!(product["rating_count"], 1);
    let reviews: Value =
        app.on_shop(Method::GET, "teashop", &format!("/api/shop/products/{}/reviews", c.kettle)).json_body().await;
    assert_eq!(reviews["meta"]["total"], 1);

    // Customers cannot administer.
    let res = app.as_user(Method::GET, &token, "/api/admin/orders").send().await.unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn recently_viewed_is_bounded() {
    let app = spawn_app().await;
    let shop = app.create_shop("many").await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let p = app
            .create(&shop.admin_token, "/api/admin/products", json!({"name": format!("Thing {i}"), "price_cents": 100}))
            .await;
        ids.push(p["id"].as_i64().unwrap());
    }
    let token = app.register_customer("many", "viewer@example.com").await;
    for id in &ids {
        app.fetch(&token, &format!("/api/shop/products/{id}")).await;
    }
    let recent = app.fetch(&token, "/api/shop/recently-viewed").await;
    let seen: Vec<i64> = recent["data"].as_array().unwrap().iter().map(|p| p["product_id"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = ids.iter().rev().take(20).copied().collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn admin_journey_orders_statuses_customers_and_moderation() {
    let app = spawn_app().await;
    let c = catalog(&app, "admintea").await;
    let admin = c.shop.admin_token.clone();
    let token = app.register_customer("admintea", "bob@example.com").await;
    let address_id = address(&app, &token).await;

    let mut orders = Vec::new();
    for coupon in [Some("TEA10"), None] {
        app.create(&token, "/api/shop/cart/items", json!({"product_id": c.teapot, "quantity": 1})).await;
        let mut body = json!({"address_id": address_id});
        if let Some(code) = coupon {
            body["coupon_code"] = json!(code);
        }
        orders.push(app.create(&token, "/api/shop/checkout", body).await);
    }
    assert_eq!(app.fetch(&admin, &format!("/api/admin/products/{}", c.teapot)).await["stock"], 0);
    let list = app.fetch(&admin, "/api/admin/orders?status=pending").await;
    assert_eq!(list["meta"]["total"], 2);
    let customers = app.fetch(&admin, "/api/admin/customers").await;
    assert_eq!(customers["data"][0]["orders_count"], 2);
    assert_eq!(customers["data"][0]["total_spent_cents"], 4050 + 4500);

    let first = orders[0]["id"].as_i64().unwrap();
    for status in ["paid", "shipped", "delivered"] {
        let res = app
            .as_user(Method::PATCH, &admin, &format!("/api/admin/orders/{first}"))
            .json(&json!({"status": status}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["status"], status);
    }
    let res = app
        .as_user(Method::PATCH, &admin, &format!("/api/admin/orders/{first}"))
        .json(&json!({"status": "cancelled"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::CONFLICT, "invalid_status_transition").await;

    // Cancelling the other order puts its stock back and takes it out of the customer's totals.
    let second = orders[1]["id"].as_i64().unwrap();
    let res = app
        .as_user(Method::PATCH, &admin, &format!("/api/admin/orders/{second}"))
        .json(&json!({"status": "cancelled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "cancelled");
    assert_eq!(app.fetch(&admin, &format!("/api/admin/products/{}", c.teapot)).await["stock"], 1);
    let customers = app.fetch(&admin, "/api/admin/customers").await;
    assert_eq!(customers["data"][0]["orders_count"], 1);
    assert_eq!(customers["data"][0]["total_spent_cents"], 4050);

    // Moderation: hidden reviews stop counting.
    let other = app.register_customer("admintea", "carol@example.com").await;
    let r1 = app.create(&token, &format!("/api/shop/products/{}/reviews", c.mug), json!({"rating": 5})).await;
    app.create(&other, &format!("/api/shop/products/{}/reviews", c.mug), json!({"rating": 2})).await;
    assert_eq!(app.fetch(&admin, &format!("/api/admin/products/{}", c.mug)).await["rating_avg"], 3.5);
    let res = app
        .as_user(Method::PATCH, &admin, &format!("/api/admin/reviews/{}", r1["id"]))
        .json(&json!({"hidden": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["hidden"], true);
    let p = app.fetch(&admin, &format!("/api/admin/products/{}", c.mug)).await;
    assert_eq!((p["rating_avg"].clone(), p["rating_count"].clone()), (json!(2.0), json!(1)));
    assert_eq!(app.fetch(&admin, "/api/admin/reviews?hidden=true").await["meta"]["total"], 1);
    let visible: Value =
        app.on_shop(Method::GET, "admintea", &format!("/api/shop/products/{}/reviews", c.mug)).json_body().await;
    assert_eq!(visible["meta"]["total"], 1);
    let res = app.as_user(Method::DELETE, &admin, &format!("/api/admin/reviews/{}", r1["id"])).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.fetch(&admin, &format!("/api/admin/products/{}", c.mug)).await["rating_count"], 1);

    // Category rules.
    let res = app
        .as_user(Method::DELETE, &admin, &format!("/api/admin/categories/{}", c.parent_category))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::CONFLICT, "category_has_children").await;
    let res = app
        .as_user(Method::POST, &admin, "/api/admin/categories")
        .json(&json!({"name": "Too deep", "parent_id": c.child_category}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn checkout_failures_change_nothing() {
    let app = spawn_app().await;
    let c = catalog(&app, "strict").await;
    let admin = c.shop.admin_token.clone();
    let token = app.register_customer("strict", "dan@example.com").await;
    let address_id = address(&app, &token).await;

    let res = app
        .as_user(Method::POST, &token, "/api/shop/checkout")
        .json(&json!({"address_id": address_id}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "empty_cart").await;

    app.create(&token, "/api/shop/cart/items", json!({"product_id": c.mug, "quantity": 1})).await;
    for (code, why) in [("NOPE", "unknown"), ("TEA10", "below minimum")] {
        let res = app
            .as_user(Method::POST, &token, "/api/shop/checkout")
            .json(&json!({"address_id": address_id, "coupon_code": code}))
            .send()
            .await
            .unwrap();
        let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_coupon").await;
        assert!(!body["message"].as_str().unwrap().is_empty(), "{why}");
    }
    let res =
        app.as_user(Method::POST, &token, "/api/shop/checkout").json(&json!({"address_id": 999})).send().await.unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // Stock drops below the cart's quantity after it was added.
    app.as_user(Method::PATCH, &token, "/api/shop/cart/items/1").json(&json!({"quantity": 5})).send().await.unwrap();
    let res = app
        .as_user(Method::PATCH, &admin, &format!("/api/admin/products/{}", c.mug))
        .json(&json!({"stock": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .as_user(Method::POST, &token, "/api/shop/checkout")
        .json(&json!({"address_id": address_id}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::CONFLICT, "out_of_stock").await;

    assert_eq!(app.fetch(&admin, "/api/admin/orders").await["meta"]["total"], 0);
    assert_eq!(app.fetch(&admin, &format!("/api/admin/products/{}", c.mug)).await["stock"], 4);
    assert_eq!(app.fetch(&token, "/api/shop/cart").await["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.fetch(&admin, "/api/admin/coupons/1").await["uses"], 0);
}
