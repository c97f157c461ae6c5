//! The audit log: admin mutations from the route table, lifecycle events from the code that makes
//! them, filters, and each shop admin seeing only their shop's entries.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{SUPER_EMAIL, assert_error, spawn_app};

fn actions(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn admin_mutations_and_lifecycle_events_are_logged_and_each_shop_sees_its_own() {
    let app = spawn_app().await;
    let a = app.create_shop("audita").await;
    let b = app.create_shop("auditb").await;

    let p = app.create(&a.admin_token, "/api/admin/products", json!({"name": "Kettle", "price_cents": 100})).await;
    let id = p["id"].as_i64().unwrap();
    let res = app
        .send_as(Method::PATCH, &a.admin_token, &format!("/api/admin/products/{id}"), json!({"price_cents": 5}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let bad = app.send_as(Method::POST, &a.admin_token, "/api/admin/products", json!({"name": ""})).await;
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.as_user(Method::DELETE, &a.admin_token, &format!("/api/admin/products/{id}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.create(&b.admin_token, "/api/admin/categories", json!({"name": "B only"})).await;

    // The shop's own log: its admin's changes (newest first) and its lifecycle, nothing of B.
    let own = app.fetch(&a.admin_token, "/api/admin/audit").await;
    assert_eq!(
        actions(&own),
        ["product.deleted", "product.updated", "product.created", "client.created", "shop.created"]
    );
    let entry = &own["data"][1];
    assert_eq!(entry["actor"]["email"], a.admin_email);
    assert_eq!(entry["actor"]["role"], "admin");
    assert_eq!(entry["client_id"], a.id);
    assert_eq!(entry["target"], format!("product:{id}"));
    assert_eq!(entry["ip"], "127.0.0.1");
    assert_eq!(own["data"][2]["target"], format!("product:{id}"), "a create names the new id");
    let theirs = app.fetch(&b.admin_token, "/api/admin/audit").await;
    assert_eq!(actions(&theirs), ["category.created", "client.created", "shop.created"]);

    // Suspend, resume, delete: lifecycle events an operator can filter on.
    for status in ["suspended", "active"] {
        let res = app
            .admin_api(Method::PATCH, &format!("/api/super-admin/clients/{}", b.id))
            .json(&json!({ "status": status }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app.admin_api(Method::DELETE, &format!("/api/super-admin/clients/{}", b.id)).send().await.unwrap();
    assert!(res.status().is_success());
    let lifecycle =
        app.fetch(&app.super_token, &format!("/api/super-admin/audit?action=shop.*&client_id={}", b.id)).await;
    assert_eq!(actions(&lifecycle), ["shop.deleted", "shop.resumed", "shop.suspended", "shop.created"]);
    assert_eq!(lifecycle["data"][0]["actor"]["role"], "system");
    let by_super = app.fetch(&app.super_token, &format!("/api/super-admin/audit?actor={SUPER_EMAIL}")).await;
    let by_super = actions(&by_super);
    assert!(
        by_super.starts_with(&["client.deleted".into(), "client.updated".into(), "client.updated".into()]),
        "{by_super:?}"
    );
    assert_eq!(by_super.iter().filter(|a| *a == "client.created").count(), 2);
    let created = app.fetch(&app.super_token, "/api/super-admin/audit?action=client.created&per_page=1").await;
    assert_eq!(created["meta"]["total"], 2);
    assert_eq!(created["data"][0]["target"], format!("client:{}", b.id));
    assert_eq!(created["data"][0]["client_id"], b.id);

    // Only admins read it.
    let res = app.as_user(Method::GET, &a.admin_token, "/api/super-admin/audit").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let customer = app.register_customer("audita", "c@example.com").await;
    let res = app.as_user(Method::GET, &customer, "/api/admin/audit").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
