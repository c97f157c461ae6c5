use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

async fn shop_id(res: reqwest::Response) -> i64 {
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], body["file_client_id"], "registry and file agree: {body}");
    body["id"].as_i64().unwrap()
}

async fn two_shops(app: &TestApp) -> (crate::helpers::TestShop, crate::helpers::TestShop) {
    let a = app.create_shop("alpha").await;
    let b = app.create_shop("beta").await;
    let res = app
        .admin_api(Method::PATCH, &format!("/api/super-admin/clients/{}", b.id))
        .json(&json!({"domain": "beta-shop.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    (a, b)
}

#[tokio::test]
async fn each_signal_reaches_its_shop() {
    let app = spawn_app().await;
    let (a, b) = two_shops(&app).await;

    // 1. the signed-in user's client
    assert_eq!(shop_id(app.get("/api/shop").bearer_auth(&a.admin_token).send().await.unwrap()).await, a.id);
    assert_eq!(shop_id(app.get("/api/shop").bearer_auth(&b.admin_token).send().await.unwrap()).await, b.id);
    // 2. subdomain, with port, case and a trailing dot
    assert_eq!(shop_id(app.shop_by_host("alpha.localhost").await).await, a.id);
    assert_eq!(shop_id(app.shop_by_host("BETA.LocalHost.:8080").await).await, b.id);
    // 3. custom domain
    assert_eq!(shop_id(app.shop_by_host("beta-shop.example:443").await).await, b.id);
    // 4. parameter (id or subdomain) and header
    assert_eq!(shop_id(app.get(&format!("/api/shop?client={}", a.id)).send().await.unwrap()).await, a.id);
    assert_eq!(shop_id(app.get("/api/shop?client=beta").send().await.unwrap()).await, b.id);
    assert_eq!(shop_id(app.get("/api/shop").header("X-Client", "alpha").send().await.unwrap()).await, a.id);
    // 5. the session cookie remembers what a parameter selected
    let res = app.get("/api/shop?client=beta").send().await.unwrap();
    let cookie = res.headers().get("set-cookie").expect("session cookie").to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();
    assert_eq!(shop_id(app.get("/api/shop").header("Cookie", &pair).send().await.unwrap()).await, b.id);
    // A forged cookie is not believed.
    let (theirs, ours) = (format!("%22client_id%22%3A%22{}%22", b.id), format!("%22client_id%22%3A%22{}%22", a.id));
    assert!(pair.contains(&theirs), "{pair}");
    let forged = pair.replace(&theirs, &ours);
    let res = app.get("/api/shop").header("Cookie", &forged).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "client_not_found").await;
    // A super admin reaches any shop by 2–5.
    let res =
        app.get("/api/shop").bearer_auth(&app.super_token).header("Host", "alpha.localhost").send().await.unwrap();
    assert_eq!(shop_id(res).await, a.id);
}

#[tokio::test]
async fn conflicting_signals_are_refused() {
    let app = spawn_app().await;
    let (a, b) = two_shops(&app).await;
    let mismatches = vec![
        app.get("/api/shop").bearer_auth(&a.admin_token).header("Host", "beta.localhost"),
        app.get("/api/shop").bearer_auth(&a.admin_token).header("Host", "beta-shop.example"),
        app.get("/api/shop?client=beta").bearer_auth(&a.admin_token),
        app.get("/api/shop").bearer_auth(&a.admin_token).header("X-Client", b.id.to_string()),
        app.get("/api/shop").header("Host", "alpha.localhost").header("X-Client", "beta"),
        app.get("/api/shop?client=alpha").header("X-Client", "beta"),
        app.get("/api/shop").header("Host", "alpha.localhost").query(&[("client", "nosuchshop")]),
    ];
    for req in mismatches {
        assert_error(req.send().await.unwrap(), StatusCode::FORBIDDEN, "tenant_mismatch").await;
    }
    // Session of B, then a request that names A by parameter.
    let res = app.get("/api/shop?client=beta").send().await.unwrap();
    let pair = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let res = app.get("/api/shop?client=alpha").header("Cookie", &pair).send().await.unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "tenant_mismatch").await;
    // Agreeing signals are fine.
    let res = app.get("/api/shop?client=alpha").bearer_auth(&a.admin_token).header("Host", "alpha.localhost").send();
    assert_eq!(shop_id(res.await.unwrap()).await, a.id);
}

#[tokio::test]
async fn forwarded_host_is_ignored_without_a_trusted_proxy() {
    let app = spawn_app().await;
    let (a, _b) = two_shops(&app).await;
    let res = app.get("/api/shop").header("Host", "alpha.localhost").header("X-Forwarded-Host", "beta.localhost");
    assert_eq!(shop_id(res.send().await.unwrap()).await, a.id);
}

#[tokio::test]
async fn forwarded_host_is_used_behind_a_trusted_proxy() {
    let app = crate::helpers::spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let (a, b) = two_shops(&app).await;
    let res = app.get("/api/shop").header("Host", "alpha.localhost").header("X-Forwarded-Host", "beta.localhost");
    assert_eq!(shop_id(res.send().await.unwrap()).await, b.id);
    // A's token with B named by the proxy is a conflict, never B's data.
    let res = app.get("/api/shop").bearer_auth(&a.admin_token).header("X-Forwarded-Host", "beta-shop.example");
    assert_error(res.send().await.unwrap(), StatusCode::FORBIDDEN, "tenant_mismatch").await;
}

#[tokio::test]
async fn unknown_and_odd_hosts_name_no_shop() {
    let app = spawn_app().await;
    two_shops(&app).await;
    let long = format!("{}.localhost", "a".repeat(200));
    for host in ["nosuch.localhost", "www.localhost", "a.b.localhost", long.as_str()] {
        assert_error(app.shop_by_host(host).await, StatusCode::NOT_FOUND, "client_not_found").await;
    }
    for host in ["localhost", "127.0.0.1:9000", "[::1]:8080", "unknown.example.org", "LOCALHOST."] {
        assert_error(app.shop_by_host(host).await, StatusCode::NOT_FOUND, "client_not_found").await;
    }
    for param in ["../main", "client_1.db", "1;DROP", "-1", "99999"] {
        let res = app.get("/api/shop").query(&[("client", param)]).send().await.unwrap();
        assert_error(res, StatusCode::NOT_FOUND, "client_not_found").await;
    }
}
