//! The web console in a real browser: headless Chromium driven through chromedriver (Debian's
//! `chromium` and `chromium-driver`, installed when missing) against the real server. Each test
//! saves screenshots under `target/screenshots/`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;

use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD, TestApp, require_tool};

/// chromedriver on a free port and a headless Chromium session through it.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

pub async fn browser() -> Browser {
    require_tool("chromium", "chromium");
    require_tool("chromedriver", "chromium-driver");
    let mut driver = Command::new("chromedriver")
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("chromedriver said where it listens").unwrap();
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            break rest.trim_end_matches('.').trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                    "--window-size=1280,900", "--no-proxy-server"]}),
    );
    let mut client = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Browser { client: client.expect("a Chromium session"), driver }
}

pub async fn screenshot(client: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

pub async fn fill(client: &Client, name: &str, value: &str) {
    let field = client.find(Locator::Css(&format!("[name='{name}']"))).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// The text of the first element `css` finds, waiting for it to appear.
pub async fn text_of(client: &Client, css: &str) -> String {
    for _ in 0..100 {
        if let Ok(e) = client.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
        {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing matches {css} at {}", client.current_url().await.unwrap());
}

/// Waits until the page's flash message contains `want`; what it last said otherwise.
pub async fn flash_says(client: &Client, want: &str) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = client.find(Locator::Css(".flash, .error")).await
            && let Ok(t) = e.text().await
        {
            if t.contains(want) {
                return Ok(());
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last)
}

/// Waits until the page's `h1` reads `want`.
pub async fn heading(client: &Client, want: &str) {
    for _ in 0..100 {
        if let Ok(h) = client.find(Locator::Css("h1")).await
            && h.text().await.is_ok_and(|t| t == want)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = client.current_url().await.unwrap();
    panic!("no heading '{want}' at {url}: {}", client.source().await.unwrap_or_default());
}

async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// axe-core (the accessibility linter) from the npm registry into `target/axe`, once.
fn axe_source() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe");
    let file = dir.join("package/axe.min.js");
    if !file.exists() {
        require_tool("npm", "npm");
        std::fs::create_dir_all(&dir).unwrap();
        let packed =
            Command::new("npm").args(["pack", "axe-core@4.10.2", "--silent"]).current_dir(&dir).output().unwrap();
        assert!(packed.status.success(), "npm pack axe-core: {}", String::from_utf8_lossy(&packed.stderr));
        let unpacked = Command::new("tar").args(["xzf", "axe-core-4.10.2.tgz"]).current_dir(&dir).status().unwrap();
        assert!(unpacked.success());
    }
    std::fs::read_to_string(file).unwrap()
}

/// Runs axe-core on the page: the serious and critical WCAG 2 A/AA violations, as `id: target`.
pub async fn accessibility_problems(client: &Client) -> Vec<String> {
    client.execute(&axe_source(), vec![]).await.unwrap();
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// Whether the page fits its window's width (no sideways scrolling).
async fn fits_width(client: &Client) -> bool {
    client
        .execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

/// The value of a session cookie a response set, for driving the console without a browser.
fn cookie_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.starts_with("vergeflow_session=").then(|| v.split(';').next().unwrap().to_string()))
}

fn csrf_in(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_super_admin_runs_shops_from_the_console() {
    let app: TestApp = crate::helpers::spawn_app().await;
    let b = browser().await;
    let c = &b.client;
    let base = &app.address;

    // Not signed in: the sign-in page.
    c.goto(&format!("{base}/super-admin/clients")).await.unwrap();
    heading(c, "Super admin sign-in").await;
    fill(c, "email", SUPER_EMAIL).await;
    fill(c, "password", "not the password").await;
    click(c, "form button[type=submit]").await;
    heading(c, "Super admin sign-in").await;
    assert!(text_of(c, ".error").await.contains("wrong"));
    fill(c, "email", SUPER_EMAIL).await;
    fill(c, "password", SUPER_PASSWORD).await;
    click(c, "form button[type=submit]").await;
    heading(c, "Dashboard").await;
    screenshot(c, "console-super-admin-dashboard").await;
    let problems = accessibility_problems(c).await;
    assert!(problems.is_empty(), "axe-core on the dashboard: {problems:?}");

    // A shop made through the form; its name is shown as text, never run.
    let xss = "<img src=x onerror=alert(1)>";
    c.goto(&format!("{base}/super-admin/clients/create")).await.unwrap();
    heading(c, "New shop").await;
    fill(c, "name", xss).await;
    fill(c, "subdomain", "console1").await;
    fill(c, "admin_email", "owner@console1.test").await;
    fill(c, "admin_password", "a long password").await;
    click(c, "form.stack button[type=submit]").await;
    heading(c, xss).await;
    assert!(text_of(c, ".flash").await.contains("created"));
    assert!(c.find_all(Locator::Css("main img")).await.unwrap().is_empty(), "the shop's name became markup");
    let id: i64 =
        app.fetch(&app.super_token, "/api/super-admin/clients?per_page=100").await["data"][0]["id"].as_i64().unwrap();
    assert!(app.data_dir.join(format!("client_{id}.db")).exists(), "the shop's file appears");
    screenshot(c, "console-super-admin-shop").await;
    let problems = accessibility_problems(c).await;
    assert!(problems.is_empty(), "axe-core on a shop's page: {problems:?}");
    // A phone's width: the page reflows, tables scroll inside their box.
    c.set_window_size(375, 800).await.unwrap();
    c.refresh().await.unwrap();
    heading(c, xss).await;
    assert!(fits_width(c).await, "the shop's page is wider than 375 px");
    screenshot(c, "console-super-admin-shop-375px").await;
    c.set_window_size(1280, 900).await.unwrap();

    // Listed and found by search.
    c.goto(&format!("{base}/super-admin/clients?q=console")).await.unwrap();
    heading(c, "Shops").await;
    assert!(text_of(c, "table").await.contains("console1"));

    // Suspend, then resume.
    c.goto(&format!("{base}/super-admin/clients/{id}")).await.unwrap();
    heading(c, xss).await;
    click(c, "form[action$='/status'] button").await;
    for _ in 0..100 {
        if text_of(c, ".flash").await.contains("suspended") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shop = app.fetch(&app.super_token, &format!("/api/super-admin/clients/{id}")).await;
    assert_eq!(shop["status"], "suspended");
    click(c, "form[action$='/status'] button").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.fetch(&app.super_token, &format!("/api/super-admin/clients/{id}")).await["status"], "active");

    // A backup, made by the job queue, shows up on the shop's page.
    click(c, "form[action$='/backups'] button").await;
    let mut listed = false;
    for _ in 0..100 {
        c.goto(&format!("{base}/super-admin/clients/{id}")).await.unwrap();
        if c.find_all(Locator::Css("table tbody tr")).await.unwrap().len() == 1 {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed, "the backup never appeared");

    // Restoring that backup takes the shop back to it: a product added since is gone again.
    let admin = app.login_token("owner@console1.test", "a long password").await;
    app.create(&admin, "/api/admin/products", serde_json::json!({"name": "Added later", "price_cents": 100})).await;
    c.goto(&format!("{base}/super-admin/clients/{id}")).await.unwrap();
    click(c, "form[action*='/restore'] button").await;
    assert!(text_of(c, ".flash").await.contains("Restore of"));
    let mut restored = false;
    for _ in 0..100 {
        let res = app.as_user(reqwest::Method::GET, &admin, "/api/admin/products").send().await.unwrap();
        if res.status() == StatusCode::OK && res.json::<serde_json::Value>().await.unwrap()["meta"]["total"] == 0 {
            restored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(restored, "the restore never took the shop back");

    // The shop's export imported as a new shop through the upload form.
    let export =
        app.admin_api(reqwest::Method::GET, &format!("/api/super-admin/clients/{id}/export")).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.vfexport");
    std::fs::write(&file, export.bytes().await.unwrap()).unwrap();
    // Deleting needs the subdomain typed: a wrong one deletes nothing.
    fill(c, "confirm", "console2").await;
    click(c, &format!("form[action='/super-admin/clients/{id}/delete'] button")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.data_dir.join(format!("client_{id}.db")).exists());
    c.goto(&format!("{base}/super-admin/clients/{id}")).await.unwrap();
    fill(c, "confirm", "console1").await;
    click(c, &format!("form[action='/super-admin/clients/{id}/delete'] button")).await;
    heading(c, "Shops").await;
    assert!(!app.data_dir.join(format!("client_{id}.db")).exists(), "the shop's file is gone");
    screenshot(c, "console-super-admin-deleted").await;
    // The export taken before, imported again through the upload form.
    c.goto(&format!("{base}/super-admin/clients/import")).await.unwrap();
    heading(c, "Import a shop").await;
    c.find(Locator::Css("input[name='file']")).await.unwrap().send_keys(file.to_str().unwrap()).await.unwrap();
    fill(c, "subdomain", "console1again").await;
    click(c, "form.stack button[type=submit]").await;
    flash_says(c, "Shop <img src=x onerror=alert(1)> imported").await.unwrap();
    let copies = app.fetch(&app.super_token, "/api/super-admin/clients?per_page=100").await;
    assert!(copies["data"].as_array().unwrap().iter().any(|c| c["subdomain"] == "console1again"), "{copies}");

    c.clone().close().await.unwrap();
}

#[tokio::test]
async fn console_forms_need_their_csrf_token_and_the_right_role() {
    let app = crate::helpers::spawn_app().await;
    let shop = app.create_shop("csrfshop").await;
    let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = &app.address;
    let page = http.get(format!("{base}/super-admin/login")).send().await.unwrap();
    // The console's headers: no framing, a strict content policy.
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let cookie = cookie_of(&page).unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());

    // Sign-in without the token: refused before the password is looked at.
    let res = http
        .post(format!("{base}/super-admin/login"))
        .header("cookie", &cookie)
        .form(&[("email", SUPER_EMAIL), ("password", SUPER_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // With it, signed in.
    let res = http
        .post(format!("{base}/super-admin/login"))
        .header("cookie", &cookie)
        .form(&[("email", SUPER_EMAIL), ("password", SUPER_PASSWORD), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let signed = cookie_of(&res).unwrap();
    let set = res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(set.iter().any(|c| c.contains("HttpOnly") && c.contains("SameSite=Lax")), "{set:?}");
    // A form posted without the token (as another site would) is refused and changes nothing.
    let form = [
        ("name", "Forged"),
        ("subdomain", "forged"),
        ("admin_email", "f@forged.test"),
        ("admin_password", "long password"),
    ];
    let res =
        http.post(format!("{base}/super-admin/clients")).header("cookie", &signed).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("did not come from the console"));
    assert_eq!(app.fetch(&app.super_token, "/api/super-admin/clients").await["meta"]["total"], 1);

    // A shop admin cannot sign in to the super admin's console, nor use it with an API token.
    let page = http.get(format!("{base}/super-admin/login")).send().await.unwrap();
    let cookie = cookie_of(&page).unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let res = http
        .post(format!("{base}/super-admin/login"))
        .header("cookie", &cookie)
        .form(&[("email", shop.admin_email.as_str()), ("password", "shop-admin-password"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("for super admins"));
    let res = http.get(format!("{base}/super-admin/clients")).bearer_auth(&shop.admin_token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a shop admin's token does not open the super admin's console");
    // Signed out, the session no longer works.
    let page = http.get(format!("{base}/super-admin/")).header("cookie", &signed).send().await.unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let res = http
        .post(format!("{base}/super-admin/logout"))
        .header("cookie", &signed)
        .form(&[("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = http.get(format!("{base}/super-admin/clients")).header("cookie", &signed).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the old session's token was revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_admin_runs_the_shop_from_the_console() {
    let app: TestApp = crate::helpers::spawn_app().await;
    let shop = app.create_shop("consoleshop").await;
    let other = app.create_shop("othershop").await;
    let t = &shop.admin_token;
    app.create(
        t,
        "/api/admin/custom-fields",
        serde_json::json!({"entity": "product", "key": "origin", "label": "Origin", "type": "text"}),
    )
    .await;
    // Ids that exist only in the other shop.
    for i in 0..3 {
        app.create(
            &other.admin_token,
            "/api/admin/products",
            serde_json::json!({"name": format!("Other {i}"), "price_cents": 100}),
        )
        .await;
    }
    let b = browser().await;
    let c = &b.client;
    let base = &app.address;

    c.goto(&format!("{base}/admin/")).await.unwrap();
    heading(c, "Shop admin sign-in").await;
    fill(c, "email", &shop.admin_email).await;
    fill(c, "password", "shop-admin-password").await;
    click(c, "form button[type=submit]").await;
    heading(c, "Shop consoleshop").await;

    // A category, then a product in it with a custom field.
    c.goto(&format!("{base}/admin/categories")).await.unwrap();
    heading(c, "Categories").await;
    fill(c, "name", "Tea").await;
    click(c, "form.stack button[type=submit]").await;
    assert!(text_of(c, ".flash").await.contains("Tea added"));
    c.goto(&format!("{base}/admin/products/new")).await.unwrap();
    heading(c, "New product").await;
    fill(c, "name", "Green tea").await;
    fill(c, "price_cents", "450").await;
    fill(c, "stock", "10").await;
    c.find(Locator::Css("select[name='category_id'] option:nth-child(2)")).await.unwrap().click().await.unwrap();
    fill(c, "custom.origin", "Japan").await;
    click(c, "form.stack button[type=submit]").await;
    heading(c, "Green tea").await;
    let product = app.fetch(t, "/api/admin/products").await["data"][0].clone();
    assert_eq!((product["price_cents"].as_i64(), product["custom"]["origin"].as_str()), (Some(450), Some("Japan")));
    assert!(product["category_id"].is_i64());
    screenshot(c, "console-shop-admin-product").await;
    let problems = accessibility_problems(c).await;
    assert!(problems.is_empty(), "axe-core on a product's form: {problems:?}");
    // An image uploaded from the product's page, shown there.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kettle.png");
    std::fs::write(&file, crate::catalog_depth::png(400, 300)).unwrap();
    c.find(Locator::Css("input[name='image']")).await.unwrap().send_keys(file.to_str().unwrap()).await.unwrap();
    fill(c, "alt", "The tea tin").await;
    click(c, "form[enctype='multipart/form-data'] button").await;
    flash_says(c, "Image added").await.unwrap();
    let loaded = c
        .execute("const i = document.querySelector('main img'); return i ? i.complete && i.naturalWidth : 0;", vec![])
        .await
        .unwrap();
    assert_eq!(loaded.as_i64(), Some(320), "the thumbnail shows");
    assert_eq!(
        app.fetch(t, &format!("/api/admin/products/{}", product["id"])).await["images"][0]["alt"],
        "The tea tin"
    );
    c.set_window_size(375, 800).await.unwrap();
    c.goto(&format!("{base}/admin/products")).await.unwrap();
    heading(c, "Products").await;
    assert!(fits_width(c).await, "the product list is wider than 375 px");
    screenshot(c, "console-shop-admin-products-375px").await;
    c.set_window_size(1280, 900).await.unwrap();

    // A name that is markup is shown as text.
    c.goto(&format!("{base}/admin/products/new")).await.unwrap();
    heading(c, "New product").await;
    fill(c, "name", "<img src=x onerror=alert(1)>").await;
    fill(c, "price_cents", "100").await;
    click(c, "form.stack button[type=submit]").await;
    heading(c, "<img src=x onerror=alert(1)>").await;
    assert!(c.find_all(Locator::Css("main img")).await.unwrap().is_empty());

    // A customer buys it through the API; the admin sees the order and ships it.
    let buyer = app.register_customer("consoleshop", "buyer@consoleshop.test").await;
    let address = crate::shop_journeys::address(&app, &buyer).await;
    app.create(&buyer, "/api/shop/cart/items", serde_json::json!({"product_id": product["id"], "quantity": 2})).await;
    let order = app.create(&buyer, "/api/shop/checkout", serde_json::json!({"address_id": address})).await;
    c.goto(&format!("{base}/admin/orders")).await.unwrap();
    heading(c, "Orders").await;
    assert!(text_of(c, "table").await.contains(order["number"].as_str().unwrap()));
    c.goto(&format!("{base}/admin/orders/{}", order["id"])).await.unwrap();
    heading(c, &format!("Order {}", order["number"].as_str().unwrap())).await;
    c.find(Locator::Css("select[name='status'] option[value='paid']")).await.unwrap().click().await.unwrap();
    click(c, "form[action$='/status'] button[type=submit]").await;
    assert!(text_of(c, ".flash").await.contains("is paid now"));
    c.find(Locator::Css("select[name='status'] option[value='shipped']")).await.unwrap().click().await.unwrap();
    fill(c, "tracking_number", "TRACK-1").await;
    click(c, "form[action$='/status'] button[type=submit]").await;
    for _ in 0..100 {
        if text_of(c, ".flash").await.contains("is shipped now") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.fetch(&buyer, &format!("/api/shop/orders/{}", order["id"])).await["status"], "shipped");
    screenshot(c, "console-shop-admin-order").await;

    // Another shop's records are not found; the super admin's console is not this admin's.
    c.goto(&format!("{base}/admin/products/3")).await.unwrap();
    heading(c, "404 Not Found").await;
    c.goto(&format!("{base}/super-admin/clients")).await.unwrap();
    heading(c, "403 Forbidden").await;
    c.clone().close().await.unwrap();
}

/// A console session over plain HTTP (cookie and CSRF token handled by hand).
struct Session {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Session {
    async fn sign_in(app: &TestApp, console: &str, email: &str, password: &str) -> Session {
        let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let base = app.address.clone();
        let page = http.get(format!("{base}/{console}/login")).send().await.unwrap();
        let cookie = cookie_of(&page).unwrap();
        let csrf = csrf_in(&page.text().await.unwrap());
        let res = http
            .post(format!("{base}/{console}/login"))
            .header("cookie", &cookie)
            .form(&[("email", email), ("password", password), ("_csrf", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "signing in to {console}");
        let cookie = cookie_of(&res).unwrap();
        let page = http.get(format!("{base}/{console}/")).header("cookie", &cookie).send().await.unwrap();
        let csrf = csrf_in(&page.text().await.unwrap());
        Session { http, base, cookie, csrf }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("_csrf", &self.csrf));
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        let to = res.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        // The session lives in its cookie: the flash message rides in the one this answer sets.
        let cookie = cookie_of(&res).unwrap_or_else(|| self.cookie.clone());
        let status = res.status();
        match to {
            Some(to) => {
                let res = self.http.get(format!("{}{to}", self.base)).header("cookie", &cookie).send().await.unwrap();
                (res.status(), res.text().await.unwrap())
            }
            None => (status, res.text().await.unwrap()),
        }
    }
}

#[tokio::test]
async fn every_console_page_answers_and_its_forms_work() {
    let roots = tempfile::tempdir().unwrap();
    let eu = roots.path().join("eu");
    let eu_root = eu.clone();
    let app = crate::helpers::spawn_app_with(move |s| {
        s.webhook_allow_private = true;
        s.storage_roots = vec![("eu".into(), eu_root)];
    })
    .await;
    let shop = app.create_shop("pagesshop").await;
    let sa = Session::sign_in(&app, "super-admin", SUPER_EMAIL, SUPER_PASSWORD).await;
    for path in [
        "/super-admin/",
        "/super-admin/clients",
        "/super-admin/clients?q=pages&status=active",
        "/super-admin/clients/create",
        &format!("/super-admin/clients/{}", shop.id),
        "/super-admin/jobs",
        "/super-admin/jobs?status=done",
        "/super-admin/jobs/failed",
        "/super-admin/audit",
        "/super-admin/settings",
        "/super-admin/banners",
        "/super-admin/pages",
    ] {
        let (status, html) = sa.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        assert!(html.contains("<h1>"), "{path}");
    }
    let (_, html) = sa.post("/super-admin/settings", &[("new_key", "site_name"), ("new_value", "Shops & <Co>")]).await;
    assert!(html.contains("Settings saved") && html.contains("Shops &amp; &lt;Co&gt;"), "{html}");
    let (_, html) =
        sa.post("/super-admin/banners", &[("title", "Winter sale"), ("position", "2"), ("active", "true")]).await;
    assert!(html.contains("Banner added") && html.contains("Winter sale"), "{html}");
    let (_, html) = sa
        .post(
            "/super-admin/pages",
            &[("slug", "terms"), ("title", "Terms"), ("body", "Be *nice*."), ("published", "true")],
        )
        .await;
    assert!(html.contains("Page added"), "{html}");
    let (_, html) = sa.post("/super-admin/pages", &[("slug", "Not A Slug"), ("title", "Bad")]).await;
    assert!(html.contains("Not done: slug"), "{html}");
    let (_, html) = sa
        .post(
            &format!("/super-admin/clients/{}/features", shop.id),
            &[("reviews", "false"), ("coupons", "true"), ("recently_viewed", "true"), ("webhooks", "true")],
        )
        .await;
    assert!(html.contains("Features saved"), "{html}");
    assert_eq!(
        app.fetch(&app.super_token, &format!("/api/super-admin/clients/{}/features", shop.id)).await["reviews"],
        false
    );
    let (_, html) = sa
        .post(
            &format!("/super-admin/clients/{}/edit", shop.id),
            &[("name", "Pages & Co"), ("domain", ""), ("backup_every", "6h")],
        )
        .await;
    assert!(html.contains("Saved.") && html.contains("Pages &amp; Co"), "{html}");
    let (_, html) = sa.post(&format!("/super-admin/clients/{}/migrate", shop.id), &[]).await;
    assert!(html.contains("Migrated"), "{html}");
    let (_, html) = sa
        .post(
            &format!("/super-admin/clients/{}/quotas", shop.id),
            &[("max_products", "500"), ("requests_per_second", "")],
        )
        .await;
    assert!(html.contains("Quotas saved"), "{html}");
    let quotas = app.fetch(&app.super_token, &format!("/api/super-admin/clients/{}/quotas", shop.id)).await;
    assert_eq!(
        (quotas["max_products"].as_i64(), quotas["requests_per_second"].as_i64()),
        (Some(500), None),
        "{quotas}"
    );
    // Moved to a region from its page.
    let (_, html) = sa.post(&format!("/super-admin/clients/{}/move", shop.id), &[("region", "eu")]).await;
    assert!(html.contains("Move queued"), "{html}");
    for _ in 0..100 {
        if eu.join(format!("client_{}.db", shop.id)).exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(eu.join(format!("client_{}.db", shop.id)).exists(), "the shop's file moved to eu");
    let res = sa
        .http
        .get(format!("{}/super-admin/clients/{}/export", sa.base, shop.id))
        .header("cookie", &sa.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().await.unwrap().len() > 1000, "an export is a file");

    for path in ["/super-admin/schedules", "/super-admin/features", "/super-admin/migrations"] {
        let (status, html) = sa.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
    }
    let (_, html) = sa.post("/super-admin/schedules", &[("name", "prune"), ("cron", "0 4 * * *")]).await;
    assert!(html.contains("Schedule saved") && html.contains("0 4 * * *"), "{html}");
    let (_, html) = sa.post("/super-admin/schedules", &[("name", "prune"), ("cron", "not cron")]).await;
    assert!(html.contains("Not done"), "{html}");
    let (_, html) = sa
        .post(
            "/super-admin/features",
            &[("reviews", "true"), ("coupons", "true"), ("recently_viewed", "false"), ("webhooks", "true")],
        )
        .await;
    assert!(html.contains("Feature defaults saved"), "{html}");
    let (_, html) = sa.post("/super-admin/backups", &[]).await;
    assert!(html.contains("A backup of every shop is queued"), "{html}");
    let (_, html) = sa.post("/super-admin/migrations", &[]).await;
    assert!(html.contains("Fleet migration queued") || html.contains("Not done"), "{html}");

    let admin = Session::sign_in(&app, "admin", &shop.admin_email, "shop-admin-password").await;
    for path in ["/admin/payments", "/admin/tokens", "/admin/catalog"] {
        let (status, html) = admin.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
    }
    let (_, html) = admin.post("/admin/payments", &[("provider", "manual"), ("enabled", "true")]).await;
    assert!(html.contains("Provider saved") && html.contains("manual"), "{html}");
    let (_, html) = admin.post("/admin/tokens", &[("name", "ERP"), ("ability.catalog:read", "on")]).await;
    assert!(html.contains("copy it now") && html.contains("vf_"), "{html}");
    let (_, html) = admin
        .post("/admin/catalog", &[("csv", "handle,name,price_cents\ncsv-thing,CSV thing,100\n"), ("dry_run", "false")])
        .await;
    assert!(html.contains("queued"), "{html}");
    let res = admin
        .http
        .get(format!("{}/admin/catalog/export", admin.base))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().starts_with("handle,name"));
    let shirt = app
        .create(
            &shop.admin_token,
            "/api/admin/products",
            serde_json::json!({"name": "Shirt", "price_cents": 900, "options": [{"name": "size", "values": ["S", "M"]}]}),
        )
        .await;
    let shirt_id = shirt["id"].as_i64().unwrap();
    let (_, html) = admin
        .post(
            &format!("/admin/products/{shirt_id}/variants"),
            &[("option.size", "M"), ("sku", "SH-M"), ("price_cents", "950")],
        )
        .await;
    assert!(html.contains("Variant added") && html.contains("SH-M"), "{html}");
    // Options given in the product form; a customer's custom value set on their page.
    let (_, html) = admin
        .post("/admin/products", &[("name", "Cap"), ("price_cents", "500"), ("options", "colour: red, blue")])
        .await;
    assert!(html.contains("Cap created"), "{html}");
    let cap = app.fetch(&shop.admin_token, "/api/admin/products?q=cap").await["data"][0].clone();
    assert_eq!(cap["options"], serde_json::json!([{"name": "colour", "values": ["red", "blue"]}]));
    let variant = shirt["variants"][0]["id"].as_i64().unwrap();
    let (_, html) = admin.post(&format!("/admin/variants/{variant}"), &[("price_cents", "990"), ("stock", "7")]).await;
    assert!(html.contains("Variant saved"), "{html}");
    assert_eq!(app.fetch(&shop.admin_token, &format!("/api/admin/variants/{variant}")).await["stock"], 7);
    let (_, html) = admin.post(&format!("/admin/products/{shirt_id}/delete"), &[]).await;
    assert!(html.contains("Product deleted"), "{html}");
    for path in [
        "/admin/",
        "/admin/products",
        "/admin/products/new",
        "/admin/categories",
        "/admin/orders",
        "/admin/customers",
        "/admin/reviews",
        "/admin/coupons",
        "/admin/settings",
        "/admin/banners",
        "/admin/pages",
        "/admin/webhooks",
    ] {
        let (status, html) = admin.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        assert!(html.contains("<h1>"), "{path}");
    }
    let (_, html) = admin.post("/admin/coupons", &[("code", "TEN"), ("kind", "percent"), ("value", "10")]).await;
    assert!(html.contains("Coupon added") && html.contains("TEN"), "{html}");
    let (_, html) = admin.post("/admin/coupons", &[("code", "BAD"), ("kind", "percent"), ("value", "150")]).await;
    assert!(html.contains("Not done: value"), "{html}");
    let (_, html) = admin.post("/admin/settings", &[("tax_rate_bp", "1900"), ("currency", "EUR")]).await;
    assert!(html.contains("Settings saved"), "{html}");
    assert_eq!(app.fetch(&shop.admin_token, "/api/admin/settings").await["currency"], "EUR");
    let (_, html) =
        admin.post("/admin/webhooks", &[("url", "http://127.0.0.1:9/hook"), ("event.order.created", "on")]).await;
    assert!(html.contains("Webhook added"), "{html}");
    let hook = app.fetch(&shop.admin_token, "/api/admin/webhooks").await["data"][0]["id"].as_i64().unwrap();
    let (status, _) = admin.get(&format!("/admin/webhooks/{hook}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, html) =
        admin.post("/admin/pages", &[("slug", "about"), ("title", "About us"), ("published", "true")]).await;
    assert!(html.contains("Page added"), "{html}");
    // An order: a note in its history; a refund of an order nobody paid is refused with the reason.
    let tea = app
        .create(
            &shop.admin_token,
            "/api/admin/products",
            serde_json::json!({"name": "Tea", "price_cents": 500, "stock": 5}),
        )
        .await;
    let buyer = app.register_customer("pagesshop", "buyer@pagesshop.test").await;
    let address = crate::shop_journeys::address(&app, &buyer).await;
    let product = tea["id"].clone();
    app.create(&buyer, "/api/shop/cart/items", serde_json::json!({"product_id": product})).await;
    let order = app
        .create(&buyer, "/api/shop/checkout", serde_json::json!({"address_id": address, "shipping_method_id": 1}))
        .await;
    let id = order["id"].as_i64().unwrap();
    let (_, html) = admin
        .post(&format!("/admin/orders/{id}/notes"), &[("note", "Gift wrap"), ("visible_to_customer", "true")])
        .await;
    assert!(html.contains("Note added") && html.contains("Gift wrap"), "{html}");
    let (_, html) = admin.post(&format!("/admin/orders/{id}/refunds"), &[("amount_cents", "100")]).await;
    assert!(html.contains("Not done"), "{html}");

    app.create(
        &shop.admin_token,
        "/api/admin/custom-fields",
        serde_json::json!({"entity": "customer", "key": "tier", "label": "Tier", "type": "text"}),
    )
    .await;
    let customer = app.fetch(&shop.admin_token, "/api/admin/customers").await["data"][0]["id"].as_i64().unwrap();
    let (status, _) = admin.get(&format!("/admin/customers/{customer}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, html) = admin.post(&format!("/admin/customers/{customer}"), &[("custom.tier", "gold")]).await;
    assert!(html.contains("Saved."), "{html}");
    assert_eq!(
        app.fetch(&shop.admin_token, &format!("/api/admin/customers/{customer}")).await["custom"]["tier"],
        "gold"
    );
    // The shop admin's console reaches only its shop; the super admin's is not for it.
    let (status, _) = admin.get("/super-admin/clients").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = sa.get("/admin/products").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A forgotten password: the token mailed, a new password set through the console's form.
    let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = http.get(format!("{}/admin/password", app.address)).send().await.unwrap();
    let anon = Session { http, base: app.address.clone(), cookie: cookie_of(&page).unwrap(), csrf: String::new() };
    let anon = Session { csrf: csrf_in(&page.text().await.unwrap()), ..anon };
    let (_, html) = anon.post("/admin/password", &[("email", &shop.admin_email)]).await;
    assert!(html.contains("a mail with a reset token is on its way"), "{html}");
    let mut token = None;
    for _ in 0..100 {
        let mails = crate::payments::mails(&app.data_dir);
        if let Some(at) = mails.find("vf_") {
            token = Some(mails[at..at + 67].to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = token.expect("the reset mail");
    let (_, html) = anon
        .post(
            "/admin/password/reset",
            &[("email", &shop.admin_email), ("token", &token), ("password", "a brand new password")],
        )
        .await;
    assert!(html.contains("Your password is set"), "{html}");
    app.login_token(&shop.admin_email, "a brand new password").await;
}

/// Lists over a shop with 10,000 products, timed at the server (the answer's own timing is not
/// asserted: this machine is shared; the figure goes to the test output and the README).
#[tokio::test]
async fn console_lists_over_ten_thousand_products() {
    let app = crate::helpers::spawn_app().await;
    let shop = app.create_shop("bigconsole").await;
    {
        let mut conn = rusqlite::Connection::open(app.data_dir.join(format!("client_{}.db", shop.id))).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..10_000 {
            tx.execute(
                "INSERT INTO products (name, slug, price_cents, stock) VALUES (?1, ?2, 100, 5)",
                rusqlite::params![format!("Product {i}"), format!("p-{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let admin = Session::sign_in(&app, "admin", &shop.admin_email, "shop-admin-password").await;
    let mut ms = Vec::new();
    for i in 0..60 {
        let path = if i % 2 == 0 {
            format!("/admin/products?page={}", 1 + i * 7)
        } else {
            "/admin/products?q=product%2099".to_string()
        };
        let started = std::time::Instant::now();
        let (status, html) = admin.get(&path).await;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Product"));
    }
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    eprintln!(
        "console product lists over 10,000 products (debug build, loopback): p50 {:.1} ms, p95 {:.1} ms",
        ms[30], ms[57]
    );
    let (css, js) = (
        app.get("/console/console.css").send().await.unwrap().bytes().await.unwrap().len(),
        app.get("/console/htmx.min.js").send().await.unwrap().bytes().await.unwrap().len(),
    );
    assert!(css + js <= 100 * 1024, "the console's own CSS and JS are {} bytes", css + js);
}
