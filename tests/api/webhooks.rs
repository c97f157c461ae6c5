//! Webhooks against a real HTTP receiver on loopback (a plain TCP server in the test reading the
//! requests VergeFlow sends): signature, retries after a 500, one acknowledgement, address rules,
//! and what another shop's admin can see.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};
use crate::shop_journeys::address;

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Answers each POST with the next status of `script` (the last one repeats).
pub struct Receiver {
    pub port: u16,
    pub got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start(script: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&got);
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                record.lock().unwrap().push(Received { headers, body: String::from_utf8(body).unwrap() });
                let status = *script.get(n).or(script.last()).unwrap();
                let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            }
        });
        Receiver { port, got }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            assert!(Instant::now() < deadline, "the receiver got {} of {count} requests", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn verify(secret: &str, r: &Received) {
    let sig = r.header("X-VergeFlow-Signature").expect("a signature");
    let (t, v1) = sig.split_once(',').unwrap();
    let (t, v1) = (t.strip_prefix("t=").unwrap(), v1.strip_prefix("v1=").unwrap());
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - t.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "a fresh timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", r.body).as_bytes());
    let expected: Vec<u8> = (0..v1.len() / 2).map(|i| u8::from_str_radix(&v1[2 * i..2 * i + 2], 16).unwrap()).collect();
    mac.verify_slice(&expected).expect("the signature verifies");
}

async fn buy(app: &TestApp, shop: &str, admin_token: &str, stock: i64, quantity: i64) -> Value {
    let token = app.register_customer(shop, &format!("buyer{stock}{quantity}@example.com")).await;
    let product = app
        .create(
            admin_token,
            "/api/admin/products",
            json!({"name": format!("Pot {stock}"), "price_cents": 900, "stock": stock}),
        )
        .await;
    app.create(&token, "/api/shop/cart/items", json!({"product_id": product["id"], "quantity": quantity})).await;
    let address_id = address(app, &token).await;
    app.create(&token, "/api/shop/checkout", json!({"address_id": address_id})).await
}

