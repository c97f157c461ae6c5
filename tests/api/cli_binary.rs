//! The `vergeflow` binary as a newcomer runs it: help, exit codes, errors, admin recovery, a second
//! server, a taken port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD, spawn_app};

fn vergeflow(data_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vergeflow"));
    cmd.args(args).arg("--data-dir").arg(data_dir).env("RUST_LOG", "warn").env_remove("VERGEFLOW_ADMIN_PASSWORD");
    cmd
}

fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut().stdin(Stdio::null()).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_setting_with_its_environment_variable() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_vergeflow")).arg("--help"));
    assert!(out.status.success());
    let help = text(&out.stdout);
    let config = include_str!("../../src/config.rs");
    let vars: Vec<&str> = config
        .split("env = \"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .filter(|v| {
            !["VERGEFLOW_ADMIN_PASSWORD", "VERGEFLOW_METRICS_TOKEN", "VERGEFLOW_SMTP_URL", "VERGEFLOW_SECRET_KEY"]
                .contains(v)
        }) // listed, values hidden
        .collect();
    assert!(vars.len() >= 19, "{vars:?}");
    for var in vars {
        assert!(help.contains(&format!("[env: {var}=")), "{var} missing from --help:\n{help}");
    }
    assert!(help.contains("VERGEFLOW_ADMIN_PASSWORD") && help.contains("VERGEFLOW_METRICS_TOKEN"));
    assert!(help.contains("[env: VERGEFLOW_SECRET_KEY]"), "the key that seals provider secrets is never echoed");
    assert!(help.contains("[env: VERGEFLOW_SMTP_URL]"), "the SMTP URL (it may hold a password) is never echoed");
    let example = include_str!("../../.env.example");
    for var in config.split("env = \"").skip(1).map(|rest| rest.split('"').next().unwrap()) {
        assert!(example.contains(&format!("# {var}=")), "{var} missing from .env.example");
    }
    // A command's own options stand apart from the settings, each described.
    let out = run(Command::new(env!("CARGO_BIN_EXE_vergeflow")).args(["clients", "create", "--help"]));
    let help = text(&out.stdout);
    let (own, settings) = help.split_once("Settings").expect("a settings heading");
    assert!(own.contains("--subdomain <SUBDOMAIN>") && own.contains("not all digits"), "{help}");
    assert!(own.contains("at least 8 characters"), "{help}");
    assert!(!own.contains("--data-dir") && settings.contains("--data-dir"), "{help}");
}

