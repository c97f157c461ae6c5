//! The CLI's commands, run beside a live server (handed over through the job queue) and alone.

use reqwest::StatusCode;
use serde_json::Value;
use vergeflow::tenancy::lifecycle::NewClientInput;

use crate::helpers::{spawn_app, spawn_on, test_settings};

fn input<'a>(subdomain: &'a str, email: &'a str) -> NewClientInput<'a> {
    NewClientInput {
        name: "From the CLI",
        subdomain,
        domain: None,
        admin_name: None,
        admin_email: email,
        admin_password: Some("cli-admin-password"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_beside_a_running_server_are_handed_to_it() {
    let app = spawn_app().await;
    let shop = app.create_shop("busy").await;
    assert_eq!(app.shop_by_host("busy.localhost").await.status(), StatusCode::OK);
    let settings = app.settings.clone();

    let created = tokio::task::spawn_blocking({
        let settings = settings.clone();
        move || vergeflow::cli::create_client(&settings, &input("cli-made", "cli@example.com"))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(created.status, vergeflow::tenancy::registry::ClientStatus::Active);
    let info: Value = app.shop_by_host("cli-made.localhost").await.json().await.unwrap();
    assert_eq!(info["file_client_id"], created.id);

    let id = shop.id;
    tokio::task::spawn_blocking(move || vergeflow::cli::delete_client(&settings, id)).await.unwrap().unwrap();
    assert!(!app.data_files().iter().any(|f| f.starts_with(&format!("client_{id}."))), "{:?}", app.data_files());
    assert_eq!(app.shop_by_host("busy.localhost").await.status(), StatusCode::NOT_FOUND);

    let dup = tokio::task::spawn_blocking({
        let settings = app.settings.clone();
        move || vergeflow::cli::create_client(&settings, &input("cli-made", "other@example.com"))
    })
    .await
    .unwrap();
    assert!(dup.unwrap_err().to_string().contains("taken"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_without_a_server_work_directly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let settings = test_settings(&data);
    let created = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || {
            let bad = vergeflow::cli::create_client(&settings, &input("www", "x@example.com")).unwrap_err();
            assert!(bad.to_string().contains("subdomain"), "{bad}");
            let a = vergeflow::cli::create_client(&settings, &input("direct", "d@example.com")).unwrap();
            let b = vergeflow::cli::create_client(&settings, &input("direct2", "d2@example.com")).unwrap();
            vergeflow::cli::delete_client(&settings, b.id).unwrap();
            a
        })
        .await
        .unwrap()
    };
    assert!(data.join(format!("client_{}.db", created.id)).exists());
    assert!(!data.join(format!("client_{}.db", created.id + 1)).exists());

    let app = spawn_on(&data, |_| {}).await;
    let info: Value = app.shop_by_host("direct.localhost").await.json().await.unwrap();
    assert_eq!(info["file_client_id"], created.id);
    app.login_token("d@example.com", "cli-admin-password").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_runs_beside_a_running_server_and_names_a_missing_shop() {
    let app = spawn_app().await;
    let shop = app.create_shop("migrating").await;
    app.shop_by_host("migrating.localhost").await;
    let settings = app.settings.clone();
    let (all, one, missing) = tokio::task::spawn_blocking(move || {
        (
            vergeflow::cli::migrate(&settings, None, None),
            vergeflow::cli::migrate(&settings, Some(shop.id), None),
            vergeflow::cli::migrate(&settings, Some(999), None),
        )
    })
    .await
    .unwrap();
    all.unwrap();
    one.unwrap();
    assert!(missing.unwrap_err().to_string().contains("999"));
    let info: Value = app.shop_by_host("migrating.localhost").await.json().await.unwrap();
    assert_eq!(info["file_client_id"], shop.id);
}
