//! Mail end to end against a real SMTP server (aiosmtpd, from PyPI into `target/smtp-venv`, started
//! by the test on a loopback port): welcome, password reset for customers and admins, order mails,
//! and an SMTP server that is down delaying mail without failing or slowing the request.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app_with};
use crate::shop_journeys::address;

const AIOSMTPD_VERSION: &str = "1.4.6";

fn python() -> PathBuf {
    crate::helpers::venv_python("smtp-venv", &format!("aiosmtpd=={AIOSMTPD_VERSION}"), "aiosmtpd")
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The SMTP server: each accepted message is a JSON file in `folder`.
pub struct Sink {
    child: Child,
    pub port: u16,
    pub folder: PathBuf,
}

impl Sink {
    pub fn start(port: u16, folder: &Path) -> Sink {
        std::fs::create_dir_all(folder).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .arg(folder)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the SMTP sink");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Sink { child, port, folder: folder.to_path_buf() }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(&self.folder)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        names.iter().map(|n| serde_json::from_slice(&std::fs::read(self.folder.join(n)).unwrap()).unwrap()).collect()
    }

    /// Waits until a message to `to` whose subject contains `subject` arrives, and returns it.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| {
                m["rcpt_tos"].as_array().unwrap().iter().any(|r| r == to)
                    && m["subject"].as_str().unwrap().contains(subject)
            }) {
                return m;
            }
            assert!(Instant::now() < deadline, "no mail to {to} about {subject:?}; got {:#?}", self.messages());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn token_in(text: &str) -> String {
    let at = text.find("vf_").expect("a token in the mail");
    text[at..at + 67].to_string()
}

async fn forgot(app: &TestApp, shop: Option<&str>, email: &str) {
    let path = if shop.is_some() { "/api/shop/auth/password/forgot" } else { "/api/auth/password/forgot" };
    let req = match shop {
        Some(s) => app.on_shop(Method::POST, s, path),
        None => app.request(Method::POST, path),
    };
    let res = req.json(&json!({ "email": email })).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
}

async fn reset(app: &TestApp, shop: Option<&str>, body: Value) -> reqwest::Response {
    let path = if shop.is_some() { "/api/shop/auth/password/reset" } else { "/api/auth/password/reset" };
    let req = match shop {
        Some(s) => app.on_shop(Method::POST, s, path),
        None => app.request(Method::POST, path),
    };
    req.json(&body).send().await.unwrap()
}

