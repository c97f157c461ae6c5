//! Schedules: the defaults, validation, per-shop overrides, and order auto-cancel end to end
//! (queued by the scheduler's tick, run by the queue, stock restored, customer told).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};
use crate::shop_journeys::address;

async fn put(app: &crate::helpers::TestApp, body: Value) -> reqwest::Response {
    app.admin_api(Method::PUT, "/api/super-admin/schedules").json(&body).send().await.unwrap()
}

#[tokio::test]
async fn schedules_validate_override_per_shop_and_auto_cancel_unpaid_orders() {
    let app = spawn_app().await;
    let shop = app.create_shop("sched").await;
    let other = app.create_shop("schedother").await;

    let list = app.fetch(&app.super_token, "/api/super-admin/schedules").await;
    let names: Vec<&str> = list["data"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["backups", "order_auto_cancel", "prune"]);
    assert!(list["data"].as_array().unwrap().iter().all(|s| s["next_run_at"].is_string() && s["client_id"].is_null()));
    assert_eq!(list["data"][1]["setting"], 1440);

    for (body, field) in [
        (json!({"name": "backups", "cron": "every day"}), "cron"),
        (json!({"name": "backups", "cron": "0 0 * * * *"}), "cron"),
        (json!({"name": "prune", "client_id": shop.id, "cron": "0 * * * *"}), "client_id"),
        (json!({"name": "order_auto_cancel", "cron": "0 * * * *", "setting": 1}), "setting"),
        (json!({"name": "backups", "cron": "0 * * * *", "setting": 10}), "setting"),
        (json!({"name": "reindex", "cron": "0 * * * *"}), "name"),
        (json!({"name": "prune"}), "cron"),
    ] {
        let body =
            assert_error(put(&app, body.clone()).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(body["fields"][field].is_string(), "{body}");
    }
    let res = put(&app, json!({"name": "backups", "client_id": 999, "cron": "0 * * * *"})).await;
    assert_error(res, StatusCode::NOT_FOUND, "client_not_found").await;

    // The other shop turns auto-cancel off; this one waits 5 minutes on its own hourly schedule.
    let res =
        put(&app, json!({"name": "order_auto_cancel", "client_id": other.id, "cron": "0 * * * *", "enabled": false}))
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res =
        put(&app, json!({"name": "order_auto_cancel", "client_id": shop.id, "cron": "30 2 * * *", "setting": 5})).await;
    let list: Value = res.json().await.unwrap();
    let own = list["data"].as_array().unwrap().iter().find(|s| s["client_id"] == shop.id).unwrap().clone();
    assert_eq!((own["cron"].as_str(), own["setting"].as_i64()), (Some("30 2 * * *"), Some(5)));
    assert!(own["next_run_at"].as_str().unwrap().ends_with("T02:30:00Z"));

    // Two orders; one is backdated past the shop's 5 minutes.
    let token = app.register_customer("sched", "late@example.com").await;
    let product = app
        .create(&shop.admin_token, "/api/admin/products", json!({"name": "Teapot", "price_cents": 500, "stock": 10}))
        .await;
    let address_id = address(&app, &token).await;
    let mut orders = Vec::new();
    for _ in 0..2 {
        app.create(&token, "/api/shop/cart/items", json!({"product_id": product["id"], "quantity": 2})).await;
        orders.push(app.create(&token, "/api/shop/checkout", json!({"address_id": address_id})).await);
    }
    let product_path = format!("/api/admin/products/{}", product["id"]);
    assert_eq!(app.fetch(&shop.admin_token, &product_path).await["stock"], 6);
    {
        let db = app.state.tenancy.pools.checkout(shop.id).unwrap();
        let conn = db.get().unwrap();
        conn.execute(
            "UPDATE orders SET created_at = '2000-01-01T00:00:00Z' WHERE id = ?1",
            [orders[0]["id"].as_i64().unwrap()],
        )
        .unwrap();
    }

    // The scheduler's tick finds the shop's schedule due and queues the job; the queue runs it.
    {
        let conn = app.state.main.get().unwrap();
        conn.execute("UPDATE schedules SET last_run_at = '2000-01-01T00:00:00Z' WHERE client_id = ?1", [shop.id])
            .unwrap();
        assert!(vergeflow::schedules::tick(&conn, None).unwrap() >= 1);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let job = loop {
        let jobs = app
            .fetch(&app.super_token, &format!("/api/super-admin/jobs?kind=auto_cancel_orders&client_id={}", shop.id))
            .await;
        if jobs["data"][0]["status"] == "done" {
            break jobs["data"][0].clone();
        }
        assert!(Instant::now() < deadline, "{jobs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job["result"]["cancelled"], 1, "{job}");
    let first = app.fetch(&shop.admin_token, &format!("/api/admin/orders/{}", orders[0]["id"])).await;
    let second = app.fetch(&shop.admin_token, &format!("/api/admin/orders/{}", orders[1]["id"])).await;
    assert_eq!((first["status"].as_str(), second["status"].as_str()), (Some("cancelled"), Some("pending")));
    assert_eq!(app.fetch(&shop.admin_token, &product_path).await["stock"], 8, "the cancelled order's stock is back");

    // The customer is told, as for an admin's cancel (mail written as .eml without SMTP).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mail = app.data_dir.join("mail");
    // The folder appears with the first message.
    while !(mail.exists() && crate::helpers::list_files(&mail).iter().any(|n| n.contains("order_status_changed"))) {
        assert!(Instant::now() < deadline, "no status mail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Removing the override puts the shop back on the global schedule.
    let res = put(&app, json!({"name": "order_auto_cancel", "client_id": shop.id, "cron": null})).await;
    let list: Value = res.json().await.unwrap();
    assert!(list["data"].as_array().unwrap().iter().all(|s| s["client_id"] != shop.id));
}
