//! The multi-tenant benchmark: real server, real files, load from inside this process, every figure
//! a ratio against baselines measured in the same run by the same load generator.
//!
//! `cargo bench --features bench-hooks --bench multitenant -- [--quick] [--concurrency N]
//!  [--duration SECS] [--json PATH]`

mod catalog;
mod floor;
mod jobs;
mod load;
mod scale;
mod setup;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use load::{Conn, Outcome, Rng, Step, percentile_ms, request};

/// The same allocator as the `vergeflow` binary, so the floor servers (this binary) differ from
/// the product only by what they measure.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Options {
    quick: bool,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    json_path: String,
    /// Folder under which the bench's temporary data folders are made.
    data_base: String,
    /// W2's warm shop count, W3's shop count and LRU capacity, W4's shops, W5's shop count.
    warm_shops: usize,
    cold_shops: usize,
    capacity: usize,
    checkout_shops: usize,
    provision_shops: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let quick = args.iter().any(|a| a == "--quick");
    let secs: f64 = value("--duration").and_then(|v| v.parse().ok()).unwrap_or(if quick { 3.0 } else { 10.0 });
    Options {
        quick,
        concurrency: value("--concurrency").and_then(|v| v.parse().ok()).unwrap_or(32),
        duration: Duration::from_secs_f64(secs),
        warmup: Duration::from_secs_f64((secs / 5.0).max(0.5)),
        json_path: value("--json").unwrap_or_else(|| "target/bench-multitenant.json".into()),
        data_base: value("--data-base").unwrap_or_else(|| "target/bench-data".into()),
        warm_shops: if quick { 200 } else { 1000 },
        cold_shops: if quick { 2000 } else { 10_000 },
        capacity: if quick { 200 } else { 1000 },
        checkout_shops: 100,
        provision_shops: if quick { 200 } else { 1000 },
    }
}

/// One row of the report.
struct Row {
    name: String,
    rate: f64,
    unit: &'static str,
    p50: f64,
    p99: f64,
    p999: f64,
    ratio: Option<(f64, &'static str)>,
    target: String,
    met: Option<bool>,
}

fn row(name: &str, o: &Outcome, rate: f64, unit: &'static str) -> Row {
    let l = &o.latencies_us;
    Row {
        name: name.into(),
        rate,
        unit,
        p50: percentile_ms(l, 50.0),
        p99: percentile_ms(l, 99.0),
        p999: percentile_ms(l, 99.9),
        ratio: None,
        target: String::new(),
        met: None,
    }
}

fn check_errors(name: &str, o: &Outcome) {
    if o.errors > 0 {
        eprintln!("  ! {name}: {} failed requests, e.g. {:?}", o.errors, o.error_samples);
    }
}

/// Zipf(s) over `n` ranks by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|c| *c < u).min(self.cdf.len() - 1)
    }
}

fn get(path: &str, host: &str) -> Vec<u8> {
    request("GET", path, host, None, None)
}