#[test]
fn usage_errors_exit_2_on_one_line_and_failures_exit_1_on_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run(vergeflow(&data, &["clients", "list", "--token-ttl-hours", "abc"]));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains("--token-ttl-hours"), "{err}");

    let out = run(vergeflow(&data, &["clients", "delete", "42"]));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");

    // doctor on a folder that is no data folder says so, and creates nothing.
    let elsewhere = tmp.path().join("nothing-here");
    let out = run(vergeflow(&elsewhere, &["doctor"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a VergeFlow data folder"), "{}", text(&out.stderr));
    assert!(!elsewhere.join("main.db").exists());

    // Booleans take the usual spellings, and only those.
    for yes in ["1", "yes", "true", "on", "0", "no", "false"] {
        let out = run(vergeflow(&data, &["clients", "list"]).env("VERGEFLOW_SECURE_COOKIES", yes));
        assert!(out.status.success(), "{yes}: {}", text(&out.stderr));
    }
    let out = run(vergeflow(&data, &["clients", "list"]).env("VERGEFLOW_SECURE_COOKIES", "maybe"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn clients_create_checks_everything_before_printing_a_password() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let create = |sub: &str, email: &str, domain: &str| {
        run(vergeflow(
            &data,
            &["clients", "create", "--name", "Shop", "--subdomain", sub, "--admin-email", email, "--domain", domain],
        ))
    };
    let out = create("first", "one@example.com", "shop.example.com");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("password for one@example.com: "), "{said}");
    assert!(said.contains("first.localhost and shop.example.com"), "{said}");

    for (sub, email, domain, problem) in [
        ("first", "two@example.com", "two.example.com", "subdomain"),
        ("second", "one@example.com", "two.example.com", "e-mail"),
        ("third", "x@example.com", "shop.example.com", "domain"),
    ] {
        let out = create(sub, email, domain);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            !text(&out.stdout).contains("password"),
            "no password for an admin never created: {}",
            text(&out.stdout)
        );
        assert!(text(&out.stderr).contains(problem), "{problem}: {}", text(&out.stderr));
    }
    let out = run(vergeflow(
        &data,
        &[
            "clients",
            "create",
            "--name",
            "S",
            "--subdomain",
            "fourth",
            "--admin-email",
            "f@example.com",
            "--admin-password",
            "short",
        ],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("at least 8 characters"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_password_is_reset_from_the_command_line_beside_the_running_server() {
    let app = spawn_app().await;
    let old_token = app.super_token.clone();
    let data = app.data_dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(vergeflow(&data, &["admins", "reset-password", SUPER_EMAIL, "--password", "a-brand-new-password"]))
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(app.login(SUPER_EMAIL, SUPER_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    app.login_token(SUPER_EMAIL, "a-brand-new-password").await;
    let res = app.get("/api/auth/me").bearer_auth(&old_token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the old tokens are revoked");

    let data = app.data_dir.clone();
    let (created, unknown) = tokio::task::spawn_blocking(move || {
        (
            run(vergeflow(
                &data,
                &["admins", "create", "--email", "second@example.com", "--password", "second-password"],
            )),
            run(vergeflow(&data, &["admins", "reset-password", "nobody@example.com"])),
        )
    })
    .await
    .unwrap();
    assert!(created.status.success(), "{}", text(&created.stderr));
    let me: serde_json::Value = app
        .get("/api/auth/me")
        .bearer_auth(app.login_token("second@example.com", "second-password").await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "super_admin");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(!text(&unknown.stdout).contains("password for"), "{}", text(&unknown.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_folder_fails_at_once_naming_the_first() {
    let app = spawn_app().await;
    // On another port, and on the very port the first one holds (the README's default for both).
    let same_port = app.address.trim_start_matches("http://").to_string();
    for bind in ["127.0.0.1:0".to_string(), same_port] {
        let data = app.data_dir.clone();
        let started = Instant::now();
        let out =
            tokio::task::spawn_blocking(move || run(vergeflow(&data, &["serve", "--bind", &bind]))).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        let pid = format!("pid {}", std::process::id());
        assert!(err.contains("another VergeFlow server") && err.contains(&pid), "{err}");
        assert!(!err.contains("Server(\""), "no debug formatting: {err}");
    }
}

#[test]
fn a_taken_port_is_reported_before_anything_is_written() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run(vergeflow(&data, &["serve", "--bind", &format!("127.0.0.1:{port}")]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot listen on"), "{}", text(&out.stderr));
    assert!(!data.join("main.db").exists(), "nothing is created");
    assert!(!text(&out.stdout).contains("password"), "no super admin is made");
}

#[test]
fn an_admin_password_setting_that_is_not_used_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let start = |password: &str| {
        let mut child = vergeflow(&data, &["serve", "--bind", "127.0.0.1:0"])
            .env("VERGEFLOW_ADMIN_PASSWORD", password)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        for line in stdout.lines() {
            if line.unwrap().contains("listening on") {
                break;
            }
        }
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        text(&out.stderr)
    };
    let first = start("first-password");
    assert!(!first.contains("not used"), "{first}");
    let second = start("second-password");
    assert!(second.contains("VERGEFLOW_ADMIN_PASSWORD is set but not used"), "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_restores_exports_and_imports_from_the_command_line() {
    let app = spawn_app().await;
    let shop = app.create_shop("clishop").await;
    let add = |name: &'static str| {
        let (app, token) = (&app, shop.admin_token.clone());
        async move {
            app.create(&token, "/api/admin/products", serde_json::json!({"name": name, "price_cents": 100})).await;
        }
    };
    let count =
        || async { app.fetch(&shop.admin_token, "/api/admin/products").await["meta"]["total"].as_i64().unwrap() };
    add("Kettle").await;
    let cli = |args: Vec<String>| {
        let data = app.data_dir.clone();
        tokio::task::spawn_blocking(move || run(vergeflow(&data, &args.iter().map(String::as_str).collect::<Vec<_>>())))
    };
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();

    // Beside the running server: the work is handed to it.
    let out = cli(args("backup --client 1")).await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("shop 1: backup manual-"), "{}", text(&out.stdout));
    let out = cli(args("backups list --client 1 --json")).await.unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = list[0]["name"].as_str().unwrap().to_string();
    add("Teapot").await;
    assert_eq!(count().await, 2);
    let out = cli(vec!["restore".into(), "--client".into(), "1".into(), name.clone()]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("the replaced data is backup pre-restore-"), "{}", text(&out.stdout));
    assert_eq!(count().await, 1);
    let out = cli(args("restore --client 1 ../../main")).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).trim().lines().count(), 1, "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no backup with that name"), "{}", text(&out.stderr));
    let out = cli(args("backup")).await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("main.db: manual-"), "{}", text(&out.stdout));

    let export = app.data_dir.parent().unwrap().join("clishop.vfexport");
    let out = cli(vec!["clients".into(), "export".into(), "1".into(), "--out".into(), export.display().to_string()])
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(export.exists());

    // On another data folder with no server: the import runs in the command itself.
    let other = tempfile::tempdir().unwrap();
    let other_data = other.path().join("data");
    let out = tokio::task::spawn_blocking({
        let (d, e) = (other_data.clone(), export.clone());
        move || run(vergeflow(&d, &["clients", "import", e.to_str().unwrap(), "--subdomain", "moved"]))
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported shop 1 'Shop clishop' at moved.localhost"), "{}", text(&out.stdout));
    let conn = rusqlite::Connection::open(other_data.join("client_1.db")).unwrap();
    let names: i64 = conn.query_row("SELECT COUNT(*) FROM products WHERE name = 'Kettle'", [], |r| r.get(0)).unwrap();
    assert_eq!(names, 1);
}

#[test]
fn jobs_commands_list_retry_and_forget_failed_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert!(run(vergeflow(&data, &["clients", "list"])).status.success());
    {
        let main = rusqlite::Connection::open(data.join("main.db")).unwrap();
        main.execute_batch(
            "INSERT INTO jobs (id, kind, payload, status, attempts) VALUES (7, 'prune', '{\"kind\":\"prune\"}', 'failed', 3);
             INSERT INTO failed_jobs (id, job_id, kind, payload, exception) VALUES (2, 7, 'prune', '{}', 'disk on fire');
             INSERT INTO jobs (id, kind, payload, status) VALUES (8, 'prune', '{}', 'failed');
             INSERT INTO failed_jobs (id, job_id, kind, payload, exception) VALUES (3, 8, 'prune', '{}', 'older');",
        )
        .unwrap();
    }
    let out = run(vergeflow(&data, &["jobs", "failed"]));
    let listed = text(&out.stdout);
    assert!(
        out.status.success() && listed.contains("disk on fire") && listed.contains("2 of 2 failed job(s)"),
        "{listed}"
    );
    let out = run(vergeflow(&data, &["jobs", "retry", "2"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("queued again as job 7; it runs when the server starts"),
        "{}",
        text(&out.stdout)
    );
    let out = run(vergeflow(&data, &["jobs", "list", "--status", "pending", "--json"]));
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((jobs[0]["id"].as_i64(), jobs[0]["attempts"].as_i64()), (Some(7), Some(0)));
    // A job whose payload was forgotten cannot run again; forgetting it removes it from the list.
    let out = run(vergeflow(&data, &["jobs", "retry", "3"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("can no longer run"), "{}", text(&out.stderr));
    assert!(run(vergeflow(&data, &["jobs", "forget", "3"])).status.success());
    let out = run(vergeflow(&data, &["jobs", "forget", "3"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).is_empty() && text(&out.stderr).contains("no failed job 3"));
}

/// `catalog import` and `catalog export` without a server: a file applied with its report (bad rows
/// on stderr with their lines), a dry run that changes nothing, an export that reads back.
#[test]
fn catalog_import_and_export_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run(vergeflow(
        &data,
        &["clients", "create", "--name", "Shop", "--subdomain", "csvcli", "--admin-email", "o@csvcli.test"],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = tmp.path().join("in.csv");
    std::fs::write(
        &file,
        "handle,name,price_cents,stock,sku,option1_name,option1_value,category\n\
         mug,Mug,900,4,MUG-R,colour,red,Kitchen > Mugs\n\
         mug,Mug,950,2,MUG-B,colour,blue,Kitchen > Mugs\n\
         BAD,Bad,1,1,,,,\n",
    )
    .unwrap();
    let dry = run(vergeflow(&data, &["catalog", "import", "--client", "1", "--dry-run", file.to_str().unwrap()]));
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(text(&dry.stdout).starts_with("dry run: would apply 3 rows"), "{}", text(&dry.stdout));
    let out = run(vergeflow(&data, &["catalog", "import", "--client", "1", file.to_str().unwrap()]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("products 1 created") && said.contains("variants 2 created"), "{said}");
    assert!(said.contains("2 categories created") && said.contains("1 rows skipped"), "{said}");
    assert!(text(&out.stderr).contains("line 4: handle:"), "{}", text(&out.stderr));

    let csv = tmp.path().join("out.csv");
    let out = run(vergeflow(&data, &["catalog", "export", "--client", "1", "--out", csv.to_str().unwrap()]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("wrote 2 rows"), "{}", text(&out.stdout));
    let written = std::fs::read_to_string(&csv).unwrap();
    assert!(written.contains("mug,Mug,,Kitchen > Mugs,true,0,,,colour,blue,,,,,MUG-B,950,,2,true,,"), "{written}");
    let out = run(vergeflow(&data, &["catalog", "import", "--client", "9", file.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
}
