//! The job queue: listings and filters, batch progress, a deleted shop's jobs cancelled, SIGTERM
//! (running jobs get a grace period, then go back on the queue) and kill -9 (a running job runs
//! again after the restart).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::crash::{Server, data_dir, ro};
use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD, assert_error, spawn_app_with};
use crate::mail::{Sink, free_port};

#[tokio::test]
async fn backup_runs_are_batches_and_listings_filter() {
    let app = spawn_app_with(|_| {}).await;
    let mut ids = Vec::new();
    for sub in ["batcha", "batchb", "batchc"] {
        ids.push(app.create_shop(sub).await.id);
    }
    let res = app.admin_api(Method::POST, "/api/super-admin/backups").send().await.unwrap();
    let job = app.finish_job(res).await;
    assert_eq!(job["status"], "done", "{job}");
    let batch_id = job["batch_id"].as_i64().expect("a batch");
    let batch = app.fetch(&app.super_token, &format!("/api/super-admin/batches/{batch_id}")).await;
    assert_eq!(
        (batch["total"].as_i64(), batch["done"].as_i64(), batch["pending"].as_i64(), batch["failed"].as_i64()),
        (Some(3), Some(3), Some(0), Some(0)),
        "{batch}"
    );
    assert_eq!((batch["progress"].as_f64(), batch["job_id"].as_i64()), (Some(1.0), job["id"].as_i64()));
    assert!(batch["finished_at"].is_string());
    let res = app.admin_api(Method::GET, "/api/super-admin/batches/999").send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "batch_not_found").await;

    // One shop's backup is that shop's job.
    let res =
        app.admin_api(Method::POST, &format!("/api/super-admin/clients/{}/backups", ids[1])).send().await.unwrap();
    app.finish_job(res).await;
    let mine = app.fetch(&app.super_token, &format!("/api/super-admin/jobs?client_id={}", ids[1])).await;
    assert_eq!(mine["meta"]["total"], 1);
    assert_eq!(
        (mine["data"][0]["kind"].as_str(), mine["data"][0]["max_attempts"].as_i64()),
        (Some("backup_client"), Some(3))
    );
    let done = app.fetch(&app.super_token, "/api/super-admin/jobs?status=done&kind=backup_all").await;
    assert_eq!(done["meta"]["total"], 1);
    let res = app.admin_api(Method::GET, "/api/super-admin/jobs?status=sleeping").send().await.unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let shop_admin = app.login_token("admin@batcha.example.com", "shop-admin-password").await;
    let res = app.as_user(Method::GET, &shop_admin, "/api/super-admin/jobs").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a shop admin never sees the queue");
}

#[tokio::test]
async fn a_deleted_shops_pending_jobs_are_cancelled() {
    let port = free_port(); // nothing listens: mail waits for its retry
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        s.job_retry_base = Duration::from_secs(600);
    })
    .await;
    let keep = app.create_shop("keepme").await;
    let gone = app.create_shop("goneshop").await;
    app.register_customer("keepme", "k@example.com").await;
    app.register_customer("goneshop", "g@example.com").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting = app.fetch(&app.super_token, "/api/super-admin/jobs?kind=send_mail&status=pending").await;
        if waiting["meta"]["total"] == 2 && waiting["data"].as_array().unwrap().iter().all(|j| j["attempts"] == 1) {
            break;
        }
        assert!(Instant::now() < deadline, "the mails did not wait for a retry: {waiting}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = app.admin_api(Method::DELETE, &format!("/api/super-admin/clients/{}", gone.id)).send().await.unwrap();
    assert!(res.status().is_success());
    let cancelled =
        app.fetch(&app.super_token, &format!("/api/super-admin/jobs?client_id={}&status=cancelled", gone.id)).await;
    assert_eq!(cancelled["meta"]["total"], 1);
    assert_eq!(cancelled["data"][0]["result"]["error"], "cancelled");
    let kept =
        app.fetch(&app.super_token, &format!("/api/super-admin/jobs?client_id={}&status=pending", keep.id)).await;
    assert_eq!(kept["meta"]["total"], 1, "the other shop's mail still waits");
    let outbox: i64 = app
        .state
        .main
        .get()
        .unwrap()
        .query_row("SELECT count(*) FROM mail_outbox WHERE client_id = ?1", [gone.id], |r| r.get(0))
        .unwrap();
    assert_eq!(outbox, 0, "the deleted shop's outbox went with it");
}