async fn customer_login(app: &TestApp, shop: &str, email: &str, password: &str) -> StatusCode {
    app.on_shop(Method::POST, shop, "/api/shop/auth/login")
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn welcome_reset_and_order_mails_go_through_a_real_smtp_server() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::start(free_port(), &tmp.path().join("inbox"));
    let url = sink.url();
    let app = spawn_app_with(|s| s.smtp_url = Some(url)).await;
    let shop = app.create_shop("mailshop").await;

    // Registration → welcome, from the shop's name.
    let token = app.register_customer("mailshop", "ada@example.com").await;
    let welcome = sink.wait_for("ada@example.com", "Welcome to Shop mailshop").await;
    assert!(welcome["from"].as_str().unwrap().starts_with("Shop mailshop <noreply@localhost>"), "{welcome}");
    assert!(welcome["text"].as_str().unwrap().contains("Hello Customer"));
    assert!(welcome["html"].as_str().unwrap().contains("<strong>Shop mailshop</strong>"));

    // Forgot → mail with a token → reset; the old password and the old token stop working.
    forgot(&app, Some("mailshop"), "ADA@example.com").await;
    let mail = sink.wait_for("ada@example.com", "Reset your Shop mailshop password").await;
    let reset_token = token_in(mail["text"].as_str().unwrap());
    let weak =
        reset(&app, Some("mailshop"), json!({"email": "ada@example.com", "token": reset_token, "password": "short"}))
            .await;
    assert_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = reset(
        &app,
        Some("mailshop"),
        json!({"email": "ada@example.com", "token": reset_token, "password": "a brand new password"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        customer_login(&app, "mailshop", "ada@example.com", "customer-password").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(customer_login(&app, "mailshop", "ada@example.com", "a brand new password").await, StatusCode::OK);
    let me = app.as_user(Method::GET, &token, "/api/shop/me").send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "the customer's other tokens were revoked");
    let again = reset(
        &app,
        Some("mailshop"),
        json!({"email": "ada@example.com", "token": reset_token, "password": "yet another password"}),
    )
    .await;
    assert_error(again, StatusCode::UNPROCESSABLE_ENTITY, "invalid_token").await;

    // An expired token is refused.
    forgot(&app, Some("mailshop"), "ada@example.com").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let second = loop {
        let resets: Vec<Value> =
            sink.messages().into_iter().filter(|m| m["subject"].as_str().unwrap().starts_with("Reset")).collect();
        if resets.len() == 2 {
            break resets[1].clone();
        }
        assert!(Instant::now() < deadline, "no second reset mail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let expired_token = token_in(second["text"].as_str().unwrap());
    app.state
        .main
        .get()
        .unwrap()
        .execute("UPDATE password_reset_tokens SET expires_at = '2000-01-01T00:00:00Z'", [])
        .unwrap();
    let res = reset(
        &app,
        Some("mailshop"),
        json!({"email": "ada@example.com", "token": expired_token, "password": "yet another password"}),
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_token").await;

    // No account, same answer, no mail.
    let before = sink.messages().len();
    forgot(&app, Some("mailshop"), "nobody@example.com").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.messages().len(), before, "no mail for an unknown address");

    // An order → the customer's and the admin's mail; a status change → the customer's.
    let token = app.login_customer("mailshop", "ada@example.com", "a brand new password").await;
    let product = app
        .create(
            &shop.admin_token,
            "/api/admin/products",
            json!({"name": "Green <Tea>", "price_cents": 1250, "stock": 5}),
        )
        .await;
    app.create(&token, "/api/shop/cart/items", json!({"product_id": product["id"], "quantity": 2})).await;
    let address_id = address(&app, &token).await;
    let order = app.create(&token, "/api/shop/checkout", json!({"address_id": address_id})).await;
    let number = order["number"].as_str().unwrap();
    let to_customer = sink.wait_for("ada@example.com", &format!("Your order {number}")).await;
    assert!(to_customer["text"].as_str().unwrap().contains("2 × Green <Tea>  25.00"), "{to_customer}");
    assert!(to_customer["html"].as_str().unwrap().contains("Green &lt;Tea&gt;"), "HTML is escaped");
    let to_admin = sink.wait_for(&shop.admin_email, &format!("New order {number} (25.00)")).await;
    assert!(to_admin["text"].as_str().unwrap().contains("ada@example.com"));
    let res = app
        .send_as(
            Method::PATCH,
            &shop.admin_token,
            &format!("/api/admin/orders/{}", order["id"]),
            json!({"status": "paid"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    sink.wait_for("ada@example.com", &format!("Your order {number} is paid")).await;

    // A shop admin's reset: the main registry's endpoints, sender "VergeFlow".
    forgot(&app, None, &shop.admin_email).await;
    let mail = sink.wait_for(&shop.admin_email, "Reset your VergeFlow password").await;
    let t = token_in(mail["text"].as_str().unwrap());
    let res = reset(&app, None, json!({"email": shop.admin_email, "token": t, "password": "new admin password"})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login(&shop.admin_email, "shop-admin-password").await.status(), StatusCode::UNAUTHORIZED);
    let res = app.as_user(Method::GET, &shop.admin_token, "/api/auth/me").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the admin's sessions ended");
    assert_eq!(app.login(&shop.admin_email, "new admin password").await.status(), StatusCode::OK);
    // A customer's token is not an admin's.
    let res =
        reset(&app, None, json!({"email": shop.admin_email, "token": t, "password": "another admin password"})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_token").await;
}

impl TestApp {
    pub async fn login_customer(&self, shop: &str, email: &str, password: &str) -> String {
        let res = self
            .on_shop(Method::POST, shop, "/api/shop/auth/login")
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn forgot_is_throttled_per_address_and_answers_alike() {
    let app = spawn_app_with(|_| {}).await;
    app.create_shop("quiet").await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let res = app
            .on_shop(Method::POST, "quiet", "/api/shop/auth/password/forgot")
            .json(&json!({ "email": format!("x{i}@example.com") }))
            .send()
            .await
            .unwrap();
        statuses.push(res.status());
    }
    assert!(statuses[..10].iter().all(|s| *s == StatusCode::ACCEPTED), "{statuses:?}");
    assert_eq!(statuses[11], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

#[tokio::test]
async fn a_down_smtp_server_delays_mail_without_failing_the_request_and_failed_jobs_can_be_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(url);
        s.job_retry_base = Duration::from_millis(100);
    })
    .await;
    app.create_shop("downshop").await;

    // Nothing listens: registration answers at once, the welcome mail waits and retries.
    let started = Instant::now();
    app.register_customer("downshop", "bob@example.com").await;
    assert!(started.elapsed() < Duration::from_secs(3), "the request did not wait for SMTP");
    let deadline = Instant::now() + Duration::from_secs(20);
    let job = loop {
        let jobs = app.fetch(&app.super_token, "/api/super-admin/jobs?kind=send_mail").await;
        let job = jobs["data"][0].clone();
        if job["attempts"].as_i64().unwrap_or(0) >= 2 {
            break job;
        }
        assert!(Instant::now() < deadline, "the mail job did not retry: {jobs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(job["last_error"].as_str().unwrap().contains("SMTP"), "{job}");
    assert_eq!(job["max_attempts"], 11);

    // A reset mail has 3 attempts: it fails for good and is listed.
    app.on_shop(Method::POST, "downshop", "/api/shop/auth/password/forgot")
        .json(&json!({ "email": "bob@example.com" }))
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let failed = app.fetch(&app.super_token, "/api/super-admin/jobs/failed").await;
        if failed["meta"]["total"] == 1 {
            break failed["data"][0].clone();
        }
        assert!(Instant::now() < deadline, "the reset job did not fail: {failed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed["kind"], "password_reset");
    let job = app.fetch(&app.super_token, &format!("/api/super-admin/jobs/{}", failed["job_id"])).await;
    assert_eq!((job["status"].as_str(), job["attempts"].as_i64()), (Some("failed"), Some(3)), "{job}");
    assert_eq!(job["result"]["error"], "mail_not_sent");

    // The server comes up: the welcome goes out on its next retry; the failed reset is retried by hand.
    let sink = Sink::start(port, &tmp.path().join("inbox"));
    sink.wait_for("bob@example.com", "Welcome").await;
    let res = app
        .admin_api(Method::POST, &format!("/api/super-admin/jobs/failed/{}/retry", failed["id"]))
        .send()
        .await
        .unwrap();
    let done = app.finish_job(res).await;
    assert_eq!(done["status"], "done", "{done}");
    sink.wait_for("bob@example.com", "Reset your").await;
    let failed = app.fetch(&app.super_token, "/api/super-admin/jobs/failed").await;
    assert_eq!(failed["meta"]["total"], 0);
    let res = app.admin_api(Method::POST, "/api/super-admin/jobs/failed/999/retry").send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "failed_job_not_found").await;
}
