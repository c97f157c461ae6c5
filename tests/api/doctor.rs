//! `vergeflow doctor` on a data folder with every kind of damage: a corrupt shop file, a missing
//! one, a stray file, a half-built file, a ledger that disagrees with a file. It names each (table
//! and JSON, exit 1); `--repair` beside the running server restores the damaged shops from their
//! backups through the server, records the version, moves the stray file aside; without a server it
//! finishes what is left; then doctor is clean and every shop is served with its data.

use std::path::Path;
use std::process::{Command, Output};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::crash::{Server, data_dir};
use crate::crash_backups::wait_job;
use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD, list_files};

fn doctor(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vergeflow"))
        .arg("doctor")
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

async fn product_names(server: &Server, sub: &str) -> (StatusCode, Vec<String>) {
    let (status, body) = server.shop_get(sub, "/api/shop/products").await;
    let names = body["data"]
        .as_array()
        .map_or(Vec::new(), |d| d.iter().map(|p| p["name"].as_str().unwrap().to_string()).collect());
    (status, names)
}

/// Adds products named `names` to shop `sub` as its admin, then backs shop `id` up.
async fn fill_and_back_up(server: &Server, token: &str, id: i64, sub: &str, names: &[String]) {
    let admin = server.token(&format!("{sub}@crash.test"), "crash-password").await;
    for name in names {
        let res = server
            .http
            .post(format!("{}/api/admin/products", server.base))
            .bearer_auth(&admin)
            .json(&json!({"name": name, "price_cents": 100, "stock": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = server
        .http
        .post(format!("{}/api/super-admin/clients/{id}/backups", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(wait_job(&server.http, &server.base, token, res).await.unwrap()["status"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_every_problem_and_repair_mends_them_beside_a_running_server() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    for sub in ["fine", "ledger", "broken", "gone"] {
        server.create_shop(&token, sub).await;
    }
    for (id, sub) in [(3, "broken"), (4, "gone")] {
        fill_and_back_up(&server, &token, id, sub, &[format!("{sub} kettle")]).await;
    }
    assert_eq!(text(&doctor(&data, &[])).lines().last().map(|l| l.contains("no problems")), Some(true));
    server.kill();

    // The damage.
    let conn = rusqlite::Connection::open(data.join("client_3.db")).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(conn);
    let mut bytes = std::fs::read(data.join("client_3.db")).unwrap();
    for b in bytes.iter_mut().skip(4096 * 2).take(4096 * 6) {
        *b = 0x5a;
    }
    std::fs::write(data.join("client_3.db"), bytes).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(data.join(format!("client_4.db{suffix}")));
    }
    std::fs::write(data.join("client_99.db"), b"not ours").unwrap();
    std::fs::write(data.join("client_1.db.building"), b"half").unwrap();
    rusqlite::Connection::open(data.join("main.db"))
        .unwrap()
        .execute("UPDATE clients SET schema_version = 1 WHERE id = 2", [])
        .unwrap();

    // Without a server: every problem named, exit 1, the same in JSON.
    let out = doctor(&data, &[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    for expected in [
        "corrupt",
        "client_3.db",
        "missing_file",
        "client_4.db",
        "orphan",
        "client_99.db",
        "building_file",
        "client_1.db.building",
        "ledger_mismatch",
        "5 problem(s)",
    ] {
        assert!(said.contains(expected), "{expected:?} missing from:\n{said}");
    }
    let out = doctor(&data, &["--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks: Vec<(String, Option<i64>)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| (f["check"].as_str().unwrap().to_string(), f["client_id"].as_i64()))
        .collect();
    for expected in [("corrupt", 3), ("missing_file", 4), ("orphan", 99), ("building_file", 1), ("ledger_mismatch", 2)]
    {
        assert!(checks.contains(&(expected.0.to_string(), Some(expected.1))), "{expected:?} not in {checks:?}");
    }
    assert_eq!(report["shops"], 4);

    // Beside the running server, repairs go through it.
    let server = Server::start(&data).await;
    assert_eq!(product_names(&server, "broken").await.0, StatusCode::SERVICE_UNAVAILABLE);
    let out = doctor(&data, &["--repair"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("restored from manual-"), "{said}");
    assert!(list_files(&data.join("orphans")).iter().any(|n| n.ends_with("client_99.db")), "{said}");
    assert!(list_files(&data.join("orphans")).iter().any(|n| n.ends_with("client_3.db")), "the damaged file is kept");
    for (sub, names) in
        [("broken", vec!["broken kettle"]), ("gone", vec!["gone kettle"]), ("fine", vec![]), ("ledger", vec![])]
    {
        assert_eq!(product_names(&server, sub).await, (StatusCode::OK, names.into_iter().map(String::from).collect()));
    }
    server.kill();

    // A half-built file is the business of whoever owns the folder (the server removed that one at
    // start); without a server, repair removes it.
    assert!(!data.join("client_1.db.building").exists());
    std::fs::write(data.join("client_2.db.building"), b"half").unwrap();
    assert_eq!(doctor(&data, &[]).status.code(), Some(1));
    let out = doctor(&data, &["--repair"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!data.join("client_2.db.building").exists());
    let out = doctor(&data, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("4 shops (4 files checked"), "{}", text(&out));
}

const REPAIR_ROUNDS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_repairs_leave_the_shop_damaged_missing_or_restored_and_the_next_repair_finishes() {
    let (_tmp, data) = data_dir();
    let server = Server::start(&data).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    server.create_shop(&token, "mend").await;
    let kept: Vec<String> = (0..200).map(|i| format!("kept {i}")).collect();
    fill_and_back_up(&server, &token, 1, "mend", &kept).await;
    server.kill();
    let live = data.join("client_1.db");
    let whole = |path: &Path| -> Option<usize> {
        let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).ok()?;
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0)).ok()?;
        (check == "ok").then_some(n as usize)
    };

    let mut seen = std::collections::BTreeSet::new();
    for round in 0..REPAIR_ROUNDS {
        // Damage the shop, then kill the server somewhere inside the repair it runs for doctor.
        let conn = rusqlite::Connection::open(&live).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        drop(conn);
        let mut bytes = std::fs::read(&live).unwrap();
        for b in bytes.iter_mut().skip(4096 * 3).take(4096 * 4) {
            *b = 0xa5;
        }
        std::fs::write(&live, bytes).unwrap();
        let server = Server::start(&data).await;
        let repair = Command::new(env!("CARGO_BIN_EXE_vergeflow"))
            .args(["doctor", "--repair", "--data-dir", data.to_str().unwrap()])
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(crate::crash::jitter(round * 7 + 3, 120)).await;
        server.kill();
        // The command notices the server is gone and stops waiting for its job.
        let out = tokio::task::spawn_blocking(move || repair.wait_with_output().unwrap()).await.unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || said.contains("stopped") || said.contains("problem"), "round {round}: {said}");
        // What the kill left at the live path: the damaged file, nothing, or the whole backup.
        let state = if !live.exists() {
            "missing"
        } else {
            match whole(&live) {
                Some(200) => "restored",
                Some(n) => panic!("round {round}: a shop file with {n} products"),
                None => "damaged",
            }
        };
        seen.insert(state);
        // Whatever it was, the next repair (no server) mends it, and the shop is served whole.
        let out = doctor(&data, &["--repair"]);
        assert_eq!(out.status.code(), Some(0), "round {round} ({state}): {}", text(&out));
        let server = Server::start(&data).await;
        let (status, mut names) = product_names(&server, "mend").await;
        assert_eq!(status, StatusCode::OK, "round {round}");
        names.sort();
        let mut first_page = kept.clone();
        first_page.sort();
        assert!(names.iter().all(|n| first_page.contains(n)), "round {round}: foreign data {names:?}");
        assert_eq!(whole(&live), Some(200), "round {round}");
        server.kill();
        let out = doctor(&data, &[]);
        assert_eq!(out.status.code(), Some(0), "round {round}: doctor not clean: {}", text(&out));
    }
    assert!(seen.len() >= 2, "the kills always left the same state: {seen:?}");
}