/// An SMTP "server" that accepts connections and never says a word: a mail job sending to it
/// runs until lettre's timeout (15 s).
fn silent_smtp() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

async fn super_token(server: &Server) -> String {
    server.token(SUPER_EMAIL, SUPER_PASSWORD).await
}

/// (status, attempts, last_error) of the only send_mail job, read from main.db.
fn mail_job(data: &std::path::Path) -> Option<(String, i64, Option<String>)> {
    let main = ro(&data.join("main.db"));
    main.query_row(
        "SELECT status, attempts, last_error FROM jobs WHERE kind = 'send_mail' ORDER BY id LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .ok()
}

async fn wait_running(data: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while mail_job(data).map(|j| j.0) != Some("running".into()) {
        assert!(Instant::now() < deadline, "the mail job never ran: {:?}", mail_job(data));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn register(server: &Server, sub: &str, email: &str) {
    let res = server
        .http
        .post(format!("{}/api/shop/auth/register", server.base))
        .header("Host", format!("{sub}.localhost"))
        .json(&json!({"name": "Q", "email": email, "password": "customer-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn sigterm_gives_running_jobs_a_grace_period_then_requeues_them_and_kill_9_reruns_them() {
    let (_tmp, data) = data_dir();
    let (_silent, silent_port) = silent_smtp();
    let silent_url = format!("smtp://127.0.0.1:{silent_port}");
    let env = [("VERGEFLOW_SMTP_URL", silent_url.as_str()), ("VERGEFLOW_SHUTDOWN_GRACE_SECS", "1")];
    let server = Server::start_with(&data, &env).await;
    let token = super_token(&server).await;
    server.create_shop(&token, "termshop").await;
    register(&server, "termshop", "t@example.com").await;
    wait_running(&data).await;

    // SIGTERM while the mail job hangs on SMTP: the server waits its 1 s grace, puts the job back
    // and exits well before the job's own 15 s timeout.
    let took = server.terminate(Duration::from_secs(10));
    assert!(took >= Duration::from_millis(900), "the grace period was not given: {took:?}");
    let (status, attempts, error) = mail_job(&data).unwrap();
    assert_eq!((status.as_str(), attempts), ("pending", 0), "{error:?}");
    assert!(error.unwrap().contains("requeued"));

    // kill -9 rounds: each time the job is running when the process dies, and runs again after
    // the restart (the invariant: never lost, never marked done without being sent).
    for round in 0..3 {
        let server = Server::start_with(&data, &env).await;
        wait_running(&data).await;
        server.kill();
        let (status, attempts, _) = mail_job(&data).unwrap();
        assert_eq!(status, "running", "round {round}: the dead server's job is left running");
        assert_eq!(attempts, round + 1, "round {round}: the restart ran it again");
    }

    // A working SMTP server: the restart requeues the interrupted job and the mail goes out once.
    let tmp = tempfile::tempdir().unwrap();
    let sink = Sink::start(free_port(), &tmp.path().join("inbox"));
    let server = Server::start_with(&data, &[("VERGEFLOW_SMTP_URL", sink.url().as_str())]).await;
    sink.wait_for("t@example.com", "Welcome").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while mail_job(&data).unwrap().0 != "done" {
        assert!(Instant::now() < deadline, "{:?}", mail_job(&data));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "sent once");
    let outbox: (String, i64) = ro(&data.join("main.db"))
        .query_row("SELECT status, attempts FROM mail_outbox", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(outbox.0, "sent");
    let jobs: Value = server
        .http
        .get(format!("{}/api/super-admin/jobs?kind=send_mail", server.base))
        .bearer_auth(super_token(&server).await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["data"][0]["status"], "done", "{jobs}");
}
