use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{JsonBody, SUPER_EMAIL, SUPER_PASSWORD, assert_error, list_files, spawn_app};

#[tokio::test]
async fn unknown_email_and_wrong_password_look_the_same() {
    let app = spawn_app().await;
    let unknown: Value = app.login("nobody@example.com", "whatever-pass").await.json().await.unwrap();
    let wrong = app.login(SUPER_EMAIL, "wrong-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json::<Value>().await.unwrap(), unknown);
}

#[tokio::test]
async fn repeated_failures_are_throttled_even_with_the_right_password() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(app.login(SUPER_EMAIL, "wrong-password").await.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login(SUPER_EMAIL, SUPER_PASSWORD).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Another account from the same address still gets in.
    let shop = app.create_shop("other").await;
    assert!(!shop.admin_token.is_empty());
}

#[tokio::test]
async fn logout_revokes_and_expired_tokens_fail() {
    let app = spawn_app().await;
    let token = app.login_token(SUPER_EMAIL, SUPER_PASSWORD).await;
    let me: Value = app.get("/api/auth/me").bearer_auth(&token).json_body().await;
    assert_eq!(me["role"], "super_admin");
    assert_eq!(me["client_id"], Value::Null);

    let out = app.request(Method::POST, "/api/auth/logout").bearer_auth(&token).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let res = app.get("/api/auth/me").bearer_auth(&token).send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // Expire the suite's own token in place and watch it stop working.
    let conn = rusqlite::Connection::open(app.data_dir.join("main.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    conn.execute("UPDATE personal_access_tokens SET expires_at = '2000-01-01T00:00:00Z'", []).unwrap();
    drop(conn);
    let res = app.admin_api(Method::GET, "/api/super-admin/clients").send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    for bad in ["Bearer nope", "Basic abc", "Bearer vf_zz"] {
        let res = app.get("/api/auth/me").header("Authorization", bad).send().await.unwrap();
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
}

#[tokio::test]
async fn shop_admins_cannot_reach_super_admin_endpoints_or_other_shops() {
    let app = spawn_app().await;
    let a = app.create_shop("first").await;
    let b = app.create_shop("second").await;
    for (method, path) in [
        (Method::GET, "/api/super-admin/clients".to_string()),
        (Method::GET, format!("/api/super-admin/clients/{}", a.id)),
        (Method::DELETE, format!("/api/super-admin/clients/{}", b.id)),
        (Method::POST, format!("/api/super-admin/clients/{}/migrate", b.id)),
        (Method::GET, "/api/super-admin/stats".to_string()),
    ] {
        let res = app.request(method, &path).bearer_auth(&a.admin_token).send().await.unwrap();
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let res = app.get("/api/shop").bearer_auth(&a.admin_token).header("Host", "second.localhost").send().await.unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "tenant_mismatch").await;
    let res = app.get("/api/super-admin/clients").send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert!(app.data_dir.join(format!("client_{}.db", b.id)).exists());
}

#[tokio::test]
async fn no_plaintext_password_or_token_is_stored() {
    let app = spawn_app().await;
    let shop = app.create_shop("secretive").await;
    let super_token = app.super_token.clone();
    let (data_dir, _tmp) = app.stop().await;
    let mut haystack = Vec::new();
    for name in list_files(&data_dir) {
        haystack.extend(std::fs::read(data_dir.join(name)).unwrap());
    }
    for needle in [SUPER_PASSWORD, "shop-admin-password", super_token.as_str(), shop.admin_token.as_str()] {
        assert!(!haystack.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} found on disk");
    }
}
