//! Custom fields: definitions per entity with their limits, values validated by type (errors
//! naming `custom.<key>`), stored and read back on products, customers and orders, product lists
//! filtered by them, and a removed field taking its values with it. Another shop sees none of it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

/// The field names of a 422.
fn fields(body: &Value) -> Vec<String> {
    let mut names: Vec<String> = body["fields"].as_object().map(|f| f.keys().cloned().collect()).unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn product_fields_are_validated_by_type_stored_filtered_and_removed_with_their_values() {
    let app = spawn_app().await;
    let shop = app.create_shop("fields").await;
    let other = app.create_shop("plain").await;
    let admin = &shop.admin_token;
    let define = |body: Value| app.create(admin, "/api/admin/custom-fields", body);

    let color = define(json!({"entity": "product", "key": "color", "label": "Colour", "type": "select",
                              "options": ["red", "green", "blue"]}))
    .await;
    assert_eq!((color["type"].as_str(), color["required"].as_bool()), (Some("select"), Some(false)), "{color}");
    define(json!({"entity": "product", "key": "weight_g", "label": "Weight (g)", "type": "number", "required": true}))
        .await;
    define(json!({"entity": "product", "key": "organic", "label": "Organic", "type": "boolean"})).await;
    define(json!({"entity": "product", "key": "harvested", "label": "Harvested", "type": "date"})).await;
    define(json!({"entity": "product", "key": "origin", "label": "Origin", "type": "text"})).await;

    // Bad definitions: key syntax, unknown type, select without options, options on text, duplicates.
    for (body, field) in [
        (json!({"entity": "product", "key": "Color", "label": "x", "type": "text"}), "key"),
        (json!({"entity": "product", "key": "1st", "label": "x", "type": "text"}), "key"),
        (json!({"entity": "product", "key": &"k".repeat(41), "label": "x", "type": "text"}), "key"),
        (json!({"entity": "product", "key": "size", "label": "x", "type": "colour"}), "type"),
        (json!({"entity": "invoice", "key": "size", "label": "x", "type": "text"}), "entity"),
        (json!({"entity": "product", "key": "size", "label": "x", "type": "select"}), "options"),
        (json!({"entity": "product", "key": "size", "label": "x", "type": "text", "options": ["a"]}), "options"),
        (json!({"entity": "product", "key": "size", "label": "x", "type": "select", "options": ["a", "a"]}), "options"),
    ] {
        let (status, err) = app.send_json(Method::POST, admin, "/api/admin/custom-fields", body.clone()).await;
        assert_eq!(
            (status, fields(&err)),
            (StatusCode::UNPROCESSABLE_ENTITY, vec![field.to_string()]),
            "{body}: {err}"
        );
    }
    let res = app
        .send_as(
            Method::POST,
            admin,
            "/api/admin/custom-fields",
            json!({"entity": "product", "key": "color", "label": "Again", "type": "text"}),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "key_taken").await;
    // The same key on another entity is fine.
    define(json!({"entity": "order", "key": "color", "label": "Gift wrap colour", "type": "text"})).await;

    // Values: each wrong type is named, unknown keys too; a required field must be given.
    let (status, err) = app.send_json(Method::POST,
        admin,
        "/api/admin/products",
        json!({"name": "Tea", "price_cents": 500, "custom": {"color": "purple", "organic": "yes", "harvested": "2026-02-30",
                "origin": 5, "nope": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        fields(&err),
        ["custom.color", "custom.harvested", "custom.nope", "custom.organic", "custom.origin", "custom.weight_g"],
        "{err}"
    );
    assert!(err["fields"]["custom.color"].as_str().unwrap().contains("red, green, blue"), "{err}");
    assert_eq!(app.fetch(admin, "/api/admin/products").await["meta"]["total"], 0, "nothing was written");

    let green = app
        .create(
            admin,
            "/api/admin/products",
            json!({"name": "Green tea", "price_cents": 500,
                   "custom": {"color": "green", "weight_g": 250, "organic": true, "harvested": "2026-05-01", "origin": "Uji"}}),
        )
        .await;
    assert_eq!(
        green["custom"],
        json!({"color": "green", "weight_g": 250, "organic": true, "harvested": "2026-05-01", "origin": "Uji"})
    );
    let red = app
        .create(
            admin,
            "/api/admin/products",
            json!({"name": "Red tea", "price_cents": 600, "custom": {"color": "red", "weight_g": 100.5}}),
        )
        .await;
    app.create(
        admin,
        "/api/admin/products",
        json!({"name": "Blue tea", "price_cents": 700, "custom": {"color": "blue", "weight_g": 250}}),
    )
    .await;

    // A PATCH merges; null removes an optional value and is refused for a required one.
    let path = format!("/api/admin/products/{}", red["id"]);
    let (status, patched) =
        app.send_json(Method::PATCH, admin, &path, json!({"custom": {"organic": false, "color": null}})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["custom"], json!({"weight_g": 100.5, "organic": false}));
    let (status, err) = app.send_json(Method::PATCH, admin, &path, json!({"custom": {"weight_g": null}})).await;
    assert_eq!((status, fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["custom.weight_g".to_string()]));
    let (status, renamed) = app.send_json(Method::PATCH, admin, &path, json!({"name": "Red tea II"})).await;
    assert_eq!((status, &renamed["custom"]), (StatusCode::OK, &patched["custom"]), "untouched without custom");

    // Storefront reads carry the values; lists filter by them, typed by the field.
    let shown: Value = app
        .on_shop(Method::GET, "fields", &format!("/api/shop/products/{}", green["id"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["custom"]["origin"], "Uji");
    let names = |list: &Value| -> Vec<String> {
        let mut n: Vec<String> =
            list["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().into()).collect();
        n.sort();
        n
    };
    let app = &app;
    let list = |query: &'static str| async move {
        let res = app.on_shop(Method::GET, "fields", &format!("/api/shop/products?{query}")).send().await.unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    };
    let (status, found) = list("custom.color=green").await;
    assert_eq!(
        (status, names(&found), found["meta"]["total"].as_i64()),
        (StatusCode::OK, vec!["Green tea".into()], Some(1))
    );
    assert_eq!(names(&list("custom.weight_g=250").await.1), ["Blue tea", "Green tea"]);
    assert_eq!(names(&list("custom.weight_g=250.0&custom.organic=true").await.1), ["Green tea"]);
    assert_eq!(names(&list("custom.organic=false").await.1), ["Red tea II"]);
    assert_eq!(names(&list("custom.weight_g=100.5").await.1), ["Red tea II"]);
    assert_eq!(names(&list("q=tea&custom.color=blue&per_page=5").await.1), ["Blue tea"]);
    assert_eq!(list("custom.color=purple").await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, err) = list("custom.flavour=sweet").await;
    assert_eq!((status, fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["custom.flavour".to_string()]));
    let (status, err) = list("custom.weight_g=heavy").await;
    assert_eq!((status, fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["custom.weight_g".to_string()]));

    // Options shrink only when no product holds a dropped one.
    let color_path = format!("/api/admin/custom-fields/{}", color["id"]);
    let res = app.send_as(Method::PATCH, admin, &color_path, json!({"options": ["red", "blue"]})).await;
    assert_error(res, StatusCode::CONFLICT, "option_in_use").await;
    let (status, grown) = app
        .send_json(
            Method::PATCH,
            admin,
            &color_path,
            json!({"options": ["red", "green", "blue", "black"], "label": "Color"}),
        )
        .await;
    assert_eq!(
        (status, grown["label"].as_str(), grown["options"].as_array().map(Vec::len)),
        (StatusCode::OK, Some("Color"), Some(4))
    );
    let (status, err) = app.send_json(Method::PATCH, admin, &color_path, json!({"type": "text"})).await;
    assert_eq!((status, fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["type".to_string()]));

    // Another shop has no such field, so its lists refuse the filter and its products carry none.
    let res = app.on_shop(Method::GET, "plain", "/api/shop/products?custom.color=green").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.fetch(&other.admin_token, "/api/admin/custom-fields").await["data"], json!([]));
    let res = app.send_as(Method::DELETE, &other.admin_token, &color_path, json!(null)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // Removing a field removes its values from every product (and the filter with it).
    let res = app.send_as(Method::DELETE, admin, &color_path, json!(null)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let all = app.fetch(admin, "/api/admin/products?per_page=10").await;
    for p in all["data"].as_array().unwrap() {
        assert!(p["custom"].get("color").is_none(), "{p}");
    }
    assert_eq!(app.fetch(admin, &format!("/api/admin/products/{}", green["id"])).await["custom"]["origin"], "Uji");
    let raw: Option<String> = rusqlite::Connection::open(app.data_dir.join(format!("client_{}.db", shop.id)))
        .unwrap()
        .query_row("SELECT custom FROM products WHERE name = 'Blue tea'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(raw.as_deref(), Some(r#"{"weight_g":250}"#), "the value is gone from the file");
    assert_eq!(list("custom.color=green").await.0, StatusCode::UNPROCESSABLE_ENTITY);

    // Fifty fields per entity, no more.
    let have = app.fetch(admin, "/api/admin/custom-fields?entity=product").await["data"].as_array().unwrap().len();
    for i in have..50 {
        define(json!({"entity": "product", "key": format!("f{i}"), "label": "x", "type": "text"})).await;
    }
    let res = app
        .send_as(
            Method::POST,
            admin,
            "/api/admin/custom-fields",
            json!({"entity": "product", "key": "f50", "label": "x", "type": "text"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "limit_reached").await;
    define(json!({"entity": "customer", "key": "f50", "label": "x", "type": "text"})).await;
}

#[tokio::test]
async fn customer_and_order_fields_travel_with_registration_checkout_and_admin_changes() {
    let app = spawn_app().await;
    let shop = app.create_shop("fieldshop").await;
    let admin = &shop.admin_token;
    app.create(
        admin,
        "/api/admin/custom-fields",
        json!({"entity": "customer", "key": "tier", "label": "Tier", "type": "select",
                                                          "options": ["bronze", "gold"]}),
    )
    .await;
    app.create(
        admin,
        "/api/admin/custom-fields",
        json!({"entity": "order", "key": "gift_note", "label": "Gift note",
                                                          "type": "text", "required": true}),
    )
    .await;
    app.create(
        admin,
        "/api/admin/custom-fields",
        json!({"entity": "order", "key": "deliver_on", "label": "Deliver on", "type": "date"}),
    )
    .await;

    // Registration validates the customer's values and writes nothing when they are wrong.
    let register = |custom: Value| {
        app.on_shop(Method::POST, "fieldshop", "/api/shop/auth/register")
            .json(&json!({"name": "Ada", "email": "ada@fieldshop.test", "password": "customer-password", "custom": custom}))
            .send()
    };
    let res = register(json!({"tier": "platinum"})).await.unwrap();
    let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(fields(&err), ["custom.tier"]);
    let res = register(json!({"tier": "gold"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "the failed attempt left no account behind");
    let customer = res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let customers = app.fetch(admin, "/api/admin/customers").await;
    assert_eq!(customers["data"][0]["custom"], json!({"tier": "gold"}));
    let customer_path = format!("/api/admin/customers/{}", customers["data"][0]["id"]);
    let (status, changed) =
        app.send_json(Method::PATCH, admin, &customer_path, json!({"custom": {"tier": "bronze"}})).await;
    assert_eq!((status, &changed["custom"]), (StatusCode::OK, &json!({"tier": "bronze"})), "{changed}");
    assert_eq!(app.fetch(admin, &customer_path).await["custom"]["tier"], "bronze");

    // Checkout: the required order field is demanded, and a refused checkout changes nothing.
    let product =
        app.create(admin, "/api/admin/products", json!({"name": "Tea", "price_cents": 500, "stock": 3})).await;
    app.create(&customer, "/api/shop/cart/items", json!({"product_id": product["id"], "quantity": 2})).await;
    let address = crate::shop_journeys::address(&app, &customer).await;
    let (status, err) = app
        .send_json(
            Method::POST,
            &customer,
            "/api/shop/checkout",
            json!({"address_id": address, "custom": {"deliver_on": "soon"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(fields(&err), ["custom.deliver_on", "custom.gift_note"]);
    assert_eq!(
        app.fetch(admin, &format!("/api/admin/products/{}", product["id"])).await["stock"],
        3,
        "stock untouched"
    );
    assert_eq!(app.fetch(&customer, "/api/shop/cart").await["items"].as_array().unwrap().len(), 1, "cart kept");
    let order = app
        .create(
            &customer,
            "/api/shop/checkout",
            json!({"address_id": address, "custom": {"gift_note": "Happy birthday!"}}),
        )
        .await;
    assert_eq!(order["custom"], json!({"gift_note": "Happy birthday!"}));
    let mine = app.fetch(&customer, &format!("/api/shop/orders/{}", order["id"])).await;
    assert_eq!(mine["custom"]["gift_note"], "Happy birthday!");

    // The admin may change an order's values with or without a status change.
    let order_path = format!("/api/admin/orders/{}", order["id"]);
    let (status, changed) =
        app.send_json(Method::PATCH, admin, &order_path, json!({"custom": {"deliver_on": "2026-12-24"}})).await;
    assert_eq!((status, changed["status"].as_str()), (StatusCode::OK, Some("pending")), "{changed}");
    assert_eq!(changed["custom"], json!({"gift_note": "Happy birthday!", "deliver_on": "2026-12-24"}));
    let (status, changed) = app
        .send_json(Method::PATCH, admin, &order_path, json!({"status": "paid", "custom": {"deliver_on": null}}))
        .await;
    assert_eq!(
        (status, changed["status"].as_str(), &changed["custom"]),
        (StatusCode::OK, Some("paid"), &json!({"gift_note": "Happy birthday!"}))
    );
    let (status, err) = app
        .send_json(Method::PATCH, admin, &order_path, json!({"status": "shipped", "custom": {"gift_note": null}}))
        .await;
    assert_eq!((status, fields(&err)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["custom.gift_note".to_string()]));
    assert_eq!(app.fetch(admin, &order_path).await["status"], "paid", "the refused change moved nothing");
    let (status, err) = app.send_json(Method::PATCH, admin, &order_path, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
}