#[tokio::test]
async fn deliveries_are_signed_retried_after_a_500_and_acknowledged_once() {
    let app = spawn_app_with(|s| {
        s.webhook_allow_private = true;
        s.job_retry_base = Duration::from_millis(100);
    })
    .await;
    let shop = app.create_shop("hooked").await;
    let receiver = Receiver::start(vec![500, 200]);
    let created = app
        .create(
            &shop.admin_token,
            "/api/admin/webhooks",
            json!({"url": receiver.url(), "events": ["order.created", "product.low_stock", "order.created"]}),
        )
        .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["events"], json!(["order.created", "product.low_stock"]));
    let id = created["id"].as_i64().unwrap();
    let shown = app.fetch(&shop.admin_token, &format!("/api/admin/webhooks/{id}")).await;
    assert!(shown.get("secret").is_none(), "the secret is shown once");

    let started = Instant::now();
    let order = buy(&app, "hooked", &shop.admin_token, 20, 1).await;
    let got = receiver.wait_for(2).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    for r in &got {
        verify(&secret, r);
        assert_eq!(r.header("X-VergeFlow-Event"), Some("order.created"));
    }
    let (first, second): (Value, Value) =
        (serde_json::from_str(&got[0].body).unwrap(), serde_json::from_str(&got[1].body).unwrap());
    assert_eq!(first["id"], second["id"], "the same event, retried");
    assert_eq!(first["event"], "order.created");
    assert_eq!(first["data"]["order"]["id"], order["id"]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 2, "acknowledged once, never sent again");
    let log = app.fetch(&shop.admin_token, &format!("/api/admin/webhooks/{id}/deliveries")).await;
    assert_eq!(log["meta"]["total"], 1);
    let d = &log["data"][0];
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_i64(), d["response_status"].as_i64()),
        (Some("delivered"), Some(2), Some(200))
    );

    // A checkout that takes a product to the low-stock line raises product.low_stock.
    buy(&app, "hooked", &shop.admin_token, 7, 3).await;
    let got = receiver.wait_for(4).await;
    let events: Vec<String> = got[2..].iter().map(|r| r.header("X-VergeFlow-Event").unwrap().to_string()).collect();
    assert!(events.contains(&"product.low_stock".to_string()), "{events:?}");
    let low: Value = serde_json::from_str(
        &got.iter().find(|r| r.header("X-VergeFlow-Event") == Some("product.low_stock")).unwrap().body,
    )
    .unwrap();
    assert_eq!(low["data"]["product"]["stock"], 4);

    // Status changes go only to endpoints that asked for them.
    let res = app
        .send_as(
            Method::PATCH,
            &shop.admin_token,
            &format!("/api/admin/webhooks/{id}"),
            json!({"events": ["order.status_changed"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .send_as(
            Method::PATCH,
            &shop.admin_token,
            &format!("/api/admin/orders/{}", order["id"]),
            json!({"status": "paid"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let got = receiver.wait_for(5).await;
    let changed: Value = serde_json::from_str(&got[4].body).unwrap();
    assert_eq!(
        (changed["event"].as_str(), changed["data"]["from"].as_str()),
        (Some("order.status_changed"), Some("pending"))
    );
    assert_eq!(changed["data"]["order"]["status"], "paid");

    // With the webhooks feature off for the shop nothing is delivered (and its endpoints are
    // gone); turned on again, the next event goes out.
    let flags = format!("/api/super-admin/clients/{}/features", shop.id);
    let res = app.admin_api(Method::PATCH, &flags).json(&json!({"webhooks": false})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let order_path = format!("/api/admin/orders/{}", order["id"]);
    let status = |to: &'static str| app.send_as(Method::PATCH, &shop.admin_token, &order_path, json!({"status": to}));
    assert_eq!(status("shipped").await.status(), StatusCode::OK);
    let res = app.as_user(Method::GET, &shop.admin_token, "/api/admin/webhooks").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 5, "nothing delivered while the feature is off");
    let res = app.admin_api(Method::PATCH, &flags).json(&json!({"webhooks": null})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(status("delivered").await.status(), StatusCode::OK);
    let got = receiver.wait_for(6).await;
    let changed: Value = serde_json::from_str(&got[5].body).unwrap();
    assert_eq!(
        (changed["data"]["from"].as_str(), changed["data"]["order"]["status"].as_str()),
        (Some("shipped"), Some("delivered"))
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed_and_other_shops_see_nothing() {
    let app = spawn_app().await;
    let a = app.create_shop("hooka").await;
    let b = app.create_shop("hookb").await;
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://10.0.0.1/",
    ] {
        let res = app
            .send_as(
                Method::POST,
                &a.admin_token,
                "/api/admin/webhooks",
                json!({"url": url, "events": ["order.created"]}),
            )
            .await;
        let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(body["fields"]["url"].as_str().unwrap().contains("address"), "{url}: {body}");
    }
    for (url, events) in
        [("ftp://example.com/x", json!(["order.created"])), ("http://u:p@example.com/", json!(["order.created"]))]
    {
        let res = app
            .send_as(Method::POST, &a.admin_token, "/api/admin/webhooks", json!({"url": url, "events": events}))
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = app
        .send_as(
            Method::POST,
            &a.admin_token,
            "/api/admin/webhooks",
            json!({"url": "http://example.com/x", "events": ["order.paid"]}),
        )
        .await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["fields"]["events"].is_string());

    // With the setting (as in development) a loopback receiver is fine; shop B cannot see it.
    let (data_dir, _tmp) = app.stop().await;
    let app = crate::helpers::spawn_on(&data_dir, |s| s.webhook_allow_private = true).await;
    let a_token = app.login_token(&a.admin_email, "shop-admin-password").await;
    let b_token = app.login_token(&b.admin_email, "shop-admin-password").await;
    let hook = app
        .create(&a_token, "/api/admin/webhooks", json!({"url": "http://127.0.0.1:9/x", "events": ["order.created"]}))
        .await;
    let id = hook["id"].as_i64().unwrap();
    for path in [format!("/api/admin/webhooks/{id}"), format!("/api/admin/webhooks/{id}/deliveries")] {
        let res = app.as_user(Method::GET, &b_token, &path).send().await.unwrap();
        assert_error(res, StatusCode::NOT_FOUND, "webhook_not_found").await;
    }
    let res =
        app.send_as(Method::PATCH, &b_token, &format!("/api/admin/webhooks/{id}"), json!({"active": false})).await;
    assert_error(res, StatusCode::NOT_FOUND, "webhook_not_found").await;
    let res = app.as_user(Method::DELETE, &b_token, &format!("/api/admin/webhooks/{id}")).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "webhook_not_found").await;
    assert_eq!(app.fetch(&b_token, "/api/admin/webhooks").await["meta"]["total"], 0);
    assert_eq!(app.fetch(&a_token, "/api/admin/webhooks").await["meta"]["total"], 1);
    let _ = b;
}

#[tokio::test]
async fn an_endpoint_failing_for_a_day_is_disabled_and_its_admins_are_told() {
    let app = spawn_app_with(|s| {
        s.webhook_allow_private = true;
        s.job_retry_base = Duration::from_millis(100);
    })
    .await;
    let shop = app.create_shop("failing").await;
    let receiver = Receiver::start(vec![500]);
    let hook = app
        .create(&shop.admin_token, "/api/admin/webhooks", json!({"url": receiver.url(), "events": ["order.created"]}))
        .await;
    let id = hook["id"].as_i64().unwrap();
    // It has been failing since yesterday.
    app.state
        .main
        .get()
        .unwrap()
        .execute(
            "UPDATE webhooks SET failing_since = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-25 hours') WHERE id = ?1",
            [id],
        )
        .unwrap();
    buy(&app, "failing", &shop.admin_token, 50, 1).await;
    receiver.wait_for(1).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let shown = loop {
        let shown = app.fetch(&shop.admin_token, &format!("/api/admin/webhooks/{id}")).await;
        if shown["active"] == false {
            break shown;
        }
        assert!(Instant::now() < deadline, "{shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(shown["disabled_reason"].as_str().unwrap().contains("failed for a day"), "{shown}");
    let log = app.fetch(&shop.admin_token, &format!("/api/admin/webhooks/{id}/deliveries")).await;
    assert_eq!(
        (log["data"][0]["status"].as_str(), log["data"][0]["response_status"].as_i64()),
        (Some("failed"), Some(500))
    );
    // The admin is told by mail (written as .eml without SMTP).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !crate::helpers::list_files(&app.data_dir.join("mail")).iter().any(|n| n.contains("webhook_disabled")) {
        assert!(Instant::now() < deadline, "no mail about the disabled endpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No more attempts while disabled; enabling it again clears the failure.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
    let res = app
        .send_as(Method::PATCH, &shop.admin_token, &format!("/api/admin/webhooks/{id}"), json!({"active": true}))
        .await;
    let back: Value = res.json().await.unwrap();
    assert_eq!(
        (back["active"].as_bool(), back["failing_since"].is_null(), back["disabled_reason"].is_null()),
        (Some(true), true, true)
    );
}
