//! A shop's settings: validated changes, and checkout charging shipping and tax by them (integer
//! cents, tax rounded half up), the order keeping each amount and its currency; the mail sender
//! name on customer mail.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn patch(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    let res = app.send_as(Method::PATCH, token, "/api/admin/settings", body).await;
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

async fn order_of(app: &TestApp, customer: &str, address: i64, product: &Value, quantity: i64) -> Value {
    app.create(customer, "/api/shop/cart/items", json!({"product_id": product["id"], "quantity": quantity})).await;
    app.create(customer, "/api/shop/checkout", json!({"address_id": address})).await
}

#[tokio::test]
async fn checkout_charges_shipping_and_tax_by_the_shops_settings() {
    let app = spawn_app().await;
    let shop = app.create_shop("taxed").await;
    let other = app.create_shop("untaxed").await;
    let defaults = app.fetch(&shop.admin_token, "/api/admin/settings").await;
    assert_eq!(
        (defaults["currency"].as_str(), defaults["tax_rate_bp"].as_i64(), defaults["shipping_flat_cents"].as_i64()),
        (Some("USD"), Some(0), Some(0))
    );
    assert_eq!(
        (defaults["free_shipping_over_cents"].clone(), defaults["low_stock_threshold"].as_i64()),
        (Value::Null, Some(5))
    );

    let (status, set) = patch(
        &app,
        &shop.admin_token,
        json!({"currency": "eur", "tax_rate_bp": 1900, "shipping_flat_cents": 495, "free_shipping_over_cents": 5000,
               "locale": "de-DE", "mail_sender_name": "Vault Tea", "auto_cancel_unpaid_hours": 48}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!((set["currency"].as_str(), set["locale"].as_str()), (Some("EUR"), Some("de-DE")));
    assert_eq!(app.fetch(&shop.admin_token, "/api/admin/settings").await["tax_rate_bp"], 1900);
    assert_eq!(app.fetch(&other.admin_token, "/api/admin/settings").await["tax_rate_bp"], 0, "another shop's settings");

    let product = app
        .create(&shop.admin_token, "/api/admin/products", json!({"name": "Tea", "price_cents": 1000, "stock": 50}))
        .await;
    let customer = app.register_customer("taxed", "buyer@taxed.test").await;
    let address = crate::shop_journeys::address(&app, &customer).await;
    // 20.00 of goods: 4.95 shipping; 19 % of 24.95 = 4.7405 → 4.74.
    let order = order_of(&app, &customer, address, &product, 2).await;
    assert_eq!(
        (
            order["currency"].as_str(),
            order["subtotal_cents"].as_i64(),
            order["shipping_cents"].as_i64(),
            order["tax_cents"].as_i64(),
            order["total_cents"].as_i64()
        ),
        (Some("EUR"), Some(2000), Some(495), Some(474), Some(2969)),
        "{order}"
    );
    // 60.00 reaches the free-shipping line: 19 % of 60.00 = 11.40.
    let order = order_of(&app, &customer, address, &product, 6).await;
    assert_eq!(
        (order["shipping_cents"].as_i64(), order["tax_cents"].as_i64(), order["total_cents"].as_i64()),
        (Some(0), Some(1140), Some(7140)),
        "{order}"
    );
    let shown = app.fetch(&customer, &format!("/api/shop/orders/{}", order["id"])).await;
    assert_eq!(
        (shown["tax_cents"].as_i64(), shown["total_cents"].as_i64()),
        (Some(1140), Some(7140)),
        "stored, not recomputed"
    );

    // Cleared, the line no longer applies; the first order keeps what it was charged.
    let (status, set) =
        patch(&app, &shop.admin_token, json!({"free_shipping_over_cents": null, "tax_rate_bp": 0})).await;
    assert_eq!((status, set["free_shipping_over_cents"].clone()), (StatusCode::OK, Value::Null));
    let order = order_of(&app, &customer, address, &product, 6).await;
    assert_eq!((order["shipping_cents"].as_i64(), order["total_cents"].as_i64()), (Some(495), Some(6495)));

    // Customer mail comes from the sender name.
    let mail = app.data_dir.join("mail");
    let deadline = Instant::now() + Duration::from_secs(15);
    let from = loop {
        let found = std::fs::read_dir(&mail).into_iter().flatten().flatten().find_map(|e| {
            let name = e.file_name().into_string().unwrap();
            name.contains("-order_placed-").then(|| std::fs::read_to_string(e.path()).unwrap())
        });
        if let Some(text) = found {
            break text.lines().find(|l| l.starts_with("From:")).unwrap_or_default().to_string();
        }
        assert!(Instant::now() < deadline, "no order mail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(from.contains("Vault Tea"), "{from}");
}

#[tokio::test]
async fn settings_changes_are_validated_field_by_field_and_change_nothing_when_refused() {
    let app = spawn_app().await;
    let shop = app.create_shop("picky").await;
    let before = app.fetch(&shop.admin_token, "/api/admin/settings").await;
    let (status, body) = patch(
        &app,
        &shop.admin_token,
        json!({"currency": "EURO", "tax_rate_bp": 10001, "shipping_flat_cents": -1, "free_shipping_over_cents": -5,
               "auto_cancel_unpaid_hours": 0, "low_stock_threshold": -1, "locale": "english!", "mail_sender_name": "Vault\nBcc: x@y"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for field in [
        "currency",
        "tax_rate_bp",
        "shipping_flat_cents",
        "free_shipping_over_cents",
        "auto_cancel_unpaid_hours",
        "low_stock_threshold",
        "locale",
        "mail_sender_name",
    ] {
        assert!(body["fields"][field].is_string(), "{field} not named: {body}");
    }
    assert_eq!(app.fetch(&shop.admin_token, "/api/admin/settings").await, before);
    let customer = app.register_customer("picky", "c@picky.test").await;
    let res = app.as_user(Method::GET, &customer, "/api/admin/settings").send().await.unwrap();
    assert!(matches!(res.status(), StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED), "{}", res.status());
}
