//! Global and shop content: banners merged in display order within their dates, a shop's page over
//! a global one with the same slug, Markdown served raw and as sanitised HTML, global settings.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

async fn shop_get(app: &TestApp, sub: &str, path: &str) -> (StatusCode, Value) {
    let res = app.on_shop(Method::GET, sub, path).send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_storefront_merges_global_and_shop_content() {
    let app = spawn_app().await;
    let shop = app.create_shop("dressed").await;
    app.create_shop("plain").await;
    let sup = app.super_token.clone();

    app.create(&sup, "/api/super-admin/banners", json!({"title": "Global second", "position": 2})).await;
    app.create(&sup, "/api/super-admin/banners", json!({"title": "Global ended", "ends_at": "2020-01-01T00:00:00Z"}))
        .await;
    app.create(&sup, "/api/super-admin/banners", json!({"title": "Global later", "starts_at": "2999-01-01T00:00:00Z"}))
        .await;
    app.create(
        &shop.admin_token,
        "/api/admin/banners",
        json!({"title": "Own first", "position": 1, "link_url": "/sale"}),
    )
    .await;
    app.create(&shop.admin_token, "/api/admin/banners", json!({"title": "Own off", "active": false})).await;
    app.create(&shop.admin_token, "/api/admin/banners", json!({"title": "Own second", "position": 2})).await;

    let (status, shown) = shop_get(&app, "dressed", "/api/shop/banners").await;
    assert_eq!(status, StatusCode::OK);
    let titles: Vec<(&str, &str)> = shown["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["title"].as_str().unwrap(), b["scope"].as_str().unwrap()))
        .collect();
    assert_eq!(titles, [("Own first", "shop"), ("Global second", "global"), ("Own second", "shop")]);
    let (_, other) = shop_get(&app, "plain", "/api/shop/banners").await;
    assert_eq!(other["data"].as_array().unwrap().len(), 1, "another shop sees only the global banner: {other}");

    // Pages: the shop's own wins; another shop gets the global one; unpublished ones are not served.
    app.create(
        &sup,
        "/api/super-admin/pages",
        json!({"slug": "terms", "title": "Global terms", "body": "Be fair.", "published": true}),
    )
    .await;
    app.create(
        &shop.admin_token,
        "/api/admin/pages",
        json!({"slug": "terms", "title": "Our terms", "body": "# Ours", "published": true}),
    )
    .await;
    app.create(&shop.admin_token, "/api/admin/pages", json!({"slug": "draft", "title": "Draft", "body": "soon"})).await;
    let (_, page) = shop_get(&app, "dressed", "/api/shop/pages/terms").await;
    assert_eq!((page["title"].as_str(), page["scope"].as_str()), (Some("Our terms"), Some("shop")));
    assert_eq!(page["html"].as_str().unwrap().trim(), "<h1>Ours</h1>");
    let (_, page) = shop_get(&app, "plain", "/api/shop/pages/terms").await;
    assert_eq!((page["title"].as_str(), page["scope"].as_str()), (Some("Global terms"), Some("global")));
    let res = app.on_shop(Method::GET, "dressed", "/api/shop/pages/draft").send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.on_shop(Method::GET, "dressed", "/api/shop/pages/NOT%20A%20SLUG").send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn page_html_is_sanitised_and_the_markdown_kept_as_written() {
    let app = spawn_app().await;
    let shop = app.create_shop("careful").await;
    let body = "    indented code\n\n<script>alert(1)</script>\n\n[click](javascript:alert(1)) <img src=x onerror=alert(2)> **ok**";
    let page = app
        .create(
            &shop.admin_token,
            "/api/admin/pages",
            json!({"slug": "evil", "title": "Evil", "body": body, "published": true}),
        )
        .await;
    assert_eq!(page["body"], body, "stored as written");
    let (_, shown) = shop_get(&app, "careful", "/api/shop/pages/evil").await;
    let html = shown["html"].as_str().unwrap().to_lowercase();
    for bad in ["<script", "javascript:", "onerror", "alert(1)</script"] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    assert!(html.contains("<strong>ok</strong>") && html.contains("<pre><code>indented code"), "{html}");
}

#[tokio::test]
async fn content_is_validated_and_kept_to_its_owner() {
    let app = spawn_app().await;
    let shop = app.create_shop("strict").await;
    let t = &shop.admin_token;
    let res = app
        .send_as(
            Method::POST,
            t,
            "/api/admin/banners",
            json!({"link_url": "javascript:alert(1)", "image_url": "//evil.example/x.png"}),
        )
        .await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    for field in ["title", "link_url", "image_url"] {
        assert!(body["fields"][field].is_string(), "{field}: {body}");
    }
    let res = app
        .send_as(
            Method::POST,
            t,
            "/api/admin/banners",
            json!({"title": "Backwards", "starts_at": "2027-01-02T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}),
        )
        .await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["fields"]["ends_at"].is_string(), "{body}");
    let banner =
        app.create(t, "/api/admin/banners", json!({"title": "Fine", "starts_at": "2027-01-01T00:00:00Z"})).await;
    let res = app
        .send_as(
            Method::PATCH,
            t,
            &format!("/api/admin/banners/{}", banner["id"]),
            json!({"ends_at": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .send_as(
            Method::PATCH,
            t,
            &format!("/api/admin/banners/{}", banner["id"]),
            json!({"starts_at": null, "position": 3}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!((changed["starts_at"].clone(), changed["position"].as_i64()), (Value::Null, Some(3)));

    app.create(t, "/api/admin/pages", json!({"slug": "about", "title": "About"})).await;
    let res = app.send_as(Method::POST, t, "/api/admin/pages", json!({"slug": "about", "title": "Again"})).await;
    assert_error(res, StatusCode::CONFLICT, "slug_taken").await;
    let res = app.send_as(Method::POST, t, "/api/admin/pages", json!({"slug": "Not A Slug"})).await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["fields"]["slug"].is_string() && body["fields"]["title"].is_string(), "{body}");
    let res = app.send_as(Method::DELETE, t, "/api/admin/banners/999", Value::Null).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // A shop admin manages only the shop's content; global content is the super admin's.
    let res = app.as_user(Method::GET, t, "/api/super-admin/banners").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.as_user(Method::GET, t, "/api/super-admin/settings").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.fetch(&app.super_token, "/api/super-admin/banners").await["meta"]["total"], 0);
}

#[tokio::test]
async fn global_settings_are_kept_by_key() {
    let app = spawn_app().await;
    let res = app
        .admin_api(Method::PUT, "/api/super-admin/settings")
        .json(&json!({"site_name": "Shops", "support_email": "help@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .admin_api(Method::PUT, "/api/super-admin/settings")
        .json(&json!({"support_email": null, "site_name": "Our shops"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"site_name": "Our shops"}));
    assert_eq!(app.fetch(&app.super_token, "/api/super-admin/settings").await, json!({"site_name": "Our shops"}));
    let res = app
        .admin_api(Method::PUT, "/api/super-admin/settings")
        .json(&json!({"features": "{}", "session_key": "mine", "Bad Key": "x"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    for key in ["features", "session_key", "Bad Key"] {
        assert!(body["fields"][key].is_string(), "{key}: {body}");
    }
    // The server's own keys (the feature defaults, the session signing key) are never listed.
    let res = app
        .admin_api(Method::PATCH, "/api/super-admin/features")
        .json(&json!({"reviews": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.fetch(&app.super_token, "/api/super-admin/settings").await, json!({"site_name": "Our shops"}));
}
