//! Shipping methods and tax by country: methods offered by destination (and cart weight), priced
//! for the buyer's cart; checkout charging the chosen one and the destination's tax, added on top or
//! included in prices; validation of methods and rates; another shop unaffected.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

async fn address_in(app: &TestApp, token: &str, country: &str) -> i64 {
    app.create(
        token,
        "/api/shop/addresses",
        json!({"name": "Ada", "line1": "1 Main St", "city": "Town",
                                                     "postal_code": "12345", "country": country}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn methods_fit_the_destination_and_checkout_charges_them_with_the_countrys_tax() {
    let app = spawn_app().await;
    let shop = app.create_shop("shipper").await;
    let other = app.create_shop("noshipper").await;
    let admin = &shop.admin_token;
    let tea = app
        .create(
            admin,
            "/api/admin/products",
            json!({"name": "Tea", "price_cents": 1000, "stock": 100, "weight_grams": 300}),
        )
        .await;
    let kettle = app
        .create(
            admin,
            "/api/admin/products",
            json!({"name": "Kettle", "price_cents": 2500, "stock": 100, "weight_grams": 1500}),
        )
        .await;
    assert_eq!(kettle["weight_grams"], 1500);

    // Rates by country; bad codes and rates are each named.
    let (status, err) =
        app.send_json(Method::PUT, admin, "/api/admin/tax-rates", json!({"rates": {"XX": 100, "DE": 20000}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["fields"]["rates.XX"].is_string() && err["fields"]["rates.DE"].is_string(), "{err}");
    let (status, rates) = app
        .send_json(Method::PUT, admin, "/api/admin/tax-rates", json!({"rates": {"de": 1900, "AT": 2000, "*": 0}}))
        .await;
    assert_eq!((status, &rates["rates"]), (StatusCode::OK, &json!({"*": 0, "AT": 2000, "DE": 1900})));

    // Methods; nonsense is refused.
    for (body, field) in [
        (json!({"name": "X", "kind": "teleport"}), "kind"),
        (json!({"name": "X", "kind": "weight"}), "bands"),
        (
            json!({"name": "X", "kind": "weight", "bands": [{"up_to_grams": 500, "price_cents": 1}, {"up_to_grams": 100, "price_cents": 2}]}),
            "bands",
        ),
        (json!({"name": "X", "kind": "flat", "countries": ["DE", "XX"]}), "countries"),
        (json!({"name": "X", "kind": "free_over", "price_cents": 100}), "free_over_cents"),
    ] {
        let (status, err) = app.send_json(Method::POST, admin, "/api/admin/shipping-methods", body.clone()).await;
        assert_eq!(
            (status, err["fields"][field].is_string()),
            (StatusCode::UNPROCESSABLE_ENTITY, true),
            "{body}: {err}"
        );
    }
    assert_eq!(app.fetch(admin, "/api/admin/shipping-methods").await["data"], json!([]), "nothing half made");
    let standard = app
        .create(
            admin,
            "/api/admin/shipping-methods",
            json!({"name": "Standard", "kind": "flat", "price_cents": 495, "countries": ["de", "AT"]}),
        )
        .await;
    assert_eq!(standard["countries"], json!(["AT", "DE"]));
    let free = app
        .create(admin, "/api/admin/shipping-methods",
            json!({"name": "Free over 50", "kind": "free_over", "price_cents": 695, "free_over_cents": 5000, "countries": ["DE"]}))
        .await;
    let world = app
        .create(
            admin,
            "/api/admin/shipping-methods",
            json!({"name": "World parcel", "kind": "weight",
            "bands": [{"up_to_grams": 1000, "price_cents": 1500}, {"up_to_grams": 5000, "price_cents": 3000}]}),
        )
        .await;

    let customer = app.register_customer("shipper", "buyer@shipper.test").await;
    let (de, us) = (address_in(&app, &customer, "DE").await, address_in(&app, &customer, "US").await);
    app.create(&customer, "/api/shop/cart/items", json!({"product_id": tea["id"], "quantity": 2})).await;
    app.create(&customer, "/api/shop/cart/items", json!({"product_id": kettle["id"], "quantity": 1})).await;
    // 45.00 of goods weighing 2,100 g: to DE three methods fit, to US only the world parcel.
    let (app_ref, customer_ref) = (&app, &customer);
    let offers = |country: &'static str| async move {
        app_ref.fetch(customer_ref, &format!("/api/shop/shipping-methods?country={country}")).await["data"].clone()
    };
    assert_eq!(
        offers("DE").await,
        json!([{"id": standard["id"], "name": "Standard", "price_cents": 495},
               {"id": free["id"], "name": "Free over 50", "price_cents": 695},
               {"id": world["id"], "name": "World parcel", "price_cents": 3000}])
    );
    assert_eq!(offers("US").await, json!([{"id": world["id"], "name": "World parcel", "price_cents": 3000}]));
    let anonymous: Value = app
        .on_shop(Method::GET, "shipper", "/api/shop/shipping-methods?country=AT")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anonymous["data"].as_array().unwrap().len(), 2, "{anonymous}");
    let res = app.on_shop(Method::GET, "shipper", "/api/shop/shipping-methods?country=ZZ").send().await.unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // Checkout to DE must pick one of three; a method that does not ship there is refused.
    let (status, err) = app.send_json(Method::POST, &customer, "/api/shop/checkout", json!({"address_id": de})).await;
    assert_eq!(
        (status, err["fields"]["shipping_method_id"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true),
        "{err}"
    );
    let (status, err) = app
        .send_json(
            Method::POST,
            &customer,
            "/api/shop/checkout",
            json!({"address_id": us, "shipping_method_id": standard["id"]}),
        )
        .await;
    assert_eq!(
        (status, err["fields"]["shipping_method_id"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true),
        "{err}"
    );
    let (status, order) = app
        .send_json(
            Method::POST,
            &customer,
            "/api/shop/checkout",
            json!({"address_id": de, "shipping_method_id": standard["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    // 45.00 + 4.95 = 49.95; 19 % on top = 9.4905 → 9.49.
    assert_eq!(
        (
            order["shipping_cents"].as_i64(),
            order["tax_cents"].as_i64(),
            order["total_cents"].as_i64(),
            order["shipping_method"].as_str(),
            order["tax_included"].as_bool()
        ),
        (Some(495), Some(949), Some(5944), Some("Standard"), Some(false)),
        "{order}"
    );

    // To the US only one method fits, so it is chosen; the '*' rate (0 %) applies.
    app.create(&customer, "/api/shop/cart/items", json!({"product_id": tea["id"], "quantity": 1})).await;
    let order = app.create(&customer, "/api/shop/checkout", json!({"address_id": us})).await;
    assert_eq!(
        (
            order["shipping_cents"].as_i64(),
            order["tax_cents"].as_i64(),
            order["total_cents"].as_i64(),
            order["shipping_method"].as_str()
        ),
        (Some(1500), Some(0), Some(2500), Some("World parcel"))
    );
    // Too heavy for every band: nothing ships it there.
    app.create(&customer, "/api/shop/cart/items", json!({"product_id": kettle["id"], "quantity": 4})).await;
    let (status, err) = app.send_json(Method::POST, &customer, "/api/shop/checkout", json!({"address_id": us})).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_shipping_method")),
        "{err}"
    );

    // Prices with tax included: the total is goods plus shipping, the tax the part of it that is tax.
    app.send_json(Method::PATCH, admin, "/api/admin/settings", json!({"prices_include_tax": true})).await;
    let at = address_in(&app, &customer, "AT").await;
    // 4 kettles (6,000 g, too heavy for the world parcel): Standard is the one method to AT.
    // 100.00 + 4.95 = 104.95 includes 20 %: 104.95 × 20 / 120 = 17.4917 → 17.49.
    let order = app.create(&customer, "/api/shop/checkout", json!({"address_id": at})).await;
    assert_eq!(
        (
            order["subtotal_cents"].as_i64(),
            order["shipping_cents"].as_i64(),
            order["tax_cents"].as_i64(),
            order["total_cents"].as_i64(),
            order["tax_included"].as_bool()
        ),
        (Some(10_000), Some(495), Some(1749), Some(10_495), Some(true)),
        "{order}"
    );
    // Another shop has none of it: its flat settings apply as before.
    assert_eq!(app.fetch(&other.admin_token, "/api/admin/shipping-methods").await["data"], json!([]));
    assert_eq!(app.fetch(&other.admin_token, "/api/admin/tax-rates").await["rates"], json!({}));
    let res = app
        .send_as(
            Method::DELETE,
            &other.admin_token,
            &format!("/api/admin/shipping-methods/{}", world["id"]),
            json!(null),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}
