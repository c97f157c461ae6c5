//! The real binary killed with SIGKILL at random moments while it backs up, restores and imports
//! shops. After every restart: the shop holds exactly one of the two data sets it was ever restored
//! to, whole; every listed backup matches its manifest and passes integrity_check; no half-written
//! backup, upload or building file is left; every imported shop is whole or absent.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::crash::{Server, data_dir, jitter, keep_running, kill_during, ro, verify_registry_and_files};
use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD, list_files};

const ROUNDS: usize = 12;
const SET_A: usize = 30;

/// Waits for a job; `None` if the server died first.
pub(crate) async fn wait_job(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    accepted: reqwest::Response,
) -> Option<Value> {
    let body: Value = accepted.json().await.ok()?;
    let id = body["job"]["id"].as_i64()?;
    loop {
        let job: Value = http
            .get(format!("{base}/api/super-admin/jobs/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        if job["status"] == "done" || job["status"] == "failed" {
            return Some(job);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Product names of shop 1, read from its file.
fn names_in(path: &Path) -> BTreeSet<String> {
    let conn = ro(path);
    let mut stmt = conn.prepare("SELECT name FROM products").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn set(prefix: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Every published backup in `folder` matches its manifest and is a whole database; nothing half-written.
fn verify_backups(folder: &Path) -> usize {
    let mut published = 0;
    for name in list_files(folder) {
        assert!(!name.starts_with(".tmp-"), "{name} survived a restart in {}", folder.display());
        let Some(stem) = name.strip_suffix(".db") else { continue };
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(folder.join(format!("{stem}.json"))).expect("a manifest")).unwrap();
        let path = folder.join(&name);
        let (sha, size) = vergeflow::backups::store::sha256_file(&path).unwrap();
        assert_eq!(
            (manifest["sha256"].as_str().unwrap(), manifest["size_bytes"].as_u64().unwrap()),
            (sha.as_str(), size),
            "{name}"
        );
        let check: String = ro(&path).query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "{name}");
        published += 1;
    }
    published
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_backups_restores_and_imports_leave_whole_files() {
    let (_tmp, data) = data_dir();
    let env = [("VERGEFLOW_BACKUP_KEEP", "100000")];
    let (a, ab) = (set("A", SET_A), set("A", SET_A).union(&set("B", SET_A)).cloned().collect::<BTreeSet<_>>());

    // Shop 1 with data set A, a backup of it; then set A+B, a backup of that, and its export.
    let server = Server::start_with(&data, &env).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    server.create_shop(&token, "kb").await;
    let admin = server.token("kb@crash.test", "crash-password").await;
    let add = |prefix: &'static str, admin: String| {
        let (http, base) = (server.http.clone(), server.base.clone());
        async move {
            for i in 0..SET_A {
                let res = http
                    .post(format!("{base}/api/admin/products"))
                    .bearer_auth(&admin)
                    .json(&json!({"name": format!("{prefix}-{i}"), "price_cents": 100, "stock": 5}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
            }
        }
    };
    let backup = |token: String| {
        let (http, base) = (server.http.clone(), server.base.clone());
        async move {
            let res = http
                .post(format!("{base}/api/super-admin/clients/1/backups"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let job = wait_job(&http, &base, &token, res).await.unwrap();
            assert_eq!(job["status"], "done", "{job}");
            job["result"]["backup"]["name"].as_str().unwrap().to_string()
        }
    };
    add("A", admin.clone()).await;
    let backup_a = backup(token.clone()).await;
    add("B", admin.clone()).await;
    let backup_ab = backup(token.clone()).await;
    // The export comes from a second shop with the same products, deleted afterwards, so that its
    // admin's e-mail is free and imports succeed (each import is deleted again by the loop below).
    server.create_shop(&token, "src").await;
    let src_admin = server.token("src@crash.test", "crash-password").await;
    add("A", src_admin.clone()).await;
    add("B", src_admin).await;
    let export = server
        .http
        .get(format!("{}/api/super-admin/clients/2/export", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let res = server
        .http
        .delete(format!("{}/api/super-admin/clients/2", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    server.kill();

    let (mut answered, mut caught) = (0u64, 0u64);
    let mut states = BTreeSet::new();
    for round in 0..ROUNDS {
        let server = Server::start_with(&data, &env).await;
        // Jobs queued before the kill run after the restart; let them finish first.
        drain_queue(&data).await;
        // The invariants, after the restart's reconciliation.
        let names = names_in(&data.join("client_1.db"));
        assert!(names == a || names == ab, "round {round}: shop 1 holds a mix: {} products", names.len());
        states.insert(names.len());
        let backups = verify_backups(&data.join("backups/client_1"));
        assert!(backups >= 2, "round {round}: backups were lost");
        assert!(list_files(&data.join("transfers")).is_empty(), "round {round}: an upload was left behind");
        let shops = verify_registry_and_files(&server, &data).await;
        let _ = shops;
        for id in 3..=(3 + 4 * ROUNDS as i64 * 50) {
            let path = data.join(format!("client_{id}.db"));
            if path.exists() {
                assert_eq!(names_in(&path), ab, "round {round}: imported shop {id} is not whole");
            }
        }

        let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
        let (http, base) = (server.http.clone(), server.base.clone());
        let (t1, h1, b1) = (token.clone(), http.clone(), base.clone());
        let backups_op = keep_running(move |_| {
            let (t, h, b) = (t1.clone(), h1.clone(), b1.clone());
            async move {
                let Ok(res) = h.post(format!("{b}/api/super-admin/clients/1/backups")).bearer_auth(&t).send().await
                else {
                    return false;
                };
                wait_job(&h, &b, &t, res).await.is_some()
            }
        });
        let (t2, h2, b2, names) = (token.clone(), http.clone(), base.clone(), [backup_a.clone(), backup_ab.clone()]);
        let restores_op = keep_running(move |i| {
            let (t, h, b, name) = (t2.clone(), h2.clone(), b2.clone(), names[(i as usize + round) % 2].clone());
            async move {
                let Some(res) =
                    post_raw(&h, &b, &t, &format!("/api/super-admin/clients/1/backups/{name}/restore")).await
                else {
                    return false;
                };
                wait_job(&h, &b, &t, res).await.is_some()
            }
        });
        let (t3, h3, b3, bytes) = (token.clone(), http.clone(), base.clone(), export.clone());
        let imports_op = keep_running(move |i| {
            let (t, h, b, bytes) = (t3.clone(), h3.clone(), b3.clone(), bytes.clone());
            async move {
                // Import, then delete the imported shop so that the next import's admin is free.
                let Ok(res) = h
                    .post(format!("{b}/api/super-admin/clients/import?subdomain=imp{round}x{i}"))
                    .bearer_auth(&t)
                    .header("content-type", "application/vnd.sqlite3")
                    .body(bytes)
                    .send()
                    .await
                else {
                    return false;
                };
                if res.status() != StatusCode::CREATED {
                    return res.status() != StatusCode::INTERNAL_SERVER_ERROR;
                }
                let Ok(client) = res.json::<Value>().await else { return false };
                let id = client["id"].as_i64().unwrap();
                h.delete(format!("{b}/api/super-admin/clients/{id}")).bearer_auth(&t).send().await.is_ok()
            }
        });
        tokio::time::sleep(Duration::from_millis(40) + jitter(round, 400)).await;
        let (n, busy) = kill_during(server, vec![backups_op, restores_op, imports_op]).await;
        answered += n;
        caught += busy;
    }
    let server = Server::start_with(&data, &env).await;
    drain_queue(&data).await;
    verify_registry_and_files(&server, &data).await;
    verify_backups(&data.join("backups/client_1"));
    let pre_restores = list_files(&data.join("backups/client_1"))
        .iter()
        .filter(|n| n.starts_with("pre-restore-") && n.ends_with(".db"))
        .count();
    server.kill();
    eprintln!(
        "{ROUNDS} rounds: {answered} operations answered, {caught} kills mid-operation, states seen {states:?}, {pre_restores} restores done"
    );
    assert_eq!(states.len(), 2, "the restores never switched the shop's data: {states:?}");
    assert!(pre_restores >= ROUNDS / 2, "only {pre_restores} restores finished");
    assert!(answered > ROUNDS as u64, "{answered} operations answered over {ROUNDS} rounds");
    assert!(caught > ROUNDS as u64 / 2, "only {caught} kills caught an operation in flight");
}

async fn post_raw(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Option<reqwest::Response> {
    http.post(format!("{base}{path}")).bearer_auth(token).send().await.ok()
}

/// Waits until the restarted server has run every job queued before the kill.
pub(crate) async fn drain_queue(data: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let open: i64 = ro(&data.join("main.db"))
            .query_row("SELECT COUNT(*) FROM jobs WHERE status IN ('pending', 'running')", [], |r| r.get(0))
            .unwrap();
        if open == 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{open} jobs still queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
