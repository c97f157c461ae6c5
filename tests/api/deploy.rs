//! The files in `deploy/` against the real tools (Debian's systemd, caddy and nginx-light; `.ci/run`
//! installs them): the unit verifies, and Caddy and nginx, run with the shipped configurations on
//! loopback ports, serve shops through to a running server. Caddy obtains certificates on demand
//! (from its own local CA here, instead of Let's Encrypt) only for names `/tls/ask` accepts.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, require_tool, spawn_app_with};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(file)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the proxy when the test ends, however it ends.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `curl -k` to `https://<host>:<port><path>` resolved to loopback: (exit code, HTTP status, body).
fn curl(host: &str, port: u16, path: &str) -> (i32, u16, String) {
    require_tool("curl", "curl");
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "20", "-w", "\n%{http_code}", "--noproxy", "*"])
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (out.status.code().unwrap_or(-1), code.trim().parse().unwrap_or(0), body.to_string())
}

async fn shops_behind_a_proxy() -> TestApp {
    let app = spawn_app_with(|s| {
        s.base_domain = "shops.test".into();
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let res = app
        .create_client(&json!({"name": "Custom", "subdomain": "custom", "domain": "shop.customer.test",
            "admin_email": "a@custom.test", "admin_password": "custom-password"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    require_tool("systemd-analyze", "systemd");
    let tmp = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(deploy("vergeflow.service")).unwrap();
    for setting in ["User=vergeflow", "ProtectSystem=strict", "LimitNOFILE=", "NoNewPrivileges=true", "UMask=0077"] {
        assert!(unit.contains(setting), "the unit lacks {setting}");
    }
    // systemd-analyze checks that ExecStart exists: point it at this build.
    let path = tmp.path().join("vergeflow.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/vergeflow", env!("CARGO_BIN_EXE_vergeflow"))).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("systemd-analyze");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !said.contains("vergeflow.service:"), "systemd-analyze verify: {said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_with_the_shipped_caddyfile_gets_certificates_only_for_active_shops_and_proxies_to_them() {
    require_tool("caddy", "caddy");
    let app = shops_behind_a_proxy().await;
    let tmp = tempfile::tempdir().unwrap();
    let (http_port, https_port) = (free_port(), free_port());
    // The shipped file, with a local CA instead of Let's Encrypt and loopback ports.
    let shipped = std::fs::read_to_string(deploy("Caddyfile")).unwrap();
    let local = shipped.replacen(
        "{\n",
        &format!(
            "{{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n\thttp_port {http_port}\n\thttps_port {https_port}\n\tstorage file_system {}\n",
            tmp.path().join("caddy").display()
        ),
        1,
    );
    let config = tmp.path().join("Caddyfile");
    std::fs::write(&config, local).unwrap();
    let log = tmp.path().join("caddy.log");
    let upstream = app.address.trim_start_matches("http://").to_string();
    let caddy = Proxy(
        Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&config)
            .env("VERGEFLOW_BASE_DOMAIN", "shops.test")
            .env("VERGEFLOW_UPSTREAM", &upstream)
            .env("HOME", tmp.path())
            .env("XDG_DATA_HOME", tmp.path().join("data"))
            .env("XDG_CONFIG_HOME", tmp.path().join("config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("caddy"),
    );
    tokio::task::spawn_blocking(move || wait_for_port(https_port, &log)).await.unwrap();

    for host in ["shop.customer.test", "custom.shops.test"] {
        let (code, status, body) =
            tokio::task::spawn_blocking(move || curl(host, https_port, "/api/shop")).await.unwrap();
        assert_eq!((code, status), (0, 200), "{host}: {body}");
        let shop: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(shop["subdomain"], "custom", "{host} reached another shop: {body}");
    }
    // Names that are no active shop's get no certificate: the handshake fails.
    for host in ["nobody.customer.test", "ghost.shops.test"] {
        let (code, _, body) = tokio::task::spawn_blocking(move || curl(host, https_port, "/api/shop")).await.unwrap();
        assert_ne!(code, 0, "{host} got a certificate: {body}");
    }
    // Metrics and the TLS question are not served to the outside.
    let (_, status, _) =
        tokio::task::spawn_blocking(move || curl("custom.shops.test", https_port, "/metrics")).await.unwrap();
    assert_eq!(status, 404);
    drop(caddy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_with_the_shipped_configuration_proxies_shops_and_hides_metrics() {
    require_tool("nginx", "nginx-light");
    require_tool("openssl", "openssl");
    let app = shops_behind_a_proxy().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (http_port, https_port) = (free_port(), free_port());
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=shops.test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The shipped files, with loopback ports, this certificate and this server.
    let site = std::fs::read_to_string(deploy("nginx.conf"))
        .unwrap()
        .replace("listen [::]:80;\n", "")
        .replace("listen [::]:443 ssl http2;\n", "")
        .replace("listen 80;", &format!("listen 127.0.0.1:{http_port};"))
        .replace("listen 443 ssl http2;", &format!("listen 127.0.0.1:{https_port} ssl http2;"))
        .replace("/etc/letsencrypt/live/shops.example.com/fullchain.pem", cert.to_str().unwrap())
        .replace("/etc/letsencrypt/live/shops.example.com/privkey.pem", key.to_str().unwrap())
        .replace("/etc/nginx/snippets/vergeflow-proxy.conf", deploy("nginx-vergeflow-proxy.conf").to_str().unwrap())
        .replace("shops.example.com", "shops.test")
        .replace("server 127.0.0.1:8080;", &format!("server {};", app.address.trim_start_matches("http://")));
    std::fs::write(dir.join("vergeflow.conf"), site).unwrap();
    let main = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  \
         client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  include {d}/vergeflow.conf;\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let test = Command::new("nginx")
        .arg("-t")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .output()
        .expect("nginx");
    assert!(test.status.success(), "nginx -t: {}", String::from_utf8_lossy(&test.stderr));
    let log = dir.join("error.log");
    let _nginx = Proxy(
        Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx"),
    );
    tokio::task::spawn_blocking(move || wait_for_port(https_port, &log)).await.unwrap();
    let (code, status, body) =
        tokio::task::spawn_blocking(move || curl("custom.shops.test", https_port, "/api/shop")).await.unwrap();
    assert_eq!((code, status), (0, 200), "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["subdomain"], "custom");
    let (_, status, _) =
        tokio::task::spawn_blocking(move || curl("custom.shops.test", https_port, "/metrics")).await.unwrap();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn tls_ask_answers_200_only_for_active_shops_names() {
    let app = shops_behind_a_proxy().await;
    let ask = |domain: &str| app.get("/tls/ask").query(&[("domain", domain)]).send();
    for ok in ["shop.customer.test", "SHOP.customer.test", "custom.shops.test"] {
        assert_eq!(ask(ok).await.unwrap().status(), StatusCode::OK, "{ok}");
    }
    for refused in ["nobody.test", "ghost.shops.test", "shops.test", "127.0.0.1", "", "a..b", "x.custom.shops.test"] {
        assert_eq!(ask(refused).await.unwrap().status(), StatusCode::NOT_FOUND, "{refused}");
    }
    assert_eq!(app.get("/tls/ask").send().await.unwrap().status(), StatusCode::NOT_FOUND);
    // A suspended shop gets no new certificate.
    let res = app
        .admin_api(reqwest::Method::PATCH, "/api/super-admin/clients/1")
        .json(&json!({"status": "suspended"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(ask("shop.customer.test").await.unwrap().status(), StatusCode::NOT_FOUND);
}
