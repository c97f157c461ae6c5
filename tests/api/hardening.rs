//! What an outside probe found (issue: hardening), one test per finding.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{JsonBody, SUPER_EMAIL, SUPER_PASSWORD, TestApp, assert_error, spawn_app, spawn_app_with};
use crate::shop_journeys::{address, catalog};

/// The production limits on password work, which the suites' settings lift.
fn production_limits(s: &mut vergeflow::config::Settings) {
    let defaults = vergeflow::config::Settings::for_data_dir("unused");
    s.password_rate_per_ip = defaults.password_rate_per_ip;
    s.password_rate_per_shop = defaults.password_rate_per_shop;
    s.hash_queue = defaults.hash_queue;
    s.hash_threads = defaults.hash_threads;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registration_flood_on_one_shop_is_refused_early_and_other_shops_keep_serving() {
    let app = spawn_app_with(production_limits).await;
    app.create_shop("flooded").await;
    let quiet = app.create_shop("quiet").await;
    let product = app
        .create(&quiet.admin_token, "/api/admin/products", json!({"name": "Tea", "price_cents": 100, "stock": 1}))
        .await;
    let path = format!("/api/shop/products/{}", product["id"]);

    let mut flood = Vec::new();
    for task in 0..64 {
        let (http, address) = (app.http.clone(), app.address.clone());
        flood.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..4 {
                let res = http
                    .post(format!("{address}/api/shop/auth/register"))
                    .header("Host", "flooded.localhost")
                    .json(&json!({"name": "Bot", "email": format!("bot{task}-{n}@x.test"), "password": "bot-password"}))
                    .send()
                    .await
                    .unwrap();
                let retry_after = res.headers().contains_key("retry-after");
                statuses.push((res.status(), retry_after));
            }
            statuses
        }));
    }
    let mut reads = Vec::new();
    for _ in 0..100 {
        reads.push(app.on_shop(Method::GET, "quiet", &path).send().await.unwrap().status());
    }
    let mut statuses = Vec::new();
    for task in flood {
        statuses.extend(task.await.unwrap());
    }

    assert!(reads.iter().all(|s| *s == StatusCode::OK), "reads of the quiet shop: {reads:?}");
    let refused: Vec<_> = statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS || *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(refused.len() > statuses.len() / 2, "most of the flood must be refused: {statuses:?}");
    assert!(refused.iter().all(|(_, retry_after)| *retry_after), "every refusal says when to come back");
    assert!(
        statuses.iter().all(|(s, _)| [
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn all_digit_subdomains_are_refused_so_they_cannot_shadow_shop_ids() {
    let app = spawn_app().await;
    let shop = app.create_shop("digits").await;
    let body =
        json!({"name": "Three", "subdomain": "3", "admin_email": "a@three.test", "admin_password": "long-enough"});
    let err = assert_error(app.create_client(&body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(err["fields"]["subdomain"].is_string(), "{err}");
    let res = app
        .admin_api(Method::PATCH, &format!("/api/super-admin/clients/{}", shop.id))
        .json(&json!({"subdomain": "2"}))
        .send()
        .await
        .unwrap();
    let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(err["fields"]["subdomain"].is_string(), "{err}");
    // Digits and letters together are fine.
    app.create_shop("3d-prints").await;
}

#[tokio::test]
async fn a_repeated_x_client_header_is_refused() {
    let app = spawn_app().await;
    let a = app.create_shop("first").await;
    let b = app.create_shop("second").await;
    for (one, two) in [(a.id, a.id), (a.id, b.id)] {
        let res = app
            .get("/api/shop")
            .header("X-Client", one.to_string())
            .header("X-Client", two.to_string())
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::BAD_REQUEST, "repeated_client_header").await;
    }
    let one: Value = app.get("/api/shop").header("X-Client", a.id.to_string()).json_body().await;
    assert_eq!(one["subdomain"], "first", "{one}");
}

#[tokio::test]
async fn bodies_must_be_json_objects() {
    let app = spawn_app().await;
    let shop = app.create_shop("arrays").await;
    let res =
        app.request(Method::POST, "/api/auth/login").json(&json!([SUPER_EMAIL, SUPER_PASSWORD])).send().await.unwrap();
    let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(err["fields"]["body"].is_string(), "{err}");
    let res = app
        .send_as(
            Method::POST,
            &shop.admin_token,
            "/api/admin/products",
            json!(["Positional", "positional", "text", 100, 5]),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let products: Value = app.as_user(Method::GET, &shop.admin_token, "/api/admin/products").json_body().await;
    assert_eq!(products["meta"]["total"], 0);
    for raw in ["\"text\"", "42", "null"] {
        let res = app
            .request(Method::POST, "/api/auth/login")
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
}

#[tokio::test]
async fn emails_that_look_the_same_are_the_same_account() {
    let app = spawn_app().await;
    app.create_shop("shopa").await;
    app.register_customer("shopa", "dup@shopa.test").await;
    for lookalike in ["dup@ＳＨＯＰＡ.test", "\u{217E}up@shopa.test", "DUP@SHOPA.TEST"] {
        let res = app
            .on_shop(Method::POST, "shopa", "/api/shop/auth/register")
            .json(&json!({"name": "Twin", "email": lookalike, "password": "customer-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT, "{lookalike} must be taken");
    }
    let res = app
        .on_shop(Method::POST, "shopa", "/api/shop/auth/login")
        .json(&json!({"email": "dup@ＳＨＯＰＡ.test", "password": "customer-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the full-width form signs in to the same account");
    // The registry too: a shop admin's address in another form is the same address.
    let body = json!({"name": "Twin", "subdomain": "twin", "admin_email": "admin@ＳＨＯＰＡ.example.com",
                      "admin_password": "shop-admin-password"});
    assert_eq!(app.create_client(&body).await.status(), StatusCode::CONFLICT);
}

async fn login_from(
    app: &TestApp,
    path: &str,
    host: Option<&str>,
    from: &str,
    email: &str,
    password: &str,
) -> StatusCode {
    let mut req = app.request(Method::POST, path).header("X-Forwarded-For", from);
    if let Some(host) = host {
        req = req.header("Host", host);
    }
    req.json(&json!({"email": email, "password": password})).send().await.unwrap().status()
}

#[tokio::test]
async fn failures_from_other_addresses_cannot_lock_an_owner_out() {
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let login = "/api/auth/login";
    // The super admin signed in before from their own address.
    assert_eq!(login_from(&app, login, None, "198.51.100.7", SUPER_EMAIL, SUPER_PASSWORD).await, StatusCode::OK);
    for i in 0..5 {
        let from = format!("203.0.113.{i}");
        assert_eq!(login_from(&app, login, None, &from, SUPER_EMAIL, "guess").await, StatusCode::UNAUTHORIZED);
    }
    // Five failures from five addresses lock nobody out, even from an address never seen.
    assert_eq!(login_from(&app, login, None, "198.51.100.8", SUPER_EMAIL, SUPER_PASSWORD).await, StatusCode::OK);

    // One address that keeps guessing waits longer and longer, even with the right password.
    for _ in 0..5 {
        assert_eq!(login_from(&app, login, None, "203.0.113.50", SUPER_EMAIL, "guess").await, StatusCode::UNAUTHORIZED);
    }
    let res = app
        .request(Method::POST, login)
        .header("X-Forwarded-For", "203.0.113.50")
        .json(&json!({"email": SUPER_EMAIL, "password": SUPER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    // A distributed guess at one account is capped for addresses it never signed in from, while
    // its owner, from a known address, still gets in.
    for i in 0..vergeflow::auth::throttle::ACCOUNT_LIMIT {
        let from = format!("192.0.2.{}", i % 250);
        let from = if i >= 250 { format!("{from}1") } else { from };
        let status = login_from(&app, login, None, &from, SUPER_EMAIL, "guess").await;
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS, "{status}");
    }
    let status = login_from(&app, login, None, "198.18.0.1", SUPER_EMAIL, SUPER_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "an unknown address is capped");
    assert_eq!(login_from(&app, login, None, "198.51.100.7", SUPER_EMAIL, SUPER_PASSWORD).await, StatusCode::OK);

    // Shop customers are counted the same way, per shop account.
    app.create_shop("locked").await;
    app.register_customer("locked", "victim@example.com").await;
    let shop_login = "/api/shop/auth/login";
    for i in 0..5 {
        let from = format!("203.0.113.{}", 100 + i);
        let status = login_from(&app, shop_login, Some("locked.localhost"), &from, "victim@example.com", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = login_from(
        &app,
        shop_login,
        Some("locked.localhost"),
        "198.51.100.9",
        "victim@example.com",
        "customer-password",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn cancelling_never_restocks_past_the_stock_limit() {
    let app = spawn_app().await;
    let c = catalog(&app, "restock").await;
    let admin = c.shop.admin_token.clone();
    let token = app.register_customer("restock", "buyer@example.com").await;
    let address_id = address(&app, &token).await;
    app.create(&token, "/api/shop/cart/items", json!({"product_id": c.kettle, "quantity": 5})).await;
    let order = app.create(&token, "/api/shop/checkout", json!({"address_id": address_id})).await;
    let product = format!("/api/admin/products/{}", c.kettle);
    let res = app.send_as(Method::PATCH, &admin, &product, json!({"stock": 1_000_000})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .send_as(Method::PATCH, &admin, &format!("/api/admin/orders/{}", order["id"]), json!({"status": "cancelled"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.fetch(&admin, &product).await["stock"], 1_000_000);
}

/// Sends raw bytes on a new connection and reads until the server closes it or `wait` passes.
fn raw_exchange(app: &TestApp, head: &str, body: &[u8], wait: Duration) -> (String, bool) {
    let addr = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    // A server that refuses early may close before everything is written: that is fine here.
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 4096];
    while started.elapsed() < wait {
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

/// Sends a chunked body past the limit, reads the answer, then sends the rest of the body and a
/// second request on the same connection; returns everything answered and whether it was closed.
fn chunked_then_pipelined(app: &TestApp) -> (String, bool) {
    let addr = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let chunk = |n: usize| {
        let mut c = format!("{n:x}\r\n").into_bytes();
        c.extend(std::iter::repeat_n(b' ', n));
        c.extend_from_slice(b"\r\n");
        c
    };
    let mut first = b"POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                      Transfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    first.extend(chunk(40 * 1024));
    first.extend(chunk(40 * 1024));
    stream.write_all(&first).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut received = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 4096];
    let mut read_for = |stream: &mut TcpStream, received: &mut Vec<u8>, wait: Duration| {
        let started = Instant::now();
        while started.elapsed() < wait {
            match stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    if received.windows(4).any(|w| w == b"\r\n\r\n") && wait < Duration::from_secs(2) {
                        return false;
                    }
                }
                Err(_) => return true,
            }
        }
        false
    };
    closed |= read_for(&mut stream, &mut received, Duration::from_secs(1));
    let mut rest = Vec::new();
    for _ in 0..8 {
        rest.extend(chunk(16 * 1024));
    }
    rest.extend_from_slice(b"0\r\n\r\nGET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let _ = stream.write_all(&rest);
    if !closed {
        closed = read_for(&mut stream, &mut received, Duration::from_secs(3));
    }
    (String::from_utf8_lossy(&received).into_owned(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_closes_the_connection_and_a_slow_body_times_out() {
    let app = spawn_app_with(|s| s.body_timeout = Duration::from_secs(1)).await;
    let app = std::sync::Arc::new(app);

    // 100 MiB announced and the first bytes sent: the server answers 413 and closes at once
    // instead of waiting to read (and drop) the other 100 MiB.
    let a = std::sync::Arc::clone(&app);
    let (answer, closed) = tokio::task::spawn_blocking(move || {
        let head = "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                    Content-Length: 104857600\r\n\r\n";
        raw_exchange(&a, head, &[b' '; 1024], Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(closed, "the connection must be closed after a 413");

    // The same body in chunks, then a pipelined request: actix would drain a dropped chunked body
    // and serve the next request; after a 413 the connection is closed instead.
    let a = std::sync::Arc::clone(&app);
    let (answers, closed) = tokio::task::spawn_blocking(move || chunked_then_pipelined(&a)).await.unwrap();
    assert!(answers.starts_with("HTTP/1.1 413"), "{answers}");
    assert_eq!(answers.matches("HTTP/1.1 ").count(), 1, "nothing after the 413 is served: {answers}");
    assert!(closed, "the connection must be closed after a 413");

    // A body that stops arriving: 408 once the body timeout passes, and the connection is closed.
    let a = std::sync::Arc::clone(&app);
    let (answer, closed) = tokio::task::spawn_blocking(move || {
        let head = "POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                    Content-Length: 100\r\n\r\n";
        raw_exchange(&a, head, b"{\"email\":", Duration::from_secs(8))
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(closed, "the connection must be closed after a 408");
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_its_databases_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    app.create_shop("private").await;
    let mode = |name: &str| std::fs::metadata(app.data_dir.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(""), 0o700, "the data folder");
    for file in app.data_files() {
        assert_eq!(mode(&file), 0o600, "{file}");
    }
    assert!(app.data_files().contains(&"main.db".to_string()));
    assert!(app.data_files().contains(&"client_1.db".to_string()));
    // A folder an older version left open is tightened at the next start.
    let (data_dir, tmp) = app.stop().await;
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data_dir.join("main.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let app = crate::helpers::spawn_on(&data_dir, |_| {}).await;
    assert_eq!(std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(data_dir.join("main.db")).unwrap().permissions().mode() & 0o777, 0o600);
    drop(app);
    drop(tmp);
}

#[tokio::test]
async fn input_the_probe_slipped_through_is_refused_with_the_field_named() {
    let app = spawn_app().await;
    let shop = app.create_shop("shopa").await;
    let admin = shop.admin_token.clone();

    let res = app
        .send_as(
            Method::POST,
            &admin,
            "/api/admin/coupons",
            json!({"code": "OLD10", "kind": "percent", "value": 10, "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(err["fields"]["expires_at"].is_string(), "{err}");

    let token = app.register_customer("shopa", "c@example.com").await;
    for country in ["XX", "ZZ"] {
        let res = app
            .send_as(
                Method::POST,
                &token,
                "/api/shop/addresses",
                json!({"name": "Ada", "line1": "1 Main St", "city": "X", "postal_code": "1", "country": country}),
            )
            .await;
        let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(err["fields"]["country"].is_string(), "{err}");
    }
    let res =
        app.send_as(Method::POST, &admin, "/api/admin/products", json!({"name": "\u{200B}", "price_cents": 100})).await;
    let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(err["fields"]["name"].is_string(), "{err}");

    assert_error(app.shop_by_host("shopa .localhost").await, StatusCode::NOT_FOUND, "client_not_found").await;
    for reference in ["+1", "01", "%201", "1%20"] {
        let res = app.get(&format!("/api/shop?client={reference}")).send().await.unwrap();
        assert_error(res, StatusCode::NOT_FOUND, "client_not_found").await;
    }
    let ok: Value = app.get("/api/shop?client=1").json_body().await;
    assert_eq!(ok["subdomain"], "shopa");

    let res = app
        .request(Method::POST, "/api/auth/login")
        .header("Content-Type", "application/json; charset=utf-16")
        .body(serde_json::to_vec(&json!({"email": SUPER_EMAIL, "password": SUPER_PASSWORD})).unwrap())
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "unsupported_content_type").await;
    let res = app
        .request(Method::POST, "/api/auth/login")
        .header("Content-Type", "application/json; charset=UTF-8")
        .body(serde_json::to_vec(&json!({"email": SUPER_EMAIL, "password": SUPER_PASSWORD})).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn order_numbers_are_short_and_sequential_per_shop() {
    let app = spawn_app().await;
    let mut numbers = Vec::new();
    for subdomain in ["numbers-a", "numbers-b"] {
        let c = catalog(&app, subdomain).await;
        let _ = c;
        let token = app.register_customer(subdomain, "n@example.com").await;
        let address_id = address(&app, &token).await;
        for _ in 0..2 {
            app.create(&token, "/api/shop/cart/items", json!({"product_id": c.mug, "quantity": 1})).await;
            let order = app.create(&token, "/api/shop/checkout", json!({"address_id": address_id})).await;
            numbers.push(order["number"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(numbers, ["1001", "1002", "1001", "1002"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_meets_a_deletion_gets_503_at_once() {
    let app = spawn_app().await;
    let shop = app.create_shop("going").await;
    // A request resolved the shop and holds its pool, with no connection yet, when deletion starts.
    let db = app.state.tenancy.pools.checkout(shop.id).unwrap();
    let state = std::sync::Arc::clone(&app.state);
    let deletion = std::thread::spawn(move || state.tenancy.pools.retire(shop.id, Duration::from_secs(30)));
    while !deletion.is_finished() && app.state.tenancy.pools.checkout(shop.id).is_ok() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let err = match db.get() {
        Ok(_) => panic!("a retired shop must not hand out connections"),
        Err(err) => err,
    };
    let waited = started.elapsed();
    assert_eq!(err.code(), "client_unavailable");
    assert!(waited < Duration::from_secs(2), "the 503 came after {waited:?}");
    drop(db);
    deletion.join().unwrap().unwrap();
}

#[tokio::test]
async fn known_paths_answer_405_with_allow_and_head_like_get() {
    let app = spawn_app().await;
    let res = app.request(Method::HEAD, "/health").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), 0);
    let res = app.request(Method::DELETE, "/health").send().await.unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let res = app.admin_api(Method::PUT, "/api/super-admin/clients").send().await.unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD, POST");
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    assert_error(app.get("/api/nothing-here").send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn checking_out_a_product_no_longer_sold_says_so() {
    let app = spawn_app().await;
    let c = catalog(&app, "retired").await;
    let token = app.register_customer("retired", "r@example.com").await;
    let address_id = address(&app, &token).await;
    app.create(&token, "/api/shop/cart/items", json!({"product_id": c.kettle, "quantity": 1})).await;
    let res = app
        .send_as(
            Method::PATCH,
            &c.shop.admin_token,
            &format!("/api/admin/products/{}", c.kettle),
            json!({"active": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.send_as(Method::POST, &token, "/api/shop/checkout", json!({"address_id": address_id})).await;
    let err = assert_error(res, StatusCode::CONFLICT, "product_unavailable").await;
    assert!(err["message"].as_str().unwrap().contains("no longer sold"), "{err}");
}

#[tokio::test]
async fn the_registry_sign_in_cap_spares_addresses_that_signed_in_before() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.password_rate_per_shop = 3;
    })
    .await;
    let login = "/api/auth/login";
    // spawn_app signed in once from 127.0.0.1 (no forwarded address); the owner's own address:
    assert_eq!(login_from(&app, login, None, "198.51.100.7", SUPER_EMAIL, SUPER_PASSWORD).await, StatusCode::OK);
    // A flood from elsewhere spends the registry's sign-ins for the minute…
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(login_from(&app, login, None, &format!("203.0.113.{i}"), SUPER_EMAIL, "guess").await);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    // …yet the owner, from the address they signed in from before, still gets in.
    assert_eq!(login_from(&app, login, None, "198.51.100.7", SUPER_EMAIL, SUPER_PASSWORD).await, StatusCode::OK);
}
