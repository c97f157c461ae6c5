//! Feature flags: global defaults and per-shop overrides set by the super admin; a disabled
//! feature's endpoints answer 404 `feature_disabled` in that shop only, and come back when it is
//! turned on again.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

async fn patch(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let res = app.admin_api(Method::PATCH, path).json(&body).send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

async fn shop_features(app: &TestApp, sub: &str) -> Value {
    app.on_shop(Method::GET, sub, "/api/shop/features").send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn a_feature_turned_off_for_one_shop_is_gone_there_only_and_comes_back() {
    let app = spawn_app().await;
    let off = app.create_shop("flagged").await;
    let on = app.create_shop("unflagged").await;
    let flags = app.fetch(&app.super_token, "/api/super-admin/features").await;
    let names: Vec<&str> = flags["data"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["reviews", "coupons", "recently_viewed", "webhooks"]);
    assert!(flags["data"].as_array().unwrap().iter().all(|f| f["default"] == true && f["description"].is_string()));

    let all_on = json!({"reviews": true, "coupons": true, "recently_viewed": true, "webhooks": true});
    assert_eq!(shop_features(&app, "flagged").await, all_on);
    let (status, body) =
        patch(&app, &format!("/api/super-admin/clients/{}/features", off.id), json!({"reviews": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reviews"], false);
    assert_eq!(shop_features(&app, "flagged").await["reviews"], false);
    assert_eq!(shop_features(&app, "unflagged").await, all_on);
    let got = app.fetch(&app.super_token, &format!("/api/super-admin/clients/{}/features", off.id)).await;
    assert_eq!(got["reviews"], false);

    // Its endpoints, for the storefront and the admin, are gone in that shop and no other.
    let product = app.create(&off.admin_token, "/api/admin/products", json!({"name": "Tea", "price_cents": 100})).await;
    let path = format!("/api/shop/products/{}/reviews", product["id"]);
    let res = app.on_shop(Method::GET, "flagged", &path).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "feature_disabled").await;
    let res = app.as_user(Method::GET, &off.admin_token, "/api/admin/reviews").send().await.unwrap();
    let body = assert_error(res, StatusCode::NOT_FOUND, "feature_disabled").await;
    assert!(body["message"].as_str().unwrap().contains("reviews"), "{body}");
    let res = app.as_user(Method::GET, &on.admin_token, "/api/admin/reviews").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Back to the default (on): everything answers again.
    let (status, body) =
        patch(&app, &format!("/api/super-admin/clients/{}/features", off.id), json!({"reviews": null})).await;
    assert_eq!((status, body["reviews"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(app.on_shop(Method::GET, "flagged", &path).send().await.unwrap().status(), StatusCode::OK);
    let res = app.as_user(Method::GET, &off.admin_token, "/api/admin/reviews").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn global_defaults_apply_to_shops_without_an_override() {
    let app = spawn_app().await;
    let plain = app.create_shop("plain").await;
    let exempt = app.create_shop("exempt").await;
    let (status, body) =
        patch(&app, "/api/super-admin/features", json!({"coupons": false, "recently_viewed": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let coupons = body["data"].as_array().unwrap().iter().find(|f| f["name"] == "coupons").unwrap().clone();
    assert_eq!(coupons["default"], false);
    let (status, _) =
        patch(&app, &format!("/api/super-admin/clients/{}/features", exempt.id), json!({"coupons": true})).await;
    assert_eq!(status, StatusCode::OK);

    let res = app.as_user(Method::GET, &plain.admin_token, "/api/admin/coupons").send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "feature_disabled").await;
    let res = app.as_user(Method::GET, &exempt.admin_token, "/api/admin/coupons").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "an override wins over the default");

    // A customer of the plain shop: no recently viewed list, and a coupon code at checkout is refused.
    let customer = app.register_customer("plain", "buyer@plain.test").await;
    let res = app.as_user(Method::GET, &customer, "/api/shop/recently-viewed").send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "feature_disabled").await;
    let product = app
        .create(&plain.admin_token, "/api/admin/products", json!({"name": "Mug", "price_cents": 900, "stock": 5}))
        .await;
    let res =
        app.as_user(Method::GET, &customer, &format!("/api/shop/products/{}", product["id"])).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the product itself is still there");
    let address = crate::shop_journeys::address(&app, &customer).await;
    app.create(&customer, "/api/shop/cart/items", json!({"product_id": product["id"], "quantity": 1})).await;
    let res = app
        .send_as(Method::POST, &customer, "/api/shop/checkout", json!({"address_id": address, "coupon_code": "SAVE10"}))
        .await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body.to_string().contains("coupon_code"), "{body}");

    // Turned on again globally, the plain shop has them back.
    let (status, _) = patch(&app, "/api/super-admin/features", json!({"coupons": true, "recently_viewed": true})).await;
    assert_eq!(status, StatusCode::OK);
    let res = app.as_user(Method::GET, &plain.admin_token, "/api/admin/coupons").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.as_user(Method::GET, &customer, "/api/shop/recently-viewed").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn feature_changes_are_validated_and_for_the_super_admin_only() {
    let app = spawn_app().await;
    let shop = app.create_shop("strict").await;
    let path = format!("/api/super-admin/clients/{}/features", shop.id);
    let (status, body) = patch(&app, &path, json!({"chat": true, "reviews": "no"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("chat") && body.to_string().contains("reviews"), "{body}");
    let (status, body) = patch(&app, "/api/super-admin/features", json!({"reviews": null})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a default is on or off: {body}");
    let (status, _) = patch(&app, "/api/super-admin/clients/999/features", json!({"reviews": false})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let res =
        app.as_user(Method::PATCH, &shop.admin_token, &path).json(&json!({"reviews": false})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .as_user(Method::PATCH, &shop.admin_token, "/api/super-admin/features")
        .json(&json!({"reviews": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(shop_features(&app, "strict").await["reviews"], true, "nothing changed");
}
