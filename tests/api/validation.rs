use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

fn valid_body(subdomain: &str) -> Value {
    json!({"name": "Shop", "subdomain": subdomain, "admin_email": format!("{subdomain}@example.com"),
           "admin_password": "long-enough-pw"})
}

async fn snapshot(app: &TestApp) -> (Value, Vec<String>) {
    (app.list_clients().await["meta"]["total"].clone(), app.data_files())
}

#[tokio::test]
async fn bad_shop_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_shop("taken").await;
    let before = snapshot(&app).await;

    for (subdomain, why) in [("Bad_Name", "charset"), ("-dash", "dash"), ("www", "reserved"), ("admin", "reserved")] {
        let body = assert_error(
            app.create_client(&valid_body(subdomain)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(body["fields"]["subdomain"].is_string(), "{why}: {body}");
    }
    let long = "a".repeat(64);
    assert_error(app.create_client(&valid_body(&long)).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;

    let mut body = valid_body("fresh");
    body["admin_email"] = json!("not-an-email");
    body["admin_password"] = json!("short");
    body["domain"] = json!("127.0.0.1");
    let err = assert_error(app.create_client(&body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    for field in ["admin_email", "admin_password", "domain"] {
        assert!(err["fields"][field].is_string(), "{field} not named: {err}");
    }

    assert_error(app.create_client(&valid_body("taken")).await, StatusCode::CONFLICT, "subdomain_taken").await;
    let mut dup_email = valid_body("other");
    dup_email["admin_email"] = json!("admin@taken.example.com");
    assert_error(app.create_client(&dup_email).await, StatusCode::CONFLICT, "email_taken").await;

    let missing = assert_error(
        app.create_client(&json!({"name": "x", "subdomain": "missing"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(missing["fields"].as_object().unwrap().len() == 1, "{missing}");

    let res = app
        .admin_api(Method::POST, "/api/super-admin/clients")
        .header("content-type", "application/json")
        .body("{\"name\": \"x\", ")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "malformed_json").await;

    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let res = app
        .admin_api(Method::POST, "/api/super-admin/clients")
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());

    let mut huge = valid_body("huge");
    huge["name"] = json!("x".repeat(200_000));
    assert_error(app.create_client(&huge).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let res = app.admin_api(Method::GET, "/api/super-admin/clients?per_page=1000000").send().await.unwrap();
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["meta"]["per_page"], 100);
    assert_error(
        app.admin_api(Method::GET, "/api/super-admin/clients?page=0").send().await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_error(
        app.admin_api(Method::GET, "/api/super-admin/clients/abc").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "client_not_found",
    )
    .await;

    assert_eq!(snapshot(&app).await, before, "a refused request changed the registry or the files");
    // After all that abuse, shops still answer.
    assert_eq!(app.shop_by_host("taken.localhost").await.status(), StatusCode::OK);
}