fn main() -> anyhow::Result<()> {
    vergeflow::sys::release_freed_memory_at_once();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--floor-server") {
        let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|j| args.get(j + 1)).cloned();
        let shops = value("--shops-dir").map(|dir| floor::ShopFloors {
            dir: dir.into(),
            warm: value("--warm").and_then(|v| v.parse().ok()).unwrap_or(0),
            lru: value("--lru").and_then(|v| v.parse().ok()).unwrap_or(1),
        });
        return floor::serve(std::path::Path::new(&args[i + 1]), 2, shops);
    }
    let opt = options();
    if let Some(n) = args.iter().position(|a| a == "--fleet-scale").and_then(|i| args.get(i + 1)) {
        return scale::run(n.parse().context("--fleet-scale N")?, &opt.data_base);
    }
    if args.iter().any(|a| a == "--jobs-only") {
        return jobs_only(&opt);
    }
    if args.iter().any(|a| a == "--payments-only") {
        return payments_only(&opt);
    }
    if args.iter().any(|a| a == "--catalog-only") {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let v = catalog_depth(&runtime, &opt)?;
        println!("{}", catalog::line(&v));
        std::fs::write(&opt.json_path, serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    if args.iter().any(|a| a == "--reads-only") {
        return reads_only(&opt, value_of(&args, "--mode"));
    }
    if args.iter().any(|a| a == "--limits-only") {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::fs::create_dir_all(&opt.data_base)?;
        let tmp = tempfile::tempdir_in(&opt.data_base)?;
        let data_dir = tmp.path().join("data");
        setup::provision(&data_dir, 1, 1, 1)?;
        let figures = limit_cost_section(&runtime, &opt, &data_dir)?;
        println!("{}", limit_cost_line(&figures));
        return Ok(());
    }
    if !cfg!(feature = "bench-hooks") {
        eprintln!(
            "note: built without --features bench-hooks, so W5's create latency includes the admin's Argon2 hash"
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    // The data folder lives where the checkout is (as `data/` does for a real install), not in /tmp:
    // on this kind of machine /tmp creates files ~20× slower than the project's disk.
    let base = opt.data_base.clone();
    std::fs::create_dir_all(&base)?;
    let tmp = tempfile::tempdir_in(&base)?;
    let data_dir = tmp.path().join("data");
    let floor_dir = tmp.path().join("floor");
    std::fs::create_dir_all(&floor_dir)?;
    let c = opt.concurrency;
    let buyers_per_shop = c.div_ceil(opt.checkout_shops).max(1) * 2;

    eprintln!(
        "VergeFlow multi-tenant benchmark ({}; {c} connections, {:?} per workload)",
        if opt.quick { "quick" } else { "full" },
        opt.duration
    );
    eprintln!("setting up: {} shops, {} buyers", opt.cold_shops, opt.checkout_shops * buyers_per_shop);
    let buyers = setup::provision(&data_dir, opt.cold_shops, opt.checkout_shops, buyers_per_shop)?;
    // W6's big shop: the last one, outside the warm, checkout and flood ranges.
    let big_shop = opt.cold_shops as i64;
    setup::fill_big_shop(&data_dir, big_shop)?;
    floor::prepare(&floor_dir, buyers.len())?;
    let mut rows: Vec<Row> = Vec::new();
    let mut extra = serde_json::Map::new();
    let mut summaries: Vec<String> = Vec::new();

    // The reads, in both shop-file locking modes: floors, W1–W3, W3-large.
    for mode in ["shared", "exclusive"] {
        let pass = many_shop_pass(&runtime, &opt, &floor_dir, &data_dir, mode)?;
        rows.extend(pass.rows);
        summaries.extend(pass.summary);
        extra.insert(format!("reads_{mode}"), pass.json);
    }

    let floor_srv = setup::start_floor(&floor_dir)?;
    // Sign-ups from the load generator's one address (W6b) must not meet the per-address rate.
    // W4 here is checkout alone, as the figures before mail and webhooks existed; J prices them
    // (their backlog would otherwise run under W5–W7).
    let server = setup::start_server_with(
        &data_dir,
        opt.capacity,
        setup::Hashing::Cheap,
        &[
            ("VERGEFLOW_PASSWORD_RATE_PER_IP", "1000000"),
            ("VERGEFLOW_PASSWORD_RATE_PER_SHOP", "1000000"),
            ("VERGEFLOW_BENCH_NO_ORDER_EVENTS", "1"),
        ],
    )?;
    let (fa, sa) = (floor_srv.addr, server.addr);
    let measure = |script: Arc<load::ScriptFn>, addr: SocketAddr, conns: usize| -> Outcome {
        runtime.block_on(load::run(addr, conns, opt.warmup, opt.duration, script))
    };
    let one = |tag: u8, bytes: Vec<u8>| vec![Step { bytes, tag }];
    let warm = opt.warm_shops;
    let hosts: Arc<Vec<String>> = Arc::new((1..=opt.cold_shops).map(|i| format!("shop{i}.localhost")).collect());
    let token = runtime.block_on(login(sa))?;

    // Floor C and W4: add one item, check out.
    let per_conn = buyers.len() / c.max(1);
    eprintln!("floor C: cart + checkout on one pool");
    let o = measure(
        Arc::new(move |conn, it, _| {
            let user = conn * per_conn + (it as usize % per_conn.max(1)) + 1;
            vec![
                Step {
                    bytes: request(
                        "POST",
                        &format!("/floor/cart/{user}"),
                        "floor",
                        None,
                        Some(r#"{"product_id":1,"quantity":1}"#),
                    ),
                    tag: 0,
                },
                Step {
                    bytes: request(
                        "POST",
                        &format!("/floor/checkout/{user}"),
                        "floor",
                        None,
                        Some(&format!(r#"{{"address_id":{user}}}"#)),
                    ),
                    tag: 0,
                },
            ]
        }),
        fa,
        c,
    );
    check_errors("floor C", &o);
    let floor_c = o.per_second(o.scripts as f64);
    rows.push(row("Floor C: cart + checkout, one pool", &o, floor_c, "checkouts/s"));

    eprintln!("W4: checkout over {} shops", opt.checkout_shops);
    let b = Arc::new(buyers);
    let o = measure(w4_script(&b, per_conn), sa, c);
    check_errors("W4", &o);
    let w4 = o.per_second(o.scripts as f64);
    let mut r = row(&format!("W4 checkout, {} shops", opt.checkout_shops), &o, w4, "checkouts/s");
    r.ratio = Some((w4 / floor_c, "Floor C"));
    r.target = "≥ 0.50 × Floor C, ≥ 3000/s".into();
    r.met = Some(w4 >= 0.5 * floor_c && w4 >= 3000.0);
    rows.push(r);

    // W5: create then delete shops through the API, one at a time.
    eprintln!("W5: create and delete {} shops", opt.provision_shops);
    let (create, delete) = runtime.block_on(provision_cycle(sa, &token, opt.provision_shops))?;
    let median = |v: &[u32]| percentile_ms(v, 50.0);
    let create_rate = create.len() as f64 / (create.iter().map(|u| *u as f64).sum::<f64>() / 1e6);
    let delete_rate = delete.len() as f64 / (delete.iter().map(|u| *u as f64).sum::<f64>() / 1e6);

    // W8: W1 on a server hashing with production Argon2, alone and while 64 connections from 64
    // addresses flood another shop with sign-ups as fast as they are answered (ignoring Retry-After).
    eprintln!("W8: W1 alone, then under a sign-up flood on another shop");
    let flood_dir = tmp.path().join("flood");
    setup::provision(&flood_dir, 2, 0, 0)?;
    let flood_srv = setup::start_server_with(
        &flood_dir,
        16,
        setup::Hashing::Production,
        &[("VERGEFLOW_TRUSTED_PROXIES", "127.0.0.1")],
    )?;
    let fs = flood_srv.addr;
    let w1_script =
        || Arc::new(move |_: usize, _: u64, _: &mut Rng| one(0, get("/api/shop/products/1", "shop1.localhost")));
    let alone = measure(w1_script(), fs, c);
    check_errors("W8 alone", &alone);
    let (flooded, flood) = runtime.block_on(async {
        let flood = tokio::spawn(flood_signups(fs, FLOOD_CONNECTIONS, opt.warmup + opt.duration, flood_srv.child.id()));
        let o = load::run(fs, c, opt.warmup, opt.duration, w1_script()).await;
        (o, flood.await.expect("flood task"))
    });
    check_errors("W8 flooded", &flooded);
    let (w8_alone, w8) = (alone.rps(), flooded.rps());
    rows.push(row("W8 base: W1, production hashing", &alone, w8_alone, "req/s"));
    let mut r = row("W8 W1 under a sign-up flood", &flooded, w8, "req/s");
    r.ratio = Some((w8 / w8_alone, "W8 base"));
    r.target = "≥ 0.70 × W8 base, RSS ≤ 250 MB".into();
    r.met = Some(w8 >= 0.7 * w8_alone && flood.peak_rss <= 250_000_000);
    rows.push(r);
    extra.insert(
        "w8".into(),
        json!({"flood_connections": FLOOD_CONNECTIONS, "flood_requests": flood.requests, "flood_created": flood.created,
               "flood_429": flood.throttled, "flood_503": flood.overloaded, "flood_other": flood.other,
               "server_peak_rss_bytes": flood.peak_rss}),
    );
    drop(flood_srv);

    // W6: back up every shop (the warm ones first, by id) while W2 runs; then the big shop alone.
    eprintln!("W6: W2 alone, then W2 while every shop is backed up");
    runtime.block_on(async {
        let mut conn = Conn::open(sa).await.expect("connect");
        for i in 1..=warm {
            conn.send(&get("/api/shop/products/1", &format!("shop{i}.localhost"))).await.expect("warm-up request");
        }
    });
    let h = Arc::clone(&hosts);
    let w2_script: Arc<load::ScriptFn> =
        Arc::new(move |_, _, rng| one(0, get("/api/shop/products/1", &h[rng.below(warm)])));
    let alone = measure(Arc::clone(&w2_script), sa, c);
    check_errors("W6 base", &alone);
    let token = runtime.block_on(login(sa))?;
    let backing_up = {
        let token = token.clone();
        std::thread::spawn(move || -> anyhow::Result<Value> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(run_job(sa, &token, "/api/super-admin/backups?force=true"))
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let during = measure(Arc::clone(&w2_script), sa, c);
    check_errors("W6", &during);
    let all_run = backing_up.join().map_err(|_| anyhow::anyhow!("the backup thread panicked"))??;
    let w6_ratio = during.rps() / alone.rps();
    let mut r = row("W6 W2 while backing up all shops", &during, during.rps(), "req/s");
    r.ratio = Some((w6_ratio, "W2 alone"));
    r.target = "≥ 0.70 × W2 alone".into();
    r.met = Some(w6_ratio >= 0.7);
    rows.push(r);
    let all_copied = all_run["result"]["copied"].as_f64().unwrap_or(0.0);
    let all_secs = all_run["result"]["seconds"].as_f64().unwrap_or(f64::NAN);
    let mut big_backups = Vec::new();
    for _ in 0..15 {
        let job = runtime.block_on(run_job(sa, &token, &format!("/api/super-admin/clients/{big_shop}/backups")))?;
        big_backups.push(job["result"]["elapsed_ms"].as_f64().unwrap_or(f64::NAN));
    }
    let big_size = runtime.block_on(run_job(sa, &token, &format!("/api/super-admin/clients/{big_shop}/backups")))?["result"]
        ["backup"]["size_bytes"]
        .as_u64()
        .unwrap_or(0);
    let big_name = {
        let list: Value =
            runtime.block_on(get_json(sa, &token, &format!("/api/super-admin/clients/{big_shop}/backups")))?;
        list[0]["name"].as_str().unwrap_or_default().to_string()
    };
    let mut windows = Vec::new();
    for _ in 0..7 {
        let job = runtime.block_on(run_job(
            sa,
            &token,
            &format!("/api/super-admin/clients/{big_shop}/backups/{big_name}/restore"),
        ))?;
        windows.push(job["result"]["unavailable_ms"].as_f64().unwrap_or(f64::NAN));
    }
    // A restore gives the shop a new file (and outbox generation), so the next backup run rightly
    // copies it: back it up once more, so that W6b's run finds exactly its 5 % changed.
    runtime.block_on(run_job(sa, &token, &format!("/api/super-admin/clients/{big_shop}/backups")))?;
    big_backups.sort_by(f64::total_cmp);
    windows.sort_by(f64::total_cmp);
    let (backup_med, window_max) = (big_backups[big_backups.len() / 2], windows.last().copied().unwrap_or(f64::NAN));

    // W6b: 5 % of the shops change; a backup run over all of them copies only those.
    let changed: Vec<usize> = (0..opt.cold_shops / 20).map(|i| 1 + i * 20).collect();
    eprintln!("W6b: {} of {} shops change, then one backup run", changed.len(), opt.cold_shops);
    runtime.block_on(async {
        let mut conn = Conn::open(sa).await.expect("connect");
        for i in &changed {
            let body = format!(r#"{{"name":"W6b","email":"w6b@shop{i}.bench","password":"w6b-password"}}"#);
            let req =
                load::request("POST", "/api/shop/auth/register", &format!("shop{i}.localhost"), None, Some(&body));
            let res = conn.send(&req).await.expect("a sign-up");
            assert_eq!(res.status, 201, "W6b sign-up on shop{i}: {}", String::from_utf8_lossy(&res.body));
        }
    });
    let run = runtime.block_on(run_job(sa, &token, "/api/super-admin/backups"))?;
    let (b_secs, b_copied, b_unchanged) = (
        run["result"]["seconds"].as_f64().unwrap_or(f64::NAN),
        run["result"]["copied"].as_u64().unwrap_or(0),
        run["result"]["unchanged"].as_u64().unwrap_or(0),
    );
    extra.insert(
        "w6".into(),
        json!({"w2_alone": alone.rps(), "w2_during": during.rps(), "ratio": w6_ratio,
               "all_shops_copied": all_copied, "all_shops_seconds": all_secs,
               "big_shop_bytes": big_size, "big_backup_median_ms": backup_med, "big_backup_ms": big_backups,
               "restore_503_ms": windows, "w6b_shops": opt.cold_shops, "w6b_changed": changed.len(),
               "w6b_seconds": b_secs, "w6b_copied": b_copied, "w6b_unchanged": b_unchanged}),
    );

    // Metrics: W1 with request metrics recorded and without, alternating servers, twice each.
    drop(server);
    eprintln!("M: W1 with and without request metrics");
    let (mut with_metrics, mut without_metrics) = (Vec::new(), Vec::new());
    for round in 0..4 {
        let off = round % 2 == 1;
        let env: &[(&str, &str)] = if off { &[("VERGEFLOW_BENCH_NO_REQUEST_METRICS", "1")] } else { &[] };
        let srv = setup::start_server_with(&data_dir, opt.capacity, setup::Hashing::Cheap, env)?;
        let o = measure(Arc::new(move |_, _, _| one(0, get("/api/shop/products/1", "shop1.localhost"))), srv.addr, c);
        check_errors("M", &o);
        if off { without_metrics.push(o.rps()) } else { with_metrics.push(o.rps()) }
    }
    let metrics_ratio = mean(&with_metrics) / mean(&without_metrics);
    extra.insert(
        "metrics_cost".into(),
        json!({"w1_with": with_metrics, "w1_without": without_metrics, "ratio": metrics_ratio}),
    );

    // Q: W1 with a per-shop rate limit that never bites (the bucket checked on every request) and without.
    let limit_cost = limit_cost_section(&runtime, &opt, &data_dir)?;
    extra.insert("limit_cost".into(), limit_cost.clone());

    // W7: a trivial new client migration over every shop, alone; then a second one while W2-style
    // reads go on (the warm shops were migrated by their first request, as the policy says).
    // Numbered after the built-in versions (`v3` and `v4` name the first and second extra one).
    let next = vergeflow::db::migrations::latest_client_version() + 1;
    let (v3, v4) = (tmp.path().join("w7-v3"), tmp.path().join("w7-v4"));
    for dir in [&v3, &v4] {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join(format!("V{next}__w7_notes.sql")),
            "CREATE TABLE w7_notes (id INTEGER PRIMARY KEY, note TEXT NOT NULL);",
        )?;
    }
    std::fs::write(v4.join(format!("V{}__w7_notes_at.sql", next + 1)), "ALTER TABLE w7_notes ADD COLUMN at TEXT;")?;
    eprintln!("W7: a trivial migration over {} shops, alone", opt.cold_shops);
    let srv = setup::start_server_with(
        &data_dir,
        opt.capacity,
        setup::Hashing::Cheap,
        &[("VERGEFLOW_EXTRA_CLIENT_MIGRATIONS", v3.to_str().expect("utf-8 path"))],
    )?;
    let token = runtime.block_on(login(srv.addr))?;
    let run = runtime.block_on(run_job(srv.addr, &token, "/api/super-admin/migrations"))?;
    let (w7_secs, w7_migrated) =
        (run["result"]["seconds"].as_f64().unwrap_or(f64::NAN), run["result"]["migrated"].as_u64().unwrap_or(0));
    drop(srv);
    eprintln!("W7: a second migration over the rest while W2 reads the {warm} warm shops");
    let srv = setup::start_server_with(
        &data_dir,
        opt.capacity,
        setup::Hashing::Cheap,
        &[("VERGEFLOW_EXTRA_CLIENT_MIGRATIONS", v4.to_str().expect("utf-8 path"))],
    )?;
    let first_open = Instant::now();
    runtime.block_on(async {
        let mut conn = Conn::open(srv.addr).await.expect("connect");
        for i in 1..=warm {
            let res =
                conn.send(&get("/api/shop/products/1", &format!("shop{i}.localhost"))).await.expect("a first request");
            assert_eq!(res.status, 200, "shop{i}'s first request after the upgrade");
        }
    });
    let first_open_ms = first_open.elapsed().as_secs_f64() * 1000.0 / warm as f64;
    let window = Duration::from_secs_f64(opt.duration.as_secs_f64().min(5.0));
    let short = |addr: SocketAddr| {
        let h = Arc::clone(&hosts);
        runtime.block_on(load::run(
            addr,
            c,
            Duration::from_millis(200),
            window,
            Arc::new(move |_, _, rng| one(0, get("/api/shop/products/1", &h[rng.below(warm)]))),
        ))
    };
    let alone = short(srv.addr);
    check_errors("W7 base", &alone);
    let token = runtime.block_on(login(srv.addr))?;
    let addr = srv.addr;
    let migrating = std::thread::spawn(move || -> anyhow::Result<Value> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(run_job(addr, &token, "/api/super-admin/migrations"))
    });
    std::thread::sleep(Duration::from_millis(100));
    let during = short(srv.addr);
    check_errors("W7", &during);
    let run = migrating.join().map_err(|_| anyhow::anyhow!("the migration thread panicked"))??;
    let (w7b_secs, w7b_migrated) =
        (run["result"]["seconds"].as_f64().unwrap_or(f64::NAN), run["result"]["migrated"].as_u64().unwrap_or(0));
    let w7_ratio = during.rps() / alone.rps();
    let covered = w7b_secs >= window.as_secs_f64() + 0.3;
    let mut r = row("W7 W2 during a fleet migration", &during, during.rps(), "req/s");
    r.ratio = Some((w7_ratio, "W2 alone"));
    r.target = "≥ 0.70 × W2 alone".into();
    r.met = Some(w7_ratio >= 0.7);
    rows.push(r);
    extra.insert(
        "w7".into(),
        json!({"shops": opt.cold_shops, "alone_seconds": w7_secs, "alone_migrated": w7_migrated,
               "during_seconds": w7b_secs, "during_migrated": w7b_migrated, "w2_alone": alone.rps(),
               "w2_during": during.rps(), "ratio": w7_ratio, "run_covered_the_window": covered,
               "first_request_with_migration_ms": first_open_ms}),
    );
    drop(srv);

    // J: the job queue and what checkouts cause (see `jobs_section`).
    let v4_dir = v4.to_str().expect("utf-8 path").to_string();
    let (j_rows, j_summary, j_figures) =
        jobs_section(&runtime, &opt, &data_dir, &b, per_conn, &[("VERGEFLOW_EXTRA_CLIENT_MIGRATIONS", &v4_dir)])?;
    rows.extend(j_rows);
    summaries.push(j_summary);
    extra.insert("jobs".into(), j_figures);

    // P: what payments add to a checkout (see `payments_section`).
    let p =
        payments_section(&runtime, &opt, &data_dir, &b, per_conn, &[("VERGEFLOW_EXTRA_CLIENT_MIGRATIONS", &v4_dir)])?;
    summaries.push(payments_line(&p));
    extra.insert("payments".into(), p);

    // V: catalog depth (see `catalog::section`).
    let v = catalog_depth(&runtime, &opt)?;
    summaries.push(catalog::line(&v));
    extra.insert("catalog".into(), v);

    // Report.
    println!();
    println!(
        "{:<36} {:>12} {:<11} {:>8} {:>8} {:>9} {:>16}  {:<28} met",
        "workload", "rate", "", "p50 ms", "p99 ms", "p99.9 ms", "ratio", "target"
    );
    for r in &rows {
        let ratio = r.ratio.map(|(x, of)| format!("{x:.2} × {of}")).unwrap_or_default();
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!(
            "{:<36} {:>12.0} {:<11} {:>8.2} {:>8.2} {:>9.2} {:>16}  {:<28} {}",
            r.name, r.rate, r.unit, r.p50, r.p99, r.p999, ratio, r.target, met
        );
    }
    for line in &summaries {
        println!("{line}");
    }
    let (create_med, delete_med) = (median(&create), median(&delete));
    println!(
        "W5 provisioning: create {create_rate:.0} shops/s, median {create_med:.2} ms (target ≤ 2 ms: {}); delete {delete_rate:.0} shops/s, median {delete_med:.2} ms (target ≤ 1 ms: {})",
        yes(create_med <= 2.0),
        yes(delete_med <= 1.0)
    );
    let w8x = &extra["w8"];
    println!(
        "W8 flood: {} sign-ups sent by {FLOOD_CONNECTIONS} connections: {} created, {} × 429, {} × 503, {} other; server peak RSS {:.0} MB (≤ 250: {})",
        w8x["flood_requests"],
        w8x["flood_created"],
        w8x["flood_429"],
        w8x["flood_503"],
        w8x["flood_other"],
        w8x["server_peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1e6,
        yes(w8x["server_peak_rss_bytes"].as_u64().unwrap_or(u64::MAX) <= 250_000_000)
    );
    println!(
        "W6 backups: every shop copied ({all_copied:.0} in {all_secs:.1} s) while W2 ran at {w6_ratio:.2} × W2 alone (≥ 0.70: {}); big shop ({:.1} MB, 1,000 products, 1,000 orders): median backup {backup_med:.1} ms (≤ 20: {}), restore 503 window max {window_max:.0} ms (≤ 100: {})",
        yes(w6_ratio >= 0.7),
        big_size as f64 / 1e6,
        yes(backup_med <= 20.0),
        yes(window_max <= 100.0)
    );
    println!(
        "W6b scheduled-style run: {} shops, {} changed: {b_copied} copied, {b_unchanged} unchanged in {b_secs:.1} s (≤ 10 s: {}; only the changed copied: {})",
        opt.cold_shops,
        changed.len(),
        yes(b_secs <= 10.0),
        yes(b_copied as usize == changed.len())
    );
    println!(
        "M request metrics: W1 {:.0} req/s with, {:.0} without: {metrics_ratio:.3} (cost ≤ 3 %: {})",
        mean(&with_metrics),
        mean(&without_metrics),
        yes(metrics_ratio >= 0.97)
    );
    println!("{}", limit_cost_line(&limit_cost));
    println!(
        "W7 fleet migration: {w7_migrated} shops in {w7_secs:.1} s alone ({:.1} s per 10,000; ≤ 30 s: {}); \
         then {w7b_migrated} in {w7b_secs:.1} s while W2 ran at {w7_ratio:.2} × alone (≥ 0.70: {}; the run covered the \
         whole window: {}); a shop's first request including its migration: {first_open_ms:.1} ms",
        w7_secs * 10_000.0 / w7_migrated.max(1) as f64,
        yes(w7_secs * 10_000.0 / w7_migrated.max(1) as f64 <= 30.0),
        yes(w7_ratio >= 0.7),
        yes(covered)
    );
    println!("total bench time {:.0} s", started.elapsed().as_secs_f64());

    let results = json!({
        "mode": if opt.quick { "quick" } else { "full" },
        "concurrency": c,
        "duration_secs": opt.duration.as_secs_f64(),
        "workloads": rows.iter().map(|r| json!({
            "name": r.name, "rate": r.rate, "unit": r.unit, "p50_ms": r.p50, "p99_ms": r.p99, "p999_ms": r.p999,
            "ratio": r.ratio.map(|(x, _)| x), "ratio_of": r.ratio.map(|(_, of)| of), "target": r.target, "met": r.met,
        })).collect::<Vec<_>>(),
        "reads_shared": extra["reads_shared"],
        "reads_exclusive": extra["reads_exclusive"],
        "w8": extra["w8"],
        "w6": extra["w6"],
        "w7": extra["w7"],
        "metrics_cost": extra["metrics_cost"],
        "limit_cost": extra["limit_cost"],
        "jobs": extra["jobs"],
        "w5": {"shops": opt.provision_shops, "create_per_s": create_rate, "create_median_ms": create_med,
               "delete_per_s": delete_rate, "delete_median_ms": delete_med, "cheap_hash": cfg!(feature = "bench-hooks")},
    });
    if let Some(parent) = std::path::Path::new(&opt.json_path).parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&opt.json_path, serde_json::to_string_pretty(&results)?)?;
    println!("results written to {}", opt.json_path);
    drop(floor_srv);
    Ok(())
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

/// A client-side model of the server's LRU: `touch` says whether the shop was already in it.
struct LruModel(lru::LruCache<usize, ()>);

impl LruModel {
    fn new(capacity: usize) -> Self {
        LruModel(lru::LruCache::new(std::num::NonZeroUsize::new(capacity.max(1)).expect("non-zero")))
    }
    fn touch(&mut self, shop: usize) -> bool {
        self.0.put(shop, ()).is_some()
    }
}

async fn login(addr: SocketAddr) -> anyhow::Result<String> {
    let mut conn = Conn::open(addr).await?;
    let body = json!({"email": setup::SUPER_EMAIL, "password": setup::SUPER_PASSWORD}).to_string();
    let res = conn.send(&request("POST", "/api/auth/login", "localhost", None, Some(&body))).await?;
    anyhow::ensure!(res.status == 200, "login failed: {}", String::from_utf8_lossy(&res.body));
    let v: Value = serde_json::from_slice(&res.body)?;
    Ok(v["token"].as_str().unwrap_or_default().to_string())
}

async fn stats(addr: SocketAddr, token: &str) -> anyhow::Result<Value> {
    let mut conn = Conn::open(addr).await?;
    let res = conn.send(&request("GET", "/api/super-admin/stats", "localhost", Some(token), None)).await?;
    Ok(serde_json::from_slice(&res.body)?)
}

/// Creates `n` shops through the API, then deletes them; returns each call's latency (µs).
async fn provision_cycle(addr: SocketAddr, token: &str, n: usize) -> anyhow::Result<(Vec<u32>, Vec<u32>)> {
    let mut conn = Conn::open(addr).await?;
    let (mut create, mut delete, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let body = json!({"name": format!("W5 shop {i}"), "subdomain": format!("w5-{i}"),
                          "admin_email": format!("admin@w5-{i}.bench"), "admin_password": "w5-admin-password"})
        .to_string();
        let t = Instant::now();
        let res =
            conn.send(&request("POST", "/api/super-admin/clients", "localhost", Some(token), Some(&body))).await?;
        create.push(t.elapsed().as_micros() as u32);
        anyhow::ensure!(res.status == 201, "create failed: {}", String::from_utf8_lossy(&res.body));
        let v: Value = serde_json::from_slice(&res.body)?;
        ids.push(v["id"].as_i64().unwrap_or_default());
    }
    for id in ids {
        let t = Instant::now();
        let res = conn
            .send(&request("DELETE", &format!("/api/super-admin/clients/{id}"), "localhost", Some(token), None))
            .await?;
        delete.push(t.elapsed().as_micros() as u32);
        anyhow::ensure!(res.status == 204, "delete failed: {}", String::from_utf8_lossy(&res.body));
    }
    create.sort_unstable();
    delete.sort_unstable();
    Ok((create, delete))
}

/// Connections in W8's sign-up flood (what the outside probe used).
const FLOOD_CONNECTIONS: usize = 64;

/// What W8's flood was answered.
#[derive(Default)]
struct FloodOutcome {
    requests: u64,
    created: u64,
    throttled: u64,
    overloaded: u64,
    other: u64,
    peak_rss: u64,
}

/// `connections` loops of sign-ups on `shop2` for `length`, each new address unique; meanwhile
/// the server's RSS is sampled every 50 ms.
async fn flood_signups(addr: SocketAddr, connections: usize, length: Duration, pid: u32) -> FloodOutcome {
    let deadline = Instant::now() + length;
    let mut tasks = Vec::new();
    for c in 0..connections {
        tasks.push(tokio::spawn(async move {
            let mut out = FloodOutcome::default();
            let Ok(mut conn) = Conn::open(addr).await else { return out };
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let body =
                    json!({"name": "Flood", "email": format!("f{c}-{n}@flood.bench"), "password": "flood-password"})
                        .to_string();
                // Each connection speaks for its own address (the server trusts loopback as a proxy
                // here), so the per-address limit alone cannot stop the flood: the per-shop limit
                // and the hashing pool's bound must.
                let mut req = request("POST", "/api/shop/auth/register", "shop2.localhost", None, Some(&body));
                let at = req.windows(2).position(|w| w == b"\r\n").expect("a request line") + 2;
                req.splice(at..at, format!("X-Forwarded-For: 10.8.{}.{}\r\n", c / 250, c % 250).into_bytes());
                out.requests += 1;
                match conn.send(&req).await {
                    Ok(res) if res.status == 201 => out.created += 1,
                    Ok(res) if res.status == 429 => out.throttled += 1,
                    Ok(res) if res.status == 503 => out.overloaded += 1,
                    Ok(_) => out.other += 1,
                    Err(_) => {
                        out.other += 1;
                        match Conn::open(addr).await {
                            Ok(c) => conn = c,
                            Err(_) => return out,
                        }
                    }
                }
            }
            out
        }));
    }
    let mut total = FloodOutcome::default();
    while Instant::now() < deadline {
        total.peak_rss = total.peak_rss.max(setup::process_figures(pid).0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for t in tasks {
        let o = t.await.expect("flood task");
        total.requests += o.requests;
        total.created += o.created;
        total.throttled += o.throttled;
        total.overloaded += o.overloaded;
        total.other += o.other;
    }
    total.peak_rss = total.peak_rss.max(setup::process_figures(pid).0);
    total
}

/// POSTs to `path`, which answers 202 with a job, and waits for the job to finish.
async fn run_job(addr: SocketAddr, token: &str, path: &str) -> anyhow::Result<Value> {
    let mut conn = Conn::open(addr).await?;
    let res = conn.send(&load::request("POST", path, "localhost", Some(token), None)).await?;
    anyhow::ensure!(res.status == 202, "{path}: {} {}", res.status, String::from_utf8_lossy(&res.body));
    let accepted: Value = serde_json::from_slice(&res.body)?;
    let id = accepted["job"]["id"].as_i64().unwrap_or_default();
    loop {
        let job: Value = get_json(addr, token, &format!("/api/super-admin/jobs/{id}")).await?;
        match job["status"].as_str() {
            Some("done") => return Ok(job),
            Some("failed") => anyhow::bail!("{path}: job failed: {}", job["result"]),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn get_json(addr: SocketAddr, token: &str, path: &str) -> anyhow::Result<Value> {
    let mut conn = Conn::open(addr).await?;
    let res = conn.send(&load::request("GET", path, "localhost", Some(token), None)).await?;
    anyhow::ensure!(res.status == 200, "{path}: {}", res.status);
    Ok(serde_json::from_slice(&res.body)?)
}

/// What one locking mode's reads gave.
struct Pass {
    rows: Vec<Row>,
    summary: Vec<String>,
    json: Value,
}

/// The many-shop reads in one shop-file locking mode: the floors (A, B, B₁₀₀₀, D, E) from the floor
/// server alone, then W1, W2, W3 from a product server alone, then W3-large from a product server
/// with the largest LRU the open-file limit allows. Processes never overlap, so with exclusive
/// locking no process finds a file locked by another.
fn many_shop_pass(
    runtime: &tokio::runtime::Runtime,
    opt: &Options,
    floor_dir: &std::path::Path,
    data_dir: &std::path::Path,
    mode: &'static str,
) -> anyhow::Result<Pass> {
    let c = opt.concurrency;
    let measure = |script: Arc<load::ScriptFn>, addr: SocketAddr, conns: usize| -> Outcome {
        runtime.block_on(load::run(addr, conns, opt.warmup, opt.duration, script))
    };
    let one = |tag: u8, bytes: Vec<u8>| vec![Step { bytes, tag }];
    let tag = |name: &str| format!("{name} [{mode}]");
    let mut rows = Vec::new();
    let mut summary = Vec::new();
    let (warm, cold) = (opt.warm_shops, opt.cold_shops);
    let zipf = Arc::new(Zipf::new(cold, 1.1));
    let mut perm: Vec<usize> = (0..cold).collect();
    let mut prng = Rng::new(42);
    for i in (1..perm.len()).rev() {
        perm.swap(i, prng.below(i + 1));
    }
    let perm = Arc::new(perm);
    // W3's request sequence: per connection, the same seeds give the same shops (ids from 1).
    let zipf_shop = {
        let (z, p) = (Arc::clone(&zipf), Arc::clone(&perm));
        move |rng: &mut Rng| p[z.sample(rng)] + 1
    };

    // Floors, from the floor server alone.
    eprintln!("[{mode}] floors A, B, B{warm}, D (LRU {}), E", opt.capacity);
    let floors = setup::start_shop_floors(floor_dir, data_dir, warm, opt.capacity, mode)?;
    let fa = floors.addr;
    let o = measure(Arc::new(move |_, _, _| one(0, get("/floor/json", "floor"))), fa, c);
    check_errors("floor A", &o);
    rows.push(row(&tag("Floor A: fixed JSON"), &o, o.rps(), "req/s"));
    let o = measure(Arc::new(move |_, _, _| one(0, get("/floor/products/1", "floor"))), fa, c);
    check_errors("floor B", &o);
    let floor_b = o.rps();
    rows.push(row(&tag("Floor B: product query, one pool"), &o, floor_b, "req/s"));
    let o = measure(
        Arc::new(move |_, _, rng| one(0, get(&format!("/floor/shops/{}/products/1", 1 + rng.below(warm)), "floor"))),
        fa,
        c,
    );
    check_errors("floor B1000", &o);
    let floor_bn = o.rps();
    rows.push(row(&tag(&format!("Floor B{warm}: own pool per shop")), &o, floor_bn, "req/s"));
    let zs = zipf_shop.clone();
    let o =
        measure(Arc::new(move |_, _, rng| one(0, get(&format!("/floor/lru/{}/products/1", zs(rng)), "floor"))), fa, c);
    check_errors("floor D", &o);
    let (floor_d, floor_d_p99) = (o.rps(), row("", &o, 0.0, "").p99);
    rows.push(row(&tag("Floor D: plain LRU of pools, W3's requests"), &o, floor_d, "req/s"));
    let zs = zipf_shop.clone();
    let o =
        measure(Arc::new(move |_, _, rng| one(0, get(&format!("/floor/open/{}/products/1", zs(rng)), "floor"))), fa, c);
    check_errors("floor E", &o);
    let floor_e = o.rps();
    rows.push(row(&tag("Floor E: open, query, close per request"), &o, floor_e, "req/s"));
    drop(floors);

    // W1–W3 from a product server alone.
    let env = [("VERGEFLOW_SHOP_LOCKING", mode)];
    let server = setup::start_server_with(data_dir, opt.capacity, setup::Hashing::Cheap, &env)?;
    let sa = server.addr;
    eprintln!("[{mode}] W1, W2 ({warm} shops), W3 ({cold} shops, LRU {})", opt.capacity);
    let o = measure(Arc::new(move |_, _, _| one(0, get("/api/shop/products/1", "shop1.localhost"))), sa, c);
    check_errors("W1", &o);
    let w1 = o.rps();
    let mut r = row(&tag("W1 hot read, 1 shop"), &o, w1, "req/s");
    r.ratio = Some((w1 / floor_b, "Floor B"));
    r.target = "≥ 0.80 × Floor B".into();
    r.met = Some(w1 >= 0.8 * floor_b);
    rows.push(r);
    let hosts: Arc<Vec<String>> = Arc::new((1..=cold).map(|i| format!("shop{i}.localhost")).collect());
    runtime.block_on(async {
        let mut conn = Conn::open(sa).await.expect("connect");
        for host in hosts.iter().take(warm) {
            conn.send(&get("/api/shop/products/1", host)).await.expect("warm-up request");
        }
    });
    let h = Arc::clone(&hosts);
    let o = measure(Arc::new(move |_, _, rng| one(0, get("/api/shop/products/1", &h[rng.below(warm)]))), sa, c);
    check_errors("W2", &o);
    let w2 = o.rps();
    let mut r = row(&tag(&format!("W2 warm spread, {warm} shops")), &o, w2, "req/s");
    r.ratio = Some((w2 / floor_bn, "Floor Bn"));
    r.target = format!("≥ 0.90 × Floor B{warm}");
    r.met = Some(w2 >= 0.9 * floor_bn);
    rows.push(r);
    // Every shop opened once since provisioning, as on a server that has been running (the first
    // open ever also creates the shop's -wal and -shm, which later opens reuse).
    let first_open = |sa: SocketAddr| {
        runtime.block_on(async {
            let mut conn = Conn::open(sa).await.expect("connect");
            for host in hosts.iter() {
                conn.send(&get("/api/shop/products/1", host)).await.expect("first-open request");
            }
        })
    };
    first_open(sa);
    let token = runtime.block_on(login(sa))?;
    let before = runtime.block_on(stats(sa, &token))?;
    let model = Arc::new(parking_lot::Mutex::new(LruModel::new(opt.capacity)));
    let w3_script = |model: Arc<parking_lot::Mutex<LruModel>>| -> Arc<load::ScriptFn> {
        let (h, zs) = (Arc::clone(&hosts), zipf_shop.clone());
        Arc::new(move |_, _, rng| {
            let shop = zs(rng) - 1;
            let tag = if model.lock().touch(shop) { 0 } else { 1 };
            one(tag, get("/api/shop/products/1", &h[shop]))
        })
    };
    let o = measure(w3_script(Arc::clone(&model)), sa, c);
    check_errors("W3", &o);
    let after = runtime.block_on(stats(sa, &token))?;
    let (rss, threads, fds) = setup::process_figures(server.child.id());
    let w3 = o.rps();
    let hit_rate = |after: &Value, before: &Value| {
        let hits = after["hits"].as_f64().unwrap_or(0.0) - before["hits"].as_f64().unwrap_or(0.0);
        let misses = after["misses"].as_f64().unwrap_or(0.0) - before["misses"].as_f64().unwrap_or(0.0);
        (hits / (hits + misses).max(1.0), misses)
    };
    let (w3_hits, w3_misses) = hit_rate(&after, &before);
    let mut miss_lat: Vec<u32> = o.tagged.iter().filter(|(t, _)| *t == 1).map(|(_, us)| *us).collect();
    miss_lat.sort_unstable();
    let mut r = row(&tag(&format!("W3 cold zipf, {cold} shops")), &o, w3, "req/s");
    r.ratio = Some((w3 / floor_d, "Floor D"));
    r.target = "≥ 0.90 × Floor D, p99 ≤ 10 ms".into();
    r.met = Some(w3 >= 0.9 * floor_d && r.p99 <= 10.0);
    let w3_p99 = r.p99;
    let w3_connect = after["mean_connect_micros"].clone();
    rows.push(r);
    drop(server);
    summary.push(format!(
        "[{mode}] W3: {:.2} × W1 (for the record), {:.1} × Floor E (≥ 4: {}); Floor D p99 {floor_d_p99:.2} ms; server hit rate {:.1}%, {w3_misses} pool opens, mean connection open {} µs; modelled-miss p50 {:.2} ms, p99 {:.2} ms; W2 {:.2} × W1",
        w3 / w1,
        w3 / floor_e,
        yes(w3 >= 4.0 * floor_e),
        w3_hits * 100.0,
        after["mean_connect_micros"],
        percentile_ms(&miss_lat, 50.0),
        percentile_ms(&miss_lat, 99.0),
        w2 / w1,
    ));
    summary.push(format!(
        "[{mode}] server after W3: RSS {:.0} MB (≤ 200: {}), threads {threads} (≤ 32: {}), open files {fds} (≤ 4000: {})",
        rss as f64 / 1e6,
        yes(rss <= 200_000_000),
        yes(threads <= 32),
        yes(fds <= 4000)
    ));

    // W3-large: the LRU as large as the open-file limit allows (descriptors per connection by mode,
    // 512 kept back), and as RSS under 1 GiB allows at what the W3 server's RSS came to per open
    // connection (all of it counted against the shops, so the estimate errs high; a shop's parsed
    // schema alone is ~145 KiB since the catalogue's tables).
    let fd_limit = vergeflow::sys::raise_fd_limit();
    let per_conn = if mode == "exclusive" { 2 } else { 3 };
    let open_after = after["open_connections"].as_u64().unwrap_or(1).max(1);
    let per_shop = rss / open_after;
    let by_memory = ((950u64 << 20) / per_shop.max(1)) as usize;
    let large = ((fd_limit.saturating_sub(512) / per_conn) as usize).min(by_memory).min(cold);
    let env = [("VERGEFLOW_SHOP_LOCKING", mode), ("VERGEFLOW_SHOP_CACHE_MB", "16384")];
    let server = setup::start_server_with(data_dir, large, setup::Hashing::Cheap, &env)?;
    let sa = server.addr;
    eprintln!("[{mode}] W3-large: LRU {large}");
    first_open(sa);
    let token = runtime.block_on(login(sa))?;
    let before = runtime.block_on(stats(sa, &token))?;
    let o = measure(w3_script(Arc::new(parking_lot::Mutex::new(LruModel::new(large)))), sa, c);
    check_errors("W3-large", &o);
    let after = runtime.block_on(stats(sa, &token))?;
    let (l_rss, _, l_fds) = setup::process_figures(server.child.id());
    let (l_hits, _) = hit_rate(&after, &before);
    let w3l = o.rps();
    let mut r = row(&tag(&format!("W3-large, LRU {large}")), &o, w3l, "req/s");
    r.ratio = Some((w3l / w1, "W1"));
    r.target = "≥ 0.60 × W1, RSS < 1 GiB".into();
    r.met = Some(w3l >= 0.6 * w1 && l_rss < 1 << 30);
    rows.push(r);
    drop(server);
    summary.push(format!(
        "[{mode}] W3-large: LRU {large} (open files allow {}, RSS under 1 GiB at {:.0} KiB per open shop {by_memory}), hit rate {:.1}%, RSS {:.0} MB, open files {l_fds}",
        fd_limit.saturating_sub(512) / per_conn,
        per_shop as f64 / 1024.0,
        l_hits * 100.0,
        l_rss as f64 / 1e6
    ));
    let json = json!({"floor_b": floor_b, "floor_bn": floor_bn, "floor_d": floor_d, "floor_e": floor_e,
        "w1": w1, "w2": w2, "w3": w3, "w3_p99_ms": w3_p99, "w3_hit_rate": w3_hits, "w3_pool_opens": w3_misses,
        "mean_connect_micros": w3_connect, "server_rss_bytes": rss, "server_threads": threads,
        "server_open_files": fds, "w3_large": w3l, "w3_large_capacity": large, "w3_large_hit_rate": l_hits,
        "w3_large_rss_bytes": l_rss, "w3_large_open_files": l_fds});
    Ok(Pass { rows, summary, json })
}
/// The mean of a run's rates (0 for none).
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The mean of the rates a section's figures keep under `key`.
fn mean_at(figures: &Value, key: &str) -> f64 {
    let v: Vec<f64> = figures[key].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    mean(&v)
}

/// W4's script: each connection's buyers add one item and check out.
fn w4_script(b: &Arc<Vec<setup::Buyer>>, per_conn: usize) -> Arc<load::ScriptFn> {
    w4_script_with(b, per_conn, "")
}

/// W4's script with more fields in the checkout body (`extra` starts with a comma).
fn w4_script_with(b: &Arc<Vec<setup::Buyer>>, per_conn: usize, extra: &'static str) -> Arc<load::ScriptFn> {
    let bb = Arc::clone(b);
    Arc::new(move |conn, it, _| {
        let buyer = &bb[(conn * per_conn + (it as usize % per_conn.max(1))) % bb.len()];
        vec![
            Step {
                bytes: request(
                    "POST",
                    "/api/shop/cart/items",
                    "localhost",
                    Some(&buyer.token),
                    Some(r#"{"product_id":1,"quantity":1}"#),
                ),
                tag: 0,
            },
            Step {
                bytes: request(
                    "POST",
                    "/api/shop/checkout",
                    "localhost",
                    Some(&buyer.token),
                    Some(&format!(r#"{{"address_id":{}{extra}}}"#, buyer.address_id)),
                ),
                tag: 0,
            },
        ]
    })
}

/// J: the queue alone (in this process, the library's workers); then W4 without and with what a
/// checkout causes; then the delay from a checkout to its webhook. `extra_env` goes to every
/// server started (the extra migrations W7 left the shops at).
#[allow(clippy::too_many_arguments)]
fn jobs_section(
    runtime: &tokio::runtime::Runtime,
    opt: &Options,
    data_dir: &std::path::Path,
    b: &Arc<Vec<setup::Buyer>>,
    per_conn: usize,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<(Vec<Row>, String, Value)> {
    let c = opt.concurrency;
    let measure = |script: Arc<load::ScriptFn>, addr: SocketAddr, conns: usize| -> Outcome {
        runtime.block_on(load::run(addr, conns, opt.warmup, opt.duration, script))
    };
    let w4_script = |b: &Arc<Vec<setup::Buyer>>| w4_script(b, per_conn);
    // J: the queue alone (in this process, the library's workers); then W4 without and with what a
    // checkout causes (mail to the customer and the admin, written as .eml files; a webhook per
    // order to a receiver in this process), back to back on the same data; then how long an
    // order's webhook takes to arrive after its checkout answered, once the queue has drained.
    let queue_jobs = if opt.quick { 5_000 } else { 20_000 };
    eprintln!("J: {queue_jobs} trivial jobs through the queue");
    let q = jobs::queue_throughput(std::path::Path::new(&opt.data_base), queue_jobs)?;
    let receiver = jobs::Receiver::start()?;
    jobs::register_webhooks(data_dir, opt.checkout_shops, &receiver.url())?;
    let j_env = |events: bool| {
        let mut env: Vec<(&str, &str)> = extra_env.to_vec();
        env.extend([
            ("VERGEFLOW_PASSWORD_RATE_PER_IP", "1000000"),
            ("VERGEFLOW_PASSWORD_RATE_PER_SHOP", "1000000"),
            ("VERGEFLOW_WEBHOOK_ALLOW_PRIVATE", "true"),
        ]);
        if !events {
            env.push(("VERGEFLOW_BENCH_NO_ORDER_EVENTS", "1"));
        }
        env
    };
    eprintln!("J: W4 without order mail and webhooks, then with them");
    // Off, on, off, on, each on a fresh server, the queue drained after each "on": the ratio of the
    // means is not biased by the order of the runs (the data grows as they go).
    let mut rates = (Vec::new(), Vec::new());
    let mut last = None;
    for round in 0..2 {
        let off_srv = setup::start_server_with(data_dir, opt.capacity, setup::Hashing::Cheap, &j_env(false))?;
        let w4_off = measure(w4_script(b), off_srv.addr, c);
        check_errors("W4 without events", &w4_off);
        drop(off_srv);
        let on_srv = setup::start_server_with(data_dir, opt.capacity, setup::Hashing::Cheap, &j_env(true))?;
        let w4_on = measure(w4_script(b), on_srv.addr, c);
        check_errors("W4 with events", &w4_on);
        rates.0.push(w4_off.per_second(w4_off.scripts as f64));
        rates.1.push(w4_on.per_second(w4_on.scripts as f64));
        if round == 0 {
            jobs::drain(data_dir, Duration::from_secs(900))?;
        } else {
            last = Some((w4_off, w4_on, on_srv));
        }
    }
    let (w4_off, w4_on, on_srv) = last.expect("two rounds");
    let (w4_off_rate, w4_on_rate) = (mean(&rates.0), mean(&rates.1));
    eprintln!(
        "  W4 {w4_off_rate:.0}/s without, {w4_on_rate:.0}/s with ({} and {} requests)",
        w4_off.requests(),
        w4_on.requests()
    );
    let backlog = receiver.received.load(std::sync::atomic::Ordering::Relaxed);
    let drain_secs = jobs::drain(data_dir, Duration::from_secs(900))?;
    let delivered_during = receiver.received.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("J: webhook delay after checkout, one checkout at a time");
    let samples = if opt.quick { 100 } else { 300 };
    let delays = runtime.block_on(async {
        let mut conn = Conn::open(on_srv.addr).await.expect("connect");
        let mut delays = Vec::new();
        for i in 0..samples {
            let buyer = &b[i % b.len()];
            receiver.forget();
            let sent = Instant::now();
            let cart = request(
                "POST",
                "/api/shop/cart/items",
                "localhost",
                Some(&buyer.token),
                Some(r#"{"product_id":1,"quantity":1}"#),
            );
            if conn.send(&cart).await.is_err() {
                // The server closed an idle keep-alive connection: open another.
                conn = Conn::open(on_srv.addr).await.expect("connect");
                conn.send(&cart).await.expect("cart");
            }
            let body = format!(r#"{{"address_id":{}}}"#, buyer.address_id);
            let res = conn
                .send(&request("POST", "/api/shop/checkout", "localhost", Some(&buyer.token), Some(&body)))
                .await
                .expect("checkout");
            let answered = Instant::now();
            let order: Value = serde_json::from_slice(&res.body).unwrap_or_default();
            let Some(id) = order["id"].as_i64() else { continue };
            // Order ids are per shop: the receiver keys by id, so wait for this one before the next.
            let deadline = answered + Duration::from_secs(10);
            loop {
                // It may arrive before the answer was read: that is a delay of 0.
                if let Some(at) = receiver.arrival(id).filter(|at| *at >= sent) {
                    delays.push(at.saturating_duration_since(answered).as_micros() as u32);
                    break;
                }
                if Instant::now() > deadline {
                    delays.push(10_000_000);
                    break;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        delays
    });
    drop(on_srv);
    let mut delays = delays;
    delays.sort_unstable();
    let (hook_p50, hook_p99) = (percentile_ms(&delays, 50.0), percentile_ms(&delays, 99.0));
    let mut r = row("J W4 with order mail + webhooks", &w4_on, w4_on_rate, "checkouts/s");
    r.ratio = Some((w4_on_rate / w4_off_rate, "W4 without"));
    r.target = "≥ 0.80 × W4 without".into();
    r.met = Some(w4_on_rate >= 0.8 * w4_off_rate);
    let rows = vec![row("J W4 without order mail + webhooks", &w4_off, w4_off_rate, "checkouts/s"), r];
    let summary = format!(
        "J queue: {} trivial jobs at {:.0} jobs/s (≥ 2000: {}; a job of that burst waited {:.0} ms at p50); one at a time, 5 ms apart: \
         wait from enqueue to start p50 {:.1} ms (≤ 50: {}), p99 {:.1} ms over {}; \
         webhook after checkout p50 {hook_p50:.1} ms (≤ 1000: {}), p99 {hook_p99:.1} ms over {samples}; W4 with events: \
         {backlog} webhooks arrived during the run, the rest of the queue drained in {drain_secs:.1} s ({delivered_during} by then)",
        q.jobs,
        q.jobs_per_s,
        yes(q.jobs_per_s >= 2000.0),
        q.burst_wait_p50_ms,
        q.wait_p50_ms,
        yes(q.wait_p50_ms <= 50.0),
        q.wait_p99_ms,
        q.paced,
        yes(hook_p50 <= 1000.0),
    );
    let figures = json!({"queue_jobs": q.jobs, "jobs_per_s": q.jobs_per_s, "burst_wait_p50_ms": q.burst_wait_p50_ms,
               "paced_jobs": q.paced, "wait_p50_ms": q.wait_p50_ms, "wait_p99_ms": q.wait_p99_ms,
               "w4_without_events": w4_off_rate, "w4_with_events": w4_on_rate, "ratio": w4_on_rate / w4_off_rate,
               "w4_without_runs": rates.0, "w4_with_runs": rates.1,
               "webhooks_during_run": backlog, "drain_seconds": drain_secs, "webhook_delay_p50_ms": hook_p50,
               "webhook_delay_p99_ms": hook_p99, "webhook_samples": samples});
    Ok((rows, summary, figures))
}

/// P: W4 as it is now (a manual payment provider named at checkout, a shipping method, tax by
/// country, the payment row and the order's first history entry) against W4 on servers started
/// with `VERGEFLOW_BENCH_NO_PAYMENTS=1` (a bench-hooks switch: checkout as it was before payments,
/// same shops, same shipping and tax); without, with, without, with, each on a fresh server.
/// Order mail and webhooks are off in both (J prices them).
fn payments_section(
    runtime: &tokio::runtime::Runtime,
    opt: &Options,
    data_dir: &std::path::Path,
    b: &Arc<Vec<setup::Buyer>>,
    per_conn: usize,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<Value> {
    eprintln!("P: W4 with payments (manual provider, shipping method, tax by country) and without");
    for shop in 1..=opt.checkout_shops {
        let conn = rusqlite::Connection::open(data_dir.join(format!("client_{shop}.db")))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "INSERT OR REPLACE INTO payment_providers (provider, enabled) VALUES ('manual', 1);
             DELETE FROM shipping_methods;
             INSERT INTO shipping_methods (name, kind, price_cents) VALUES ('Standard', 'flat', 495);
             INSERT OR REPLACE INTO tax_rates (country, rate_bp) VALUES ('*', 1900);",
        )?;
    }
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..4 {
        let paying = round % 2 == 1;
        let mut env: Vec<(&str, &str)> = extra_env.to_vec();
        env.extend([
            ("VERGEFLOW_PASSWORD_RATE_PER_IP", "1000000"),
            ("VERGEFLOW_PASSWORD_RATE_PER_SHOP", "1000000"),
            ("VERGEFLOW_BENCH_NO_ORDER_EVENTS", "1"),
        ]);
        if !paying {
            env.push(("VERGEFLOW_BENCH_NO_PAYMENTS", "1"));
        }
        let srv = setup::start_server_with(data_dir, opt.capacity, setup::Hashing::Cheap, &env)?;
        let extra = if paying { r#","payment_method":"manual""# } else { "" };
        let o = runtime.block_on(load::run(
            srv.addr,
            opt.concurrency,
            opt.warmup,
            opt.duration,
            w4_script_with(b, per_conn, extra),
        ));
        check_errors(if paying { "P W4 with payments" } else { "P W4 without payments" }, &o);
        let rate = o.per_second(o.scripts as f64);
        if paying { with.push(rate) } else { without.push(rate) }
    }
    Ok(json!({"w4_with": with, "w4_without": without, "ratio": mean(&with) / mean(&without)}))
}

fn payments_line(p: &Value) -> String {
    let ratio = p["ratio"].as_f64().unwrap_or(f64::NAN);
    format!(
        "P payments: W4 {:.0} checkouts/s with (manual provider, shipping method, tax by country), {:.0} without payments: {ratio:.2} (≥ 0.8: {})",
        mean_at(p, "w4_with"),
        mean_at(p, "w4_without"),
        if ratio >= 0.8 { "yes" } else { "NO" }
    )
}

/// What `--jobs-only` and `--payments-only` start from: the checkout shops and their buyers.
struct CheckoutShops {
    runtime: tokio::runtime::Runtime,
    _tmp: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    buyers: Arc<Vec<setup::Buyer>>,
    per_conn: usize,
}

fn checkout_shops(opt: &Options) -> anyhow::Result<CheckoutShops> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::fs::create_dir_all(&opt.data_base)?;
    let tmp = tempfile::tempdir_in(&opt.data_base)?;
    let data_dir = tmp.path().join("data");
    let c = opt.concurrency;
    let buyers_per_shop = c.div_ceil(opt.checkout_shops).max(1) * 2;
    let buyers = setup::provision(&data_dir, opt.checkout_shops, opt.checkout_shops, buyers_per_shop)?;
    let per_conn = buyers.len() / c.max(1);
    Ok(CheckoutShops { runtime, _tmp: tmp, data_dir, buyers: Arc::new(buyers), per_conn })
}

/// `--payments-only`: the checkout shops and their buyers, then P alone.
fn payments_only(opt: &Options) -> anyhow::Result<()> {
    let s = checkout_shops(opt)?;
    let p = payments_section(&s.runtime, opt, &s.data_dir, &s.buyers, s.per_conn, &[("RUST_LOG", "warn")])?;
    println!("{}", payments_line(&p));
    std::fs::write(&opt.json_path, serde_json::to_string_pretty(&p)?)?;
    Ok(())
}

/// `--reads-only [--mode shared|exclusive]`: the many-shop reads alone (floors, W1–W3, W3-large),
/// in one locking mode or both, over the full (or quick) shop count — for working on W2/W3.
fn reads_only(opt: &Options, mode: Option<String>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::fs::create_dir_all(&opt.data_base)?;
    let tmp = tempfile::tempdir_in(&opt.data_base)?;
    let data_dir = tmp.path().join("data");
    let floor_dir = tmp.path().join("floor");
    std::fs::create_dir_all(&floor_dir)?;
    eprintln!("setting up: {} shops", opt.cold_shops);
    setup::provision(&data_dir, opt.cold_shops, 0, 0)?;
    floor::prepare(&floor_dir, 0)?;
    let modes: Vec<&'static str> = match mode.as_deref() {
        Some("shared") => vec!["shared"],
        Some("exclusive") => vec!["exclusive"],
        Some(other) => anyhow::bail!("--mode {other}: shared or exclusive"),
        None => vec!["shared", "exclusive"],
    };
    let mut json = serde_json::Map::new();
    for mode in modes {
        let pass = many_shop_pass(&runtime, opt, &floor_dir, &data_dir, mode)?;
        for r in &pass.rows {
            let ratio = r.ratio.map(|(x, of)| format!("{x:.2} × {of}")).unwrap_or_default();
            let met = r.met.map(|m| if m { "yes" } else { "NO" }).unwrap_or("");
            println!(
                "{:<44} {:>8.0} {:<6} p50 {:>6.2} ms p99 {:>6.2} ms  {ratio:<18} {} {met}",
                r.name, r.rate, r.unit, r.p50, r.p99, r.target
            );
        }
        for line in &pass.summary {
            println!("{line}");
        }
        json.insert(format!("reads_{mode}"), pass.json);
    }
    std::fs::write(&opt.json_path, serde_json::to_string_pretty(&json)?)?;
    Ok(())
}

fn value_of(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

/// `--jobs-only`: the checkout shops and their buyers, then J alone (for working on the queue).
fn jobs_only(opt: &Options) -> anyhow::Result<()> {
    let s = checkout_shops(opt)?;
    let (rows, summary, figures) =
        jobs_section(&s.runtime, opt, &s.data_dir, &s.buyers, s.per_conn, &[("RUST_LOG", "warn")])?;
    for r in &rows {
        let ratio = r.ratio.map(|(x, of)| format!("{x:.2} × {of}")).unwrap_or_default();
        println!(
            "{:<36} {:>8.0} {:<11} p50 {:>6.2} ms p99 {:>6.2} ms  {ratio}  {}",
            r.name, r.rate, r.unit, r.p50, r.p99, r.target
        );
    }
    println!("{summary}");
    std::fs::write(&opt.json_path, serde_json::to_string_pretty(&figures)?)?;
    Ok(())
}

/// V on three fresh shops of its own.
fn catalog_depth(runtime: &tokio::runtime::Runtime, opt: &Options) -> anyhow::Result<Value> {
    std::fs::create_dir_all(&opt.data_base)?;
    let tmp = tempfile::tempdir_in(&opt.data_base)?;
    let data_dir = tmp.path().join("data");
    setup::provision(&data_dir, 3, 0, 0)?;
    catalog::section(runtime, opt, &data_dir)
}

/// Q: W1 on servers with `VERGEFLOW_SHOP_RPS` set far above what the box can serve (every request
/// takes a token from its shop's bucket, none is refused) and without, alternating, three each.
fn limit_cost_section(
    runtime: &tokio::runtime::Runtime,
    opt: &Options,
    data_dir: &std::path::Path,
) -> anyhow::Result<Value> {
    eprintln!("Q: W1 with and without a per-shop rate limit");
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..6 {
        let limited = round % 2 == 0;
        let env: &[(&str, &str)] = if limited { &[("VERGEFLOW_SHOP_RPS", "100000000")] } else { &[] };
        let srv = setup::start_server_with(data_dir, opt.capacity, setup::Hashing::Cheap, env)?;
        let script: Arc<load::ScriptFn> =
            Arc::new(move |_, _, _| vec![Step { bytes: get("/api/shop/products/1", "shop1.localhost"), tag: 0 }]);
        let o = runtime.block_on(load::run(srv.addr, opt.concurrency, opt.warmup, opt.duration, script));
        check_errors("Q", &o);
        if limited { with.push(o.rps()) } else { without.push(o.rps()) }
    }
    Ok(json!({"w1_with": with, "w1_without": without, "ratio": mean(&with) / mean(&without)}))
}

fn limit_cost_line(q: &Value) -> String {
    let ratio = q["ratio"].as_f64().unwrap_or(f64::NAN);
    format!(
        "Q per-shop rate limit: W1 {:.0} req/s with, {:.0} without: {ratio:.3} (cost ≤ 3 %: {})",
        mean_at(q, "w1_with"),
        mean_at(q, "w1_without"),
        if ratio >= 0.97 { "yes" } else { "NO" }
    )
}
