use std::path::{Path, PathBuf};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use vergeflow::config::Settings;
use vergeflow::startup::Application;

pub const SUPER_EMAIL: &str = "root@example.com";
pub const SUPER_PASSWORD: &str = "super-secret-password";

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub data_dir: PathBuf,
    pub settings: Settings,
    pub http: reqwest::Client,
    pub super_token: String,
    /// The server's shared state, for tests that must act inside it (hold a pool, retire a shop).
    pub state: std::sync::Arc<vergeflow::state::AppState>,
    handle: actix_web::dev::ServerHandle,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
    tmp: Option<TempDir>,
}

pub fn test_settings(data_dir: &Path) -> Settings {
    let mut s = Settings::for_data_dir(data_dir);
    s.admin_email = SUPER_EMAIL.into();
    s.admin_password = Some(SUPER_PASSWORD.into());
    // Suites sign up and sign in far more often from 127.0.0.1 than any person would; the
    // hardening tests put the production limits back.
    s.password_rate_per_ip = 1_000_000;
    s.password_rate_per_shop = 1_000_000;
    s.hash_queue = 1_000;
    // Scheduled backups would start on their own during long tests; the backup tests turn them on.
    s.backup_every = None;
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data_dir = tmp.path().join("data");
    let mut app = spawn_on(&data_dir, tweak).await;
    app.tmp = Some(tmp);
    app
}

/// Starts a server over an existing data folder (a restart after a simulated crash).
pub async fn spawn_on(data_dir: &Path, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    vergeflow::telemetry::init_with_default(vergeflow::config::LogFormat::Text, "error");
    let mut settings = test_settings(data_dir);
    tweak(&mut settings);
    let app = Application::build(settings.clone()).expect("server builds");
    let port = app.port();
    let handle = app.handle();
    let state = app.state();
    let join = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut test = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        data_dir: data_dir.to_path_buf(),
        settings,
        http,
        super_token: String::new(),
        state,
        handle,
        join,
        tmp: None,
    };
    test.super_token = test.login_token(SUPER_EMAIL, SUPER_PASSWORD).await;
    test
}

/// A shop created through the API, with its admin's token.
pub struct TestShop {
    pub id: i64,
    pub subdomain: String,
    pub admin_email: String,
    pub admin_token: String,
}

impl TestApp {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{}", self.address, path))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A request to the super-admin API, signed in.
    pub fn admin_api(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(&self.super_token)
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.request(Method::POST, "/api/auth/login")
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    pub async fn login_token(&self, email: &str, password: &str) -> String {
        let res = self.login(email, password).await;
        assert_eq!(res.status(), StatusCode::OK, "login of {email}");
        res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }

    pub async fn create_client(&self, body: &Value) -> Response {
        self.admin_api(Method::POST, "/api/super-admin/clients").json(body).send().await.unwrap()
    }

    pub async fn create_shop(&self, subdomain: &str) -> TestShop {
        let admin_email = format!("admin@{subdomain}.example.com");
        let res = self
            .create_client(&json!({
                "name": format!("Shop {subdomain}"),
                "subdomain": subdomain,
                "admin_email": admin_email,
                "admin_password": "shop-admin-password",
            }))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "creating {subdomain}");
        let client: Value = res.json().await.unwrap();
        let admin_token = self.login_token(&admin_email, "shop-admin-password").await;
        TestShop { id: client["id"].as_i64().unwrap(), subdomain: subdomain.into(), admin_email, admin_token }
    }

    /// A request to a shop, addressed by its subdomain.
    pub fn on_shop(&self, method: Method, subdomain: &str, path: &str) -> RequestBuilder {
        self.request(method, path).header("Host", format!("{subdomain}.localhost"))
    }

    /// A request from a shop's admin (or customer) token to that shop.
    pub fn as_user(&self, method: Method, token: &str, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(token)
    }

