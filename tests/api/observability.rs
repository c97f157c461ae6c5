//! `/health`, `/ready`, `/metrics` (checked with promtool, Debian's `prometheus` package) and the
//! log stream of the real binary in JSON mode.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{SUPER_EMAIL, require_tool, spawn_app, spawn_app_with};

/// Runs `promtool check metrics` on a scrape; panics with its complaints.
fn promtool_check(scrape: &str) {
    require_tool("promtool", "prometheus");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; .ci/run installs it)");
    child.stdin.take().unwrap().write_all(scrape.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool: {said}");
}

#[tokio::test]
async fn health_and_ready_answer_get_and_head_and_fail_once_the_data_folder_is_gone() {
    let app = spawn_app().await;
    for path in ["/health", "/ready"] {
        let res = app.get(path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let body: Value = res.json().await.unwrap();
        assert!(body["status"] == "ok" || body["status"] == "ready", "{body}");
        let head = app.request(Method::HEAD, path).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
    }
    let ready: Value = app.get("/ready").send().await.unwrap().json().await.unwrap();
    assert!(ready["disk_free_bytes"].as_u64().unwrap() > 0);

    std::fs::remove_dir_all(&app.data_dir).unwrap();
    for path in ["/health", "/ready"] {
        let res = app.get(path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path} after the data folder vanished");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
        assert_eq!(app.request(Method::HEAD, path).send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[tokio::test]
async fn metrics_label_routes_shops_statuses_versions_and_jobs_and_pass_promtool() {
    let app = spawn_app().await;
    let busy = app.create_shop("busy").await;
    let quiet = app.create_shop("quiet").await;
    for _ in 0..5 {
        assert_eq!(
            app.on_shop(Method::GET, "busy", "/api/shop/products").send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        app.on_shop(Method::GET, "quiet", "/api/shop/products/999").send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let res = app
        .admin_api(Method::PATCH, &format!("/api/super-admin/clients/{}", quiet.id))
        .json(&json!({"status": "suspended"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let _ = busy;

    let res = app.get("/metrics").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let scrape = res.text().await.unwrap();
    promtool_check(&scrape);
    for expected in [
        "vergeflow_http_request_duration_seconds_count{route=\"/api/shop/products\",method=\"GET\",status=\"2xx\"} 5",
        "vergeflow_http_request_duration_seconds_count{route=\"/api/shop/products/{id}\",method=\"GET\",status=\"4xx\"} 1",
        "vergeflow_http_request_duration_seconds_bucket{route=\"/api/shop/products\",method=\"GET\",status=\"2xx\",le=\"+Inf\"} 5",
        "vergeflow_shop_requests_total{client_id=\"1\"} 5",
        "vergeflow_shop_requests_total{client_id=\"2\"} 1",
        "vergeflow_shop_requests_total{client_id=\"other\"} 0",
        "vergeflow_shops{status=\"active\"} 1",
        "vergeflow_shops{status=\"suspended\"} 1",
        "vergeflow_shop_migration_failures 0",
        "vergeflow_jobs{status=\"pending\"} 0",
        "vergeflow_build_info{version=\"",
        "vergeflow_uptime_seconds ",
        "vergeflow_tenant_connection_open_seconds_count ",
    ] {
        assert!(scrape.contains(expected), "missing {expected:?} in:\n{scrape}");
    }
    let versions = format!(
        "vergeflow_shops_by_schema_version{{version=\"{}\"}} 2",
        vergeflow::db::migrations::latest_client_version()
    );
    assert!(scrape.contains(&versions), "missing {versions:?} in:\n{scrape}");
}

#[tokio::test]
async fn a_metrics_token_restricts_metrics() {
    let app = spawn_app_with(|s| s.metrics_token = Some("a-long-metrics-token-0123".into())).await;
    let res = app.get("/metrics").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");
    assert_eq!(
        app.get("/metrics").bearer_auth("a-long-metrics-token-0124").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app.get("/metrics").bearer_auth("a-long-metrics-token-0123").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The health endpoints stay open for load balancers.
    assert_eq!(app.get("/health").send().await.unwrap().status(), StatusCode::OK);
}

/// Starts the binary with JSON logs; returns (child, base URL, stdout path, stderr path).
fn start_json_binary(dir: &Path) -> (std::process::Child, String, std::path::PathBuf, std::path::PathBuf) {
    let (out, err) = (dir.join("stdout.log"), dir.join("stderr.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_vergeflow"))
        .args(["serve", "--data-dir", dir.join("data").to_str().unwrap(), "--bind", "127.0.0.1:0"])
        .env("VERGEFLOW_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("VERGEFLOW_ADMIN_EMAIL", SUPER_EMAIL)
        .env("VERGEFLOW_SLOW_QUERY_MS", "1")
        .env("VERGEFLOW_TRUSTED_PROXIES", "127.0.0.1")
        .env_remove("VERGEFLOW_ADMIN_PASSWORD")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let port = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(rest) = text.split("127.0.0.1:").nth(1) {
            break rest.chars().take_while(char::is_ascii_digit).collect::<String>();
        }
        assert!(std::time::Instant::now() < deadline, "no address announced: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    (child, format!("http://127.0.0.1:{port}"), out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_only_json_without_colour_and_carry_ip_user_shop_and_slow_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, base, out, err) = start_json_binary(tmp.path());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // The first start's generated password is on stdout, as JSON.
    let first: Value = serde_json::from_str(std::fs::read_to_string(&out).unwrap().lines().next().unwrap()).unwrap();
    let password = first["password"].as_str().expect("the generated password in a JSON line").to_string();
    let login = |email: &str, password: &str, ip: &str| {
        http.post(format!("{base}/api/auth/login"))
            .header("X-Forwarded-For", ip)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    let res = login(SUPER_EMAIL, "wrong-password-here", "203.0.113.9").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let token: Value = login(SUPER_EMAIL, &password, "203.0.113.10").await.unwrap().json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let res = http
        .post(format!("{base}/api/super-admin/clients"))
        .bearer_auth(&token)
        .json(&json!({"name": "Logs", "subdomain": "logs", "admin_email": "a@logs.test", "admin_password": "logs-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // Enough products that counting them takes over a millisecond.
    {
        let mut conn = rusqlite::Connection::open(tmp.path().join("data/client_1.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..60_000 {
            tx.execute("INSERT INTO products (name, slug, price_cents) VALUES (?1, ?1, 100)", [format!("bulk-{i}")])
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let res = http
        .get(format!("{base}/api/admin/products?client=logs"))
        .bearer_auth(&token)
        .header("X-Forwarded-For", "203.0.113.11")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    let mut lines = Vec::new();
    for line in stdout.lines().chain(stderr.lines()).filter(|l| !l.trim().is_empty()) {
        assert!(!line.contains('\u{1b}'), "a colour code in {line:?}");
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line:?}"));
        lines.push(parsed);
    }
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.contains("listening on"))));
    let failed = lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.starts_with("sign-in failed")))
        .expect("a failed sign-in line");
    assert_eq!(failed["ip"], "203.0.113.9", "{failed}");
    let listed = lines
        .iter()
        .find(|l| l["message"] == "response" && l["span"]["path"] == "/api/admin/products")
        .expect("the response line of the product list");
    assert_eq!(listed["span"]["ip"], "203.0.113.11", "{listed}");
    assert_eq!(listed["span"]["client_id"], 1, "{listed}");
    assert_eq!(listed["span"]["user_id"], "user:1", "{listed}");
    let slow = lines.iter().find(|l| l["message"] == "slow query").expect("a slow query line");
    assert_eq!(slow["client_id"], 1, "{slow}");
    assert!(slow["sql"].as_str().unwrap().contains("products"), "{slow}");
}
