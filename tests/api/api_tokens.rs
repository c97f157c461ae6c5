//! API tokens: created with abilities by a signed-in main user, shown once, listed without their
//! secret; a request outside a token's abilities is 403; revoked tokens stop at once.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

async fn create(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    let res = app.send_as(Method::POST, token, "/api/auth/tokens", body).await;
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

async fn status(app: &TestApp, method: Method, token: &str, path: &str, body: Option<Value>) -> StatusCode {
    let mut req = app.as_user(method, token, path);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn a_token_reaches_only_what_its_abilities_cover_until_revoked() {
    let app = spawn_app().await;
    let shop = app.create_shop("integrated").await;
    let (code, made) = create(
        &app,
        &shop.admin_token,
        json!({"name": "ERP sync", "abilities": ["catalog:read", "orders:read", "catalog:read"]}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{made}");
    assert_eq!(made["abilities"], json!(["catalog:read", "orders:read"]));
    let secret = made["token"].as_str().unwrap().to_string();
    assert!(made["expires_at"].as_str().unwrap() > "2026");
    let listed = app.fetch(&shop.admin_token, "/api/auth/tokens").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "sessions are not listed: {listed}");
    assert!(listed["data"][0].get("token").is_none() && listed["data"][0]["name"] == "ERP sync");

    assert_eq!(status(&app, Method::GET, &secret, "/api/admin/products", None).await, StatusCode::OK);
    assert_eq!(status(&app, Method::GET, &secret, "/api/admin/orders", None).await, StatusCode::OK);
    assert_eq!(status(&app, Method::GET, &secret, "/api/auth/me", None).await, StatusCode::OK);
    let res =
        app.send_as(Method::POST, &secret, "/api/admin/products", json!({"name": "Tea", "price_cents": 100})).await;
    let body = assert_error(res, StatusCode::FORBIDDEN, "ability_missing").await;
    assert!(body["message"].as_str().unwrap().contains("catalog:write"), "{body}");
    for path in ["/api/admin/banners", "/api/admin/settings", "/api/admin/webhooks"] {
        assert_eq!(status(&app, Method::GET, &secret, path, None).await, StatusCode::FORBIDDEN, "{path}");
    }
    let (code, _) = create(&app, &secret, json!({"name": "More", "abilities": ["catalog:write"]})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "an API token cannot make tokens");

    // Revoked, it stops at once; another admin cannot revoke it.
    let other = app.create_shop("elsewhere").await;
    let path = format!("/api/auth/tokens/{}", made["id"]);
    assert_eq!(status(&app, Method::DELETE, &other.admin_token, &path, None).await, StatusCode::NOT_FOUND);
    assert_eq!(status(&app, Method::GET, &secret, "/api/admin/products", None).await, StatusCode::OK);
    assert_eq!(status(&app, Method::DELETE, &shop.admin_token, &path, None).await, StatusCode::NO_CONTENT);
    assert_eq!(status(&app, Method::GET, &secret, "/api/admin/products", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.fetch(&shop.admin_token, "/api/auth/tokens").await["data"], json!([]));
}

#[tokio::test]
async fn abilities_are_checked_against_the_account_and_the_shape() {
    let app = spawn_app().await;
    let shop = app.create_shop("careful").await;
    let (code, body) = create(
        &app,
        &shop.admin_token,
        json!({"abilities": ["registry:read", "catalog:delete", "nonsense"], "expires_at": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for field in ["name", "abilities"] {
        assert!(body["fields"][field].is_string(), "{field}: {body}");
    }
    let (code, body) = create(
        &app,
        &shop.admin_token,
        json!({"name": "Old", "abilities": ["catalog:read"], "expires_at": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["expires_at"].is_string(), "{body}");
    let (code, _) = create(&app, &shop.admin_token, json!({"name": "Empty", "abilities": []})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);

    // A super admin's registry token reads the registry and changes nothing.
    let (code, made) =
        create(&app, &app.super_token, json!({"name": "Monitoring", "abilities": ["registry:read"]})).await;
    assert_eq!(code, StatusCode::CREATED, "{made}");
    let secret = made["token"].as_str().unwrap();
    assert_eq!(status(&app, Method::GET, secret, "/api/super-admin/clients", None).await, StatusCode::OK);
    let patch = Some(json!({"status": "suspended"}));
    assert_eq!(
        status(&app, Method::PATCH, secret, &format!("/api/super-admin/clients/{}", shop.id), patch).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.fetch(&app.super_token, &format!("/api/super-admin/clients/{}", shop.id)).await["status"], "active");
    let customer = app.register_customer("careful", "c@careful.test").await;
    let (code, _) = create(&app, &customer, json!({"name": "Mine", "abilities": ["catalog:read"]})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "customers have no API tokens");
}
