//! Payments end to end: the offline providers (the admin confirms), Stripe through a real fake
//! Stripe server on loopback (localstripe from PyPI into `target/stripe-venv`, started by the test
//! with its state in a temp folder), refunds, the order's history, idempotency keys, signed
//! webhooks, and one shop's provider secrets never visible to or usable by another.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app_with};
use crate::shop_journeys::address;

const LOCALSTRIPE_VERSION: &str = "1.15.10";

fn python() -> PathBuf {
    crate::helpers::venv_python("stripe-venv", &format!("localstripe=={LOCALSTRIPE_VERSION}"), "localstripe")
}

/// localstripe on a loopback port, its state in a folder of its own.
pub struct FakeStripe {
    child: Child,
    pub base: String,
    _state: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FakeStripe {
    pub fn start() -> FakeStripe {
        let state = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/localstripe_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(state.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting localstripe");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let port = line.trim().strip_prefix("listening on ").expect("localstripe did not start").to_string();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        FakeStripe { child, base: format!("http://127.0.0.1:{port}"), _state: state, http }
    }

    /// A call as the buyer's browser (Stripe.js) or Stripe's dashboard would make it.
    pub async fn call(&self, method: Method, path: &str, form: &[(&str, &str)]) -> Value {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("sk_test_shop_a", Some(""))
            .form(form)
            .send()
            .await
            .unwrap();
        res.json().await.unwrap()
    }

    /// The buyer confirms a PaymentIntent with a card (what Stripe.js does with the client secret).
    pub async fn pay(&self, intent: &str, card: &str) -> Value {
        let pm = self
            .call(
                Method::POST,
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", card),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2031"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        self.call(
            Method::POST,
            &format!("/v1/payment_intents/{intent}"),
            &[("payment_method", pm["id"].as_str().unwrap())],
        )
        .await;
        self.call(Method::POST, &format!("/v1/payment_intents/{intent}/confirm"), &[]).await
    }

    /// Makes localstripe deliver its events to `url`, signed with `secret`.
    pub async fn send_webhooks_to(&self, name: &str, url: &str, secret: &str) {
        let res = self
            .http
            .post(format!("{}/_config/webhooks/{name}", self.base))
            .form(&[("url", url), ("secret", secret)])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }
}

/// A customer with an address and `quantity` of `product` in the cart.
async fn buyer_with_cart(app: &TestApp, sub: &str, email: &str, product: &Value, quantity: i64) -> (String, i64) {
    let token = app.register_customer(sub, email).await;
    let address = address(app, &token).await;
    app.create(&token, "/api/shop/cart/items", json!({"product_id": product["id"], "quantity": quantity})).await;
    (token, address)
}

async fn fill_cart(app: &TestApp, token: &str, product: &Value, quantity: i64) {
    app.create(token, "/api/shop/cart/items", json!({"product_id": product["id"], "quantity": quantity})).await;
}

fn kinds(events: &Value) -> Vec<String> {
    events["data"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn offline_providers_refunds_history_and_idempotency() {
    let app = spawn_app_with(|_| {}).await;
    let shop = app.create_shop("offline").await;
    let admin = &shop.admin_token;
    let product =
        app.create(admin, "/api/admin/products", json!({"name": "Tea", "price_cents": 1000, "stock": 20})).await;

    // A shop that set nothing up takes orders as `manual`, as before payments.
    let methods: Value =
        app.on_shop(Method::GET, "offline", "/api/shop/payment-methods").send().await.unwrap().json().await.unwrap();
    assert_eq!(methods["data"], json!([{"provider": "manual", "instructions": null}]));

    let (status, bank) = app
        .send_json(
            Method::PUT,
            admin,
            "/api/admin/payment-providers/bank_transfer",
            json!({"enabled": true, "instructions": "IBAN DE00 1234, reference: your order number"}),
        )
        .await;
    assert_eq!((status, bank["enabled"].as_bool()), (StatusCode::OK, Some(true)), "{bank}");
    app.send_json(Method::PUT, admin, "/api/admin/payment-providers/cash_on_delivery", json!({"enabled": true})).await;
    // Refusals: an unknown provider, secrets on an offline one, Stripe enabled without its key.
    let res = app.send_as(Method::PUT, admin, "/api/admin/payment-providers/paypal", json!({"enabled": true})).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let (status, err) = app
        .send_json(Method::PUT, admin, "/api/admin/payment-providers/manual", json!({"secret_key": "sk_test_12345678"}))
        .await;
    assert_eq!((status, err["fields"]["secret_key"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true), "{err}");
    let (status, err) =
        app.send_json(Method::PUT, admin, "/api/admin/payment-providers/stripe", json!({"enabled": true})).await;
    assert_eq!((status, err["fields"]["secret_key"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true), "{err}");
    let methods: Value =
        app.on_shop(Method::GET, "offline", "/api/shop/payment-methods").send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        methods["data"].as_array().unwrap().iter().map(|m| m["provider"].as_str().unwrap()).collect();
    assert_eq!(names, ["bank_transfer", "cash_on_delivery"], "stripe was not left half set up: {methods}");

    // Checkout names its method once the shop has several; the bank's instructions come with it.
    let (customer, address_id) = buyer_with_cart(&app, "offline", "buyer@offline.test", &product, 2).await;
    let (status, err) =
        app.send_json(Method::POST, &customer, "/api/shop/checkout", json!({"address_id": address_id})).await;
    assert_eq!(
        (status, err["fields"]["payment_method"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true),
        "{err}"
    );
    let (status, err) = app
        .send_json(
            Method::POST,
            &customer,
            "/api/shop/checkout",
            json!({"address_id": address_id, "payment_method": "manual"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "manual is not enabled here: {err}");

    // Idempotency-Key: the same key and body give the first order again, nothing sold twice.
    let checkout = |key: &'static str, body: Value| {
        app.as_user(Method::POST, &customer, "/api/shop/checkout").header("Idempotency-Key", key).json(&body).send()
    };
    let body = json!({"address_id": address_id, "payment_method": "bank_transfer"});
    let res = checkout("order-1", body.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let order: Value = res.json().await.unwrap();
    let payment = &order["payment"];
    assert_eq!(
        (payment["provider"].as_str(), payment["status"].as_str(), payment["amount_cents"].as_i64()),
        (Some("bank_transfer"), Some("pending"), Some(2000)),
        "{order}"
    );
    assert!(payment["instructions"].as_str().unwrap().contains("IBAN"), "{order}");
    let again: Value = checkout("order-1", body.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], order["id"]);
    assert_eq!(app.fetch(admin, "/api/admin/orders").await["meta"]["total"], 1);
    assert_eq!(app.fetch(admin, &format!("/api/admin/products/{}", product["id"])).await["stock"], 18);
    let res =
        checkout("order-1", json!({"address_id": address_id, "payment_method": "cash_on_delivery"})).await.unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused").await;
    let res = app
        .as_user(Method::POST, &customer, "/api/shop/checkout")
        .header("Idempotency-Key", "")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;

    // The admin confirms the money: the payment is captured and the order paid.
    let order_path = format!("/api/admin/orders/{}", order["id"]);
    let (status, nothing) =
        app.send_json(Method::POST, admin, &format!("{order_path}/refunds"), json!({"amount_cents": 100})).await;
    assert_eq!((status, nothing["error"].as_str()), (StatusCode::CONFLICT, Some("payment_not_captured")));
    let (status, paid) =
        app.send_json(Method::POST, admin, &format!("{order_path}/payment/capture"), json!(null)).await;
    assert_eq!(
        (status, paid["status"].as_str(), paid["payment"]["status"].as_str()),
        (StatusCode::OK, Some("paid"), Some("captured")),
        "{paid}"
    );
    let (status, _) = app.send_json(Method::POST, admin, &format!("{order_path}/payment/capture"), json!(null)).await;
    assert_eq!(status, StatusCode::CONFLICT, "captured once");

    // Refunds: partial twice, with an idempotent repeat; then more than is left is refused.
    let refund = |key: &'static str, body: Value| {
        app.as_user(Method::POST, admin, &format!("{order_path}/refunds"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first: Value =
        refund("r1", json!({"amount_cents": 500, "reason": "one cup broken"})).await.unwrap().json().await.unwrap();
    let repeat: Value =
        refund("r1", json!({"amount_cents": 500, "reason": "one cup broken"})).await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], repeat["id"], "{first} {repeat}");
    let second = refund("r2", json!({"amount_cents": 700, "restock": true})).await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(app.fetch(admin, &format!("/api/admin/products/{}", product["id"])).await["stock"], 20, "restocked");
    let res = refund("r3", json!({"amount_cents": 801})).await.unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_captured").await;
    let res = refund("r4", json!({"amount_cents": 800, "restock": true})).await.unwrap();
    assert_error(res, StatusCode::CONFLICT, "already_restocked").await;
    let shown = app.fetch(admin, &order_path).await;
    assert_eq!(
        (shown["refunded_cents"].as_i64(), shown["payment"]["status"].as_str()),
        (Some(1200), Some("partially_refunded"))
    );
    refund("r5", json!({"amount_cents": 800})).await.unwrap();
    let shown = app.fetch(admin, &order_path).await;
    assert_eq!((shown["refunded_cents"].as_i64(), shown["payment"]["status"].as_str()), (Some(2000), Some("refunded")));
    assert_eq!(app.fetch(admin, &format!("{order_path}/refunds")).await["data"].as_array().unwrap().len(), 3);
    assert_eq!(
        app.fetch(admin, "/api/admin/customers").await["data"][0]["total_spent_cents"],
        0,
        "totals follow refunds"
    );

    // History: the admin sees everything, the customer what concerns them.
    app.create(admin, &format!("{order_path}/notes"), json!({"note": "Called the customer"})).await;
    app.create(
        admin,
        &format!("{order_path}/notes"),
        json!({"note": "Sorry for the broken cup!", "visible_to_customer": true}),
    )
    .await;
    let (status, shipped) = app
        .send_json(Method::PATCH, admin, &order_path, json!({"status": "shipped", "tracking_number": "1Z999AA1"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{shipped}");
    let all = app.fetch(admin, &format!("{order_path}/events")).await;
    assert_eq!(
        kinds(&all),
        [
            "placed",
            "paid",
            "status_changed",
            "refunded",
            "refunded",
            "refunded",
            "note",
            "note",
            "status_changed",
            "tracking"
        ]
    );
    let mine = app.fetch(&customer, &format!("/api/shop/orders/{}/events", order["id"])).await;
    let mine_text = mine.to_string();
    assert!(mine_text.contains("Sorry for the broken cup") && !mine_text.contains("Called the customer"), "{mine}");
    assert!(mine_text.contains("1Z999AA1") && !mine_text.contains("user:"), "{mine}");

    // Another customer's or shop's order is not theirs.
    let other = app.register_customer("offline", "other@offline.test").await;
    let res =
        app.as_user(Method::GET, &other, &format!("/api/shop/orders/{}/events", order["id"])).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stripe_authorises_captures_refunds_and_its_webhooks_are_verified() {
    let stripe = FakeStripe::start();
    let base = stripe.base.clone();
    let app = spawn_app_with(move |s| s.stripe_api_base = base).await;
    let shop = app.create_shop("striped").await;
    let other = app.create_shop("plainshop").await;
    let admin = &shop.admin_token;
    let product =
        app.create(admin, "/api/admin/products", json!({"name": "Kettle", "price_cents": 2500, "stock": 10})).await;
    let (status, set) = app.send_json(Method::PUT, admin, "/api/admin/payment-providers/stripe",
        json!({"enabled": true, "capture": "manual", "secret_key": "sk_test_shop_a", "webhook_secret": "whsec_shop_a_secret"})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!((set["secret_key_set"].as_bool(), set["webhook_secret_set"].as_bool()), (Some(true), Some(true)));
    // Write-only: no answer, listing or file holds the secrets in the clear.
    let listed = app.fetch(admin, "/api/admin/payment-providers").await.to_string();
    assert!(!listed.contains("sk_test_shop_a") && !listed.contains("whsec_shop_a"), "{listed}");
    let file = std::fs::read(app.data_dir.join(format!("client_{}.db", shop.id))).unwrap();
    let wal = std::fs::read(app.data_dir.join(format!("client_{}.db-wal", shop.id))).unwrap_or_default();
    for bytes in [&file, &wal] {
        assert!(!bytes.windows(14).any(|w| w == b"sk_test_shop_a"), "the secret key is in the shop file in the clear");
    }
    // Another shop sees nothing of it.
    let others = app.fetch(&other.admin_token, "/api/admin/payment-providers").await;
    assert_eq!(others["data"][3]["secret_key_set"], false, "{others}");
    let url = format!("{}/api/shop/payments/stripe/webhook?client=striped", app.address);
    stripe.send_webhooks_to("striped", &url, "whsec_shop_a_secret").await;

    // Checkout makes a PaymentIntent; the buyer confirms it with the client secret.
    let (customer, address_id) = buyer_with_cart(&app, "striped", "buyer@striped.test", &product, 2).await;
    let order = app.create(&customer, "/api/shop/checkout", json!({"address_id": address_id})).await;
    let payment = &order["payment"];
    assert_eq!(
        (payment["provider"].as_str(), payment["status"].as_str()),
        (Some("stripe"), Some("pending")),
        "{order}"
    );
    let secret = payment["client_secret"].as_str().expect("a client secret for the buyer");
    let intent = secret.split("_secret_").next().unwrap().to_string();
    assert!(payment.get("provider_ref").is_none(), "the customer does not see the provider's id: {order}");
    let confirmed = stripe.pay(&intent, "4242424242424242").await;
    assert_eq!(confirmed["status"], "requires_capture", "{confirmed}");

    // Stripe announces an authorisation with `payment_intent.amount_capturable_updated`, which the
    // fake does not send; the admin's sync reads the intent back the same way the webhook does.
    let order_path = format!("/api/admin/orders/{}", order["id"]);
    let (status, authorised) =
        app.send_json(Method::POST, admin, &format!("{order_path}/payment/sync"), json!(null)).await;
    assert_eq!(
        (status, authorised["payment"]["status"].as_str()),
        (StatusCode::OK, Some("authorized")),
        "{authorised}"
    );
    assert_eq!(authorised["status"], "pending", "authorised is not paid");
    let (status, captured) =
        app.send_json(Method::POST, admin, &format!("{order_path}/payment/capture"), json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{captured}");
    assert_eq!(
        (
            captured["status"].as_str(),
            captured["payment"]["status"].as_str(),
            captured["payment"]["captured_cents"].as_i64()
        ),
        (Some("paid"), Some("captured"), Some(5000)),
        "{captured}"
    );

    // Partial refunds twice through Stripe, then more than is left is refused before Stripe is asked.
    for (amount, key) in [(1000, "refund-a"), (1500, "refund-b")] {
        let res = app
            .as_user(Method::POST, admin, &format!("{order_path}/refunds"))
            .header("Idempotency-Key", key)
            .json(&json!({"amount_cents": amount}))
            .send()
            .await
            .unwrap();
        let made: Value = res.json().await.unwrap();
        assert!(made["provider_ref"].as_str().is_some_and(|r| r.starts_with("re_")), "{made}");
    }
    let res = app.send_as(Method::POST, admin, &format!("{order_path}/refunds"), json!({"amount_cents": 2501})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_captured").await;
    let at_stripe =
        stripe.call(Method::GET, &format!("/v1/payment_intents/{intent}?expand[]=latest_charge"), &[]).await;
    assert_eq!(at_stripe["latest_charge"]["amount_refunded"], 2500, "{at_stripe}");
    let (status, synced) = app.send_json(Method::POST, admin, &format!("{order_path}/payment/sync"), json!(null)).await;
    assert_eq!(
        (status, synced["payment"]["status"].as_str(), synced["payment"]["refunded_cents"].as_i64()),
        (StatusCode::OK, Some("partially_refunded"), Some(2500)),
        "{synced}"
    );

    // Webhooks: a wrong signature is refused; a replayed event is not applied twice.
    let event = json!({"id": "evt_replayed", "type": "payment_intent.succeeded", "created": 1,
                       "data": {"object": {"object": "payment_intent", "id": intent}}});
    let body = event.to_string();
    let post = |signature: String, body: String| {
        app.http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Stripe-Signature", signature)
            .body(body)
            .send()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let res = post(sign("whsec_wrong_secret", now, &body), body.clone()).await.unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_signature").await;
    let res = post(sign("whsec_shop_a_secret", now - 600, &body), body.clone()).await.unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_signature").await;
    let first: Value = post(sign("whsec_shop_a_secret", now, &body), body.clone()).await.unwrap().json().await.unwrap();
    let replay: Value =
        post(sign("whsec_shop_a_secret", now, &body), body.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(
        (first["applied"].as_bool(), replay["applied"].as_bool()),
        (Some(true), Some(false)),
        "{first} {replay}"
    );
    // Another shop's endpoint refuses shop A's secret (it has its own, or none).
    let other_url = format!("{}/api/shop/payments/stripe/webhook?client=plainshop", app.address);
    let res = app
        .http
        .post(&other_url)
        .header("Content-Type", "application/json")
        .header("Stripe-Signature", sign("whsec_shop_a_secret", now, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_signature").await;

    // With automatic capture, the buyer's confirmation captures at once and Stripe's signed
    // `payment_intent.succeeded` webhook marks the order paid.
    app.send_json(Method::PUT, admin, "/api/admin/payment-providers/stripe", json!({"capture": "automatic"})).await;
    fill_cart(&app, &customer, &product, 1).await;
    let auto = app.create(&customer, "/api/shop/checkout", json!({"address_id": address_id})).await;
    let secret = auto["payment"]["client_secret"].as_str().unwrap();
    assert_eq!(stripe.pay(secret.split("_secret_").next().unwrap(), "4242424242424242").await["status"], "succeeded");
    let auto_path = format!("/api/admin/orders/{}", auto["id"]);
    let paid = wait_for(&app, admin, &auto_path, |o| o["payment"]["status"] == "captured").await;
    assert_eq!(
        (paid["status"].as_str(), paid["payment"]["captured_cents"].as_i64()),
        (Some("paid"), Some(2500)),
        "{paid}"
    );
    let history = app.fetch(admin, &format!("{auto_path}/events")).await;
    assert!(history.to_string().contains("provider:stripe"), "the webhook did it: {history}");

    // A declined card: the payment fails, the order stays unpaid, and the auto-cancel releases its stock.
    fill_cart(&app, &customer, &product, 3).await;
    let declined = app.create(&customer, "/api/shop/checkout", json!({"address_id": address_id})).await;
    let secret = declined["payment"]["client_secret"].as_str().unwrap();
    stripe.pay(secret.split("_secret_").next().unwrap(), "4000000000000341").await;
    let declined_path = format!("/api/admin/orders/{}", declined["id"]);
    let failed = wait_for(&app, admin, &declined_path, |o| o["payment"]["status"] == "failed").await;
    assert_eq!(failed["status"], "pending", "{failed}");
    assert!(failed["payment"]["failure_reason"].is_string(), "{failed}");
    assert_eq!(app.fetch(admin, &format!("/api/admin/products/{}", product["id"])).await["stock"], 4);
    app.send_json(Method::PATCH, admin, "/api/admin/settings", json!({"auto_cancel_unpaid_hours": 1})).await;
    rusqlite::Connection::open(app.data_dir.join(format!("client_{}.db", shop.id)))
        .unwrap()
        .execute("UPDATE orders SET created_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-2 hours')", [])
        .unwrap();
    let job = vergeflow::jobs::enqueue(
        &app.state.main.get().unwrap(),
        &vergeflow::jobs::Task::AutoCancelOrders { client_id: None, since: None },
    )
    .unwrap();
    wait_job(&app, job).await;
    let cancelled = app.fetch(admin, &declined_path).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(app.fetch(admin, &format!("/api/admin/products/{}", product["id"])).await["stock"], 7, "stock released");
    assert_eq!(app.fetch(admin, &order_path).await["status"], "paid", "a paid order is never auto-cancelled");

    // The same Idempotency-Key twice makes one order and one PaymentIntent.
    fill_cart(&app, &customer, &product, 1).await;
    let intents_before =
        stripe.call(Method::GET, "/v1/payment_intents?limit=100", &[]).await["data"].as_array().unwrap().len();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let res = app
            .as_user(Method::POST, &customer, "/api/shop/checkout")
            .header("Idempotency-Key", "stripe-once")
            .json(&json!({"address_id": address_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let o: Value = res.json().await.unwrap();
        ids.push((o["id"].clone(), o["payment"]["client_secret"].clone()));
    }
    assert_eq!(ids[0], ids[1]);
    let intents_after =
        stripe.call(Method::GET, "/v1/payment_intents?limit=100", &[]).await["data"].as_array().unwrap().len();
    assert_eq!(intents_after, intents_before + 1, "one charge attempt");
}

fn sign(secret: &str, t: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

async fn wait_for(app: &TestApp, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = app.fetch(token, path).await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never got there: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_job(app: &TestApp, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let job = app.fetch(&app.super_token, &format!("/api/super-admin/jobs/{id}")).await;
        if job["status"] == "done" {
            return;
        }
        assert!(job["status"] != "failed" && Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a JSON request to the binary's server as `token`, on shop `sub` by Host.
async fn call(
    server: &crate::crash::Server,
    method: Method,
    token: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = server.http.request(method, format!("{}{path}", server.base)).header("Host", "crashpay.localhost");
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    let res = req.json(&body).send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

/// Where Stripe says an intent is: (captured, amount captured).
async fn at_stripe(stripe: &FakeStripe, intent: &str) -> bool {
    let v = stripe.call(Method::GET, &format!("/v1/payment_intents/{intent}?expand[]=latest_charge"), &[]).await;
    v["status"] == "succeeded"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_between_a_stripe_capture_and_the_shop_file_are_caught_up_from_stripe_after_restart() {
    use crate::crash::{Server, data_dir, jitter};
    let stripe = FakeStripe::start();
    let (_tmp, data) = data_dir();
    let env = [("VERGEFLOW_STRIPE_API_BASE", stripe.base.as_str())];
    let server = Server::start_with(&data, &env).await;
    let token = server.token(crate::helpers::SUPER_EMAIL, crate::helpers::SUPER_PASSWORD).await;
    server.create_shop(&token, "crashpay").await;
    let admin = server.token("crashpay@crash.test", "crash-password").await;
    let (_, product) = call(
        &server,
        Method::POST,
        &admin,
        "/api/admin/products",
        json!({"name": "Tea", "price_cents": 700, "stock": 1000}),
    )
    .await;
    let (status, _) = call(
        &server,
        Method::PUT,
        &admin,
        "/api/admin/payment-providers/stripe",
        json!({"enabled": true, "capture": "manual", "secret_key": "sk_test_shop_a"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, signed_up) = call(
        &server,
        Method::POST,
        "",
        "/api/shop/auth/register",
        json!({"name": "Ada", "email": "ada@crashpay.test", "password": "customer-password"}),
    )
    .await;
    let customer = signed_up["token"].as_str().unwrap().to_string();
    let (_, addr) = call(
        &server,
        Method::POST,
        &customer,
        "/api/shop/addresses",
        json!({"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}),
    )
    .await;
    server.kill();

    const ROUNDS: usize = 8;
    let mut captured_unrecorded = 0;
    for round in 0..=ROUNDS {
        let server = Server::start_with(&data, &env).await;
        call(
            &server,
            Method::POST,
            &customer,
            "/api/shop/cart/items",
            json!({"product_id": product["id"], "quantity": 1}),
        )
        .await;
        let (status, order) =
            call(&server, Method::POST, &customer, "/api/shop/checkout", json!({"address_id": addr["id"]})).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let intent = order["payment"]["client_secret"].as_str().unwrap().split("_secret_").next().unwrap().to_string();
        stripe.pay(&intent, "4242424242424242").await;
        let path = format!("/api/admin/orders/{}", order["id"]);
        let (_, synced) = call(&server, Method::POST, &admin, &format!("{path}/payment/sync"), json!(null)).await;
        assert_eq!(synced["payment"]["status"], "authorized", "{synced}");
        if round == ROUNDS {
            // The crash the kills aim at, made certain: Stripe captured, the server never heard back.
            server.kill();
            stripe.call(Method::POST, &format!("/v1/payment_intents/{intent}/capture"), &[]).await;
        } else {
            let (http, base, admin2, p) = (server.http.clone(), server.base.clone(), admin.clone(), path.clone());
            let capture = tokio::spawn(async move {
                let _ = http
                    .post(format!("{base}{p}/payment/capture"))
                    .header("Host", "crashpay.localhost")
                    .bearer_auth(admin2)
                    .send()
                    .await;
            });
            tokio::time::sleep(jitter(round, 60)).await;
            server.kill();
            capture.abort();
        }
        let captured = at_stripe(&stripe, &intent).await;
        let recorded: String = crate::crash::ro(&data.join("client_1.db"))
            .query_row("SELECT status FROM payments WHERE id = ?1", [order["id"].as_i64().unwrap()], |r| r.get(0))
            .unwrap();
        if captured && recorded != "captured" {
            captured_unrecorded += 1;
        }

        // After the restart the shop file agrees with Stripe: captured means paid.
        let server = Server::start_with(&data, &env).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, now) = call(&server, Method::GET, &admin, &path, json!(null)).await;
            let want = if captured { ("captured", "paid") } else { ("authorized", "pending") };
            if (now["payment"]["status"].as_str(), now["status"].as_str()) == (Some(want.0), Some(want.1)) {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: Stripe captured = {captured}, the shop says {now}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !captured {
            // Finished by hand, so every round leaves nothing half done for the next.
            let (status, done) =
                call(&server, Method::POST, &admin, &format!("{path}/payment/capture"), json!(null)).await;
            assert_eq!((status, done["status"].as_str()), (StatusCode::OK, Some("paid")), "{done}");
        }
        server.kill();
    }
    eprintln!(
        "kills between capture and recording: {captured_unrecorded} of {} rounds left Stripe ahead of the shop",
        ROUNDS + 1
    );
    assert!(captured_unrecorded >= 1);
}

/// The text of every mail the server wrote as an `.eml` file so far (no SMTP server configured),
/// quoted-printable decoded.
pub(crate) fn mails(data: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(data.join("mail")).into_iter().flatten().flatten() {
        all.push_str(&quoted_printable(&std::fs::read_to_string(e.path()).unwrap_or_default()));
    }
    all
}

fn quoted_printable(s: &str) -> String {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'=', Some(b'\r'), Some(b'\n')) => i += 3,
            (b'=', Some(b'\n'), _) => i += 2,
            (b'=', Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn guests_buy_with_each_offline_provider_follow_their_order_by_its_link_and_carts_join_accounts() {
    let app = spawn_app_with(|_| {}).await;
    let shop = app.create_shop("guestshop").await;
    app.create_shop("othershop").await;
    let admin = &shop.admin_token;
    let product =
        app.create(admin, "/api/admin/products", json!({"name": "Mug", "price_cents": 1200, "stock": 50})).await;
    for p in ["manual", "bank_transfer", "cash_on_delivery"] {
        app.send_json(
            Method::PUT,
            admin,
            &format!("/api/admin/payment-providers/{p}"),
            json!({"enabled": true, "instructions": "Pay us"}),
        )
        .await;
    }
    let guest = |method: Method, path: &str, token: Option<&str>| {
        let mut req = app.on_shop(method, "guestshop", path);
        if let Some(t) = token {
            req = req.header("Cart-Token", t);
        }
        req
    };
    let address = json!({"name": "Grace Guest", "line1": "2 Side St", "city": "Townsville", "postal_code": "99999", "country": "DE"});

    for (i, provider) in ["manual", "bank_transfer", "cash_on_delivery"].into_iter().enumerate() {
        // The first item makes the cart and answers its token.
        let res = guest(Method::POST, "/api/shop/cart/items", None)
            .json(&json!({"product_id": product["id"], "quantity": 2}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let token = res.headers()["Cart-Token"].to_str().unwrap().to_string();
        let res = guest(Method::POST, "/api/shop/cart/items", Some(&token))
            .json(&json!({"product_id": product["id"], "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert!(!res.headers().contains_key("Cart-Token"), "one cart, one token");
        let cart: Value =
            guest(Method::GET, "/api/shop/cart", Some(&token)).send().await.unwrap().json().await.unwrap();
        assert_eq!(
            (cart["items"][0]["quantity"].as_i64(), cart["subtotal_cents"].as_i64()),
            (Some(3), Some(3600)),
            "{cart}"
        );

        if i == 0 {
            // A guest must give an e-mail and an address; each bad field is named.
            let res = guest(Method::POST, "/api/shop/checkout", Some(&token))
                .json(&json!({"payment_method": provider}))
                .send()
                .await
                .unwrap();
            let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
            assert!(err["fields"]["email"].is_string() && err["fields"]["address"].is_string(), "{err}");
            let res = guest(Method::POST, "/api/shop/checkout", Some(&token))
                .json(&json!({"email": "nope", "address": {"name": "G", "country": "XX"}, "payment_method": provider}))
                .send()
                .await
                .unwrap();
            let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
            for f in ["email", "address.country", "address.line1", "address.city", "address.postal_code"] {
                assert!(err["fields"][f].is_string(), "{f}: {err}");
            }
            // Without a token a guest is asked to sign in or send it; a made-up one is refused.
            let res = guest(Method::POST, "/api/shop/checkout", None)
                .json(&json!({"email": "g@x.test"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            let res = guest(Method::GET, "/api/shop/cart", Some(&"0".repeat(48))).send().await.unwrap();
            assert_error(res, StatusCode::NOT_FOUND, "cart_not_found").await;
            let res = guest(Method::GET, "/api/shop/cart", Some("short")).send().await.unwrap();
            assert_error(res, StatusCode::BAD_REQUEST, "invalid_cart_token").await;
            // The token is this shop's: another shop knows no such cart.
            let res = app
                .on_shop(Method::GET, "othershop", "/api/shop/cart")
                .header("Cart-Token", &token)
                .send()
                .await
                .unwrap();
            assert_error(res, StatusCode::NOT_FOUND, "cart_not_found").await;
        }

        let email = format!("grace{i}@guest.test");
        let res = guest(Method::POST, "/api/shop/checkout", Some(&token))
            .json(&json!({"email": email, "address": address, "payment_method": provider}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let order: Value = res.json().await.unwrap();
        assert_eq!(
            (
                order["email"].as_str(),
                order["user_id"].clone(),
                order["payment"]["provider"].as_str(),
                order["total_cents"].as_i64()
            ),
            (Some(email.as_str()), Value::Null, Some(provider), Some(3600)),
            "{order}"
        );
        let cart: Value =
            guest(Method::GET, "/api/shop/cart", Some(&token)).send().await.unwrap().json().await.unwrap();
        assert_eq!(cart["items"], json!([]), "the cart was emptied");

        // The order mail holds a signed link the guest follows; a changed link shows nothing.
        let deadline = Instant::now() + Duration::from_secs(20);
        let link = loop {
            let all = mails(&app.data_dir);
            let found = all
                .split_whitespace()
                .find(|w| w.contains(&format!("/api/shop/guest-orders/{}?access=", order["id"])))
                .map(|w| w.trim_end_matches(['.', '<', '>', '"']).to_string());
            if let Some(link) = found {
                break link;
            }
            assert!(Instant::now() < deadline, "no order mail with a link: {all}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let path = link.split(".localhost").nth(1).unwrap().to_string();
        let path = path.trim_start_matches(|c: char| c == ':' || c.is_ascii_digit()).to_string();
        let res = app.on_shop(Method::GET, "guestshop", &path).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let seen: Value = res.json().await.unwrap();
        assert_eq!(seen["id"], order["id"]);
        let mut forged = path.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == '0' { '1' } else { '0' });
        assert_eq!(
            app.on_shop(Method::GET, "guestshop", &forged).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.on_shop(Method::GET, "othershop", &path).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    }
    let orders = app.fetch(admin, "/api/admin/orders").await;
    assert_eq!(orders["meta"]["total"], 3);
    let customers = app.fetch(admin, "/api/admin/customers").await;
    assert!(customers["data"].as_array().unwrap().iter().all(|c| c["user_id"].is_null()), "guest records: {customers}");

    // A guest's cart joins the account they register, and the one they sign in to.
    let res = guest(Method::POST, "/api/shop/cart/items", None)
        .json(&json!({"product_id": product["id"], "quantity": 4}))
        .send()
        .await
        .unwrap();
    let token = res.headers()["Cart-Token"].to_str().unwrap().to_string();
    let res = guest(Method::POST, "/api/shop/auth/register", Some(&token))
        .json(&json!({"name": "Grace", "email": "grace@member.test", "password": "customer-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let member = res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    assert_eq!(app.fetch(&member, "/api/shop/cart").await["items"][0]["quantity"], 4);
    let res = guest(Method::GET, "/api/shop/cart", Some(&token)).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "cart_not_found").await;
    let res = guest(Method::POST, "/api/shop/cart/items", None)
        .json(&json!({"product_id": product["id"], "quantity": 3}))
        .send()
        .await
        .unwrap();
    let token = res.headers()["Cart-Token"].to_str().unwrap().to_string();
    let res = guest(Method::POST, "/api/shop/auth/login", Some(&token))
        .json(&json!({"email": "grace@member.test", "password": "customer-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cart = app.fetch(&member, "/api/shop/cart").await;
    assert_eq!(
        (cart["items"].as_array().unwrap().len(), cart["items"][0]["quantity"].as_i64()),
        (1, Some(7)),
        "{cart}"
    );
}
