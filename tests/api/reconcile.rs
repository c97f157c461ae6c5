//! Each crash point of provisioning and deletion, simulated by running the real steps up to that
//! point with no server, then starting the server over the folder.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use vergeflow::auth::password;
use vergeflow::state::AppState;
use vergeflow::tenancy::lifecycle::{self, NewClient, NewClientInput};

use crate::helpers::{JsonBody, assert_error, list_files, spawn_app, spawn_on, test_settings};

const ADMIN_PASSWORD: &str = "crash-admin-pw";

/// Runs provisioning step 1 (registry row + admin) and returns the state and the id.
fn begin(data_dir: &Path, subdomain: &str) -> (AppState, i64) {
    let state = AppState::open(test_settings(data_dir)).unwrap();
    let input = NewClientInput {
        name: "Crashy",
        subdomain,
        domain: None,
        admin_name: None,
        admin_email: &format!("admin@{subdomain}.test"),
        admin_password: None,
    };
    let mut new = NewClient::parse(&input, "localhost").unwrap();
    new.admin_password_hash = password::hash(ADMIN_PASSWORD).unwrap();
    let id = lifecycle::begin_provisioning(&state.tenancy, &mut state.main.get().unwrap(), &new).unwrap();
    (state, id)
}

fn stamp(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    conn.query_row("SELECT client_id FROM shop", [], |r| r.get(0)).unwrap()
}

async fn assert_served(app: &crate::helpers::TestApp, subdomain: &str, id: i64) {
    let client: Value = app.admin_api(Method::GET, &format!("/api/super-admin/clients/{id}")).json_body().await;
    assert_eq!(client["status"], "active", "{client}");
    let info: Value = app.shop_by_host(&format!("{subdomain}.localhost")).await.json().await.unwrap();
    assert_eq!(info["file_client_id"], id, "{info}");
    app.login_token(&format!("admin@{subdomain}.test"), ADMIN_PASSWORD).await;
    assert_eq!(stamp(&app.data_dir.join(format!("client_{id}.db"))), id);
    assert!(!app.data_files().iter().any(|f| f.contains("building")), "{:?}", app.data_files());
}

#[tokio::test]
async fn provisioning_interrupted_before_the_file_is_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (state, id) = begin(&data, "nofile");
    drop(state);

    let app = spawn_on(&data, |_| {}).await;

    assert_served(&app, "nofile", id).await;
}

#[tokio::test]
async fn provisioning_interrupted_while_the_file_was_half_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (state, id) = begin(&data, "halfway");
    std::fs::write(data.join(format!("client_{id}.db.building")), b"SQLite format 3\0garbage").unwrap();
    std::fs::write(data.join(format!("client_{id}.db.building-wal")), b"junk").unwrap();
    drop(state);

    let app = spawn_on(&data, |_| {}).await;

    assert_served(&app, "halfway", id).await;
}

#[tokio::test]
async fn provisioning_interrupted_after_the_rename() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (state, id) = begin(&data, "renamed");
    state.tenancy.template.build_file(&data, id).unwrap();
    drop(state);

    let app = spawn_on(&data, |_| {}).await;

    assert_served(&app, "renamed", id).await;
}

#[tokio::test]
async fn provisioning_with_an_unusable_file_moves_it_aside_and_rebuilds() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (state, id) = begin(&data, "corrupt");
    std::fs::write(data.join(format!("client_{id}.db")), vec![0x42u8; 8192]).unwrap();
    drop(state);

    let app = spawn_on(&data, |_| {}).await;

    assert_served(&app, "corrupt", id).await;
    assert_eq!(list_files(&data.join("orphans")).len(), 1);
}

async fn shop_then_crash_mid_delete(remove_files: bool) {
    let app = spawn_app().await;
    let shop = app.create_shop("goner").await;
    let other = app.create_shop("stays").await;
    assert_eq!(app.shop_by_host("goner.localhost").await.status(), StatusCode::OK);
    let (data, tmp) = app.stop().await;
    {
        let conn = rusqlite::Connection::open(data.join("main.db")).unwrap();
        conn.execute("UPDATE clients SET status = 'deleting' WHERE id = ?1", [shop.id]).unwrap();
    }
    if remove_files {
        std::fs::remove_file(data.join(format!("client_{}.db", shop.id))).unwrap();
    }

    let app = spawn_on(&data, |_| {}).await;

    let res = app.admin_api(Method::GET, &format!("/api/super-admin/clients/{}", shop.id)).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "client_not_found").await;
    assert!(!app.data_files().iter().any(|f| f.starts_with(&format!("client_{}.", shop.id))), "{:?}", app.data_files());
    assert_error(
        app.login(&shop.admin_email, "shop-admin-password").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    assert_eq!(app.shop_by_host("stays.localhost").await.status(), StatusCode::OK);
    assert_eq!(stamp(&data.join(format!("client_{}.db", other.id))), other.id);
    drop(tmp);
}

#[tokio::test]
async fn deletion_interrupted_before_the_files_were_removed() {
    shop_then_crash_mid_delete(false).await;
}

#[tokio::test]
async fn deletion_interrupted_after_the_files_were_removed() {
    shop_then_crash_mid_delete(true).await;
}

#[tokio::test]
async fn stray_files_are_moved_aside_and_never_served_or_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        // A well-formed shop file with no registry row, and a leftover WAL under the next id.
        let state = AppState::open(test_settings(&data)).unwrap();
        state.tenancy.template.build_file(&data, 77).unwrap();
    }
    std::fs::write(data.join("client_1.db-wal"), vec![7u8; 4096]).unwrap();
    std::fs::write(data.join("client_1.db-shm"), vec![7u8; 4096]).unwrap();

    let app = spawn_on(&data, |_| {}).await;

    assert_eq!(app.data_files(), vec!["main.db", "main.db-shm", "main.db-wal", "secret.key"]);
    let orphans = list_files(&data.join("orphans"));
    assert_eq!(orphans.len(), 3, "{orphans:?}");
    let res = app.get("/api/shop?client=77").send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "client_not_found").await;
    let shop = app.create_shop("fresh").await;
    assert_eq!(shop.id, 1);
    let info: Value = app.shop_by_host("fresh.localhost").await.json().await.unwrap();
    assert_eq!(info["file_client_id"], 1);
    assert_eq!(stamp(&data.join("client_1.db")), 1);
}