    /// Registers a customer on a shop and returns their token.
    pub async fn register_customer(&self, subdomain: &str, email: &str) -> String {
        let res = self
            .on_shop(Method::POST, subdomain, "/api/shop/auth/register")
            .json(&json!({"name": "Customer", "email": email, "password": "customer-password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "registering {email}");
        res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
    }

    /// Sends a JSON body with a token, whatever the answer.
    pub async fn send_as(&self, method: Method, token: &str, path: &str, body: Value) -> Response {
        self.as_user(method, token, path).json(&body).send().await.unwrap()
    }

    /// Sends a JSON body with a token; the status and the JSON answer (null if none).
    pub async fn send_json(&self, method: Method, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self.send_as(method, token, path, body).await;
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    /// POSTs JSON with a token and expects 201, returning the body.
    pub async fn create(&self, token: &str, path: &str, body: Value) -> Value {
        let res = self.as_user(Method::POST, token, path).json(&body).send().await.unwrap();
        let status = res.status();
        let value: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {value}");
        value
    }

    /// GETs with a token and expects 200, returning the body.
    pub async fn fetch(&self, token: &str, path: &str) -> Value {
        let res = self.as_user(Method::GET, token, path).send().await.unwrap();
        let status = res.status();
        let value: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {value}");
        value
    }

    /// Follows a `202 {"job": …}` answer to its end and returns the finished job.
    pub async fn finish_job(&self, accepted: Response) -> Value {
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        let body: Value = accepted.json().await.unwrap();
        let id = body["job"]["id"].as_i64().expect("a job id");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let job: Value = self.fetch(&self.super_token, &format!("/api/super-admin/jobs/{id}")).await;
            if job["status"] == "done" || job["status"] == "failed" {
                return job;
            }
            assert!(std::time::Instant::now() < deadline, "job {id} did not finish: {job}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn list_clients(&self) -> Value {
        self.admin_api(Method::GET, "/api/super-admin/clients?per_page=100").send().await.unwrap().json().await.unwrap()
    }

    pub async fn stats(&self) -> Value {
        self.admin_api(Method::GET, "/api/super-admin/stats").send().await.unwrap().json().await.unwrap()
    }

    /// `GET /api/shop` with a Host header.
    pub async fn shop_by_host(&self, host: &str) -> Response {
        self.get("/api/shop").header("Host", host).send().await.unwrap()
    }

    /// Names of the files at the top of the data folder, sorted.
    pub fn data_files(&self) -> Vec<String> {
        list_files(&self.data_dir)
    }

    /// Stops the server gracefully and keeps the data folder (and its temp dir) alive.
    pub async fn stop(self) -> (PathBuf, Option<TempDir>) {
        let TestApp { handle, join, state, data_dir, tmp, .. } = self;
        drop(state); // the server's own handle closes its databases when it stops
        handle.stop(true).await;
        join.await.unwrap().unwrap();
        (data_dir, tmp)
    }
}

/// Sends a request and reads its JSON body, whatever the status.
pub trait JsonBody {
    async fn json_body(self) -> Value;
}

impl JsonBody for RequestBuilder {
    async fn json_body(self) -> Value {
        self.send().await.expect("request sent").json().await.expect("a JSON body")
    }
}

pub fn list_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Asserts the JSON error shape and code, returning the body.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> Value {
    let actual = res.status();
    let body: Value = res.json().await.expect("error bodies are JSON");
    assert_eq!(actual, status, "body: {body}");
    assert_eq!(body["error"], code, "body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {body}");
    body
}

/// Makes sure a program from a Debian package is installed (installing it with apt-get when it is
/// not), so that `cargo test` on a fresh Debian machine needs nothing done by hand.
pub fn require_tool(command: &str, package: &str) {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let present = || {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {command}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if present() {
        return;
    }
    let install = || {
        std::process::Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !install() {
        let _ = std::process::Command::new("apt-get").args(["update", "-qq"]).output();
        install();
    }
    assert!(present(), "{command} is missing and `apt-get install {package}` did not provide it");
}

/// The Python of a venv under `target/` holding one PyPI package (`package==version`), made on
/// first use, so `cargo test` on a fresh machine needs nothing done by hand. `module` is what
/// `import` proves it installed.
pub fn venv_python(venv: &str, package: &str, module: &str) -> PathBuf {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join(venv);
    let py = venv.join("bin/python");
    let has = || {
        std::process::Command::new(&py).args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success())
    };
    if !has() {
        let ok =
            std::process::Command::new("python3").arg("-m").arg("venv").arg(&venv).status().is_ok_and(|s| s.success())
                && std::process::Command::new(venv.join("bin/pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check", package])
                    .status()
                    .is_ok_and(|s| s.success());
        assert!(ok && has(), "could not install {package} into {}", venv.display());
    }
    py
}
