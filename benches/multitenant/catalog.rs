//! V: catalog depth. W1 on a product with 10 variants and 5 images against W1 on a simple product,
//! alternating on one server; and the catalogue CSV import's rate (100,000 rows, 25,000 products
//! in 4 sizes, into empty shops).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use vergeflow::catalog::store::{self as catalog, ProductFields};
use vergeflow::catalog::variants::{self, Combination, ProductOption, VariantFields};
use vergeflow::config::Settings;
use vergeflow::state::AppState;

use crate::load::{self, Step};
use crate::{Options, check_errors, get, mean, mean_at};

/// Gives shop 1 product 2: ten sizes, each its own variant, and five images.
fn deep_product(data_dir: &Path) -> anyhow::Result<i64> {
    let state = AppState::open(Settings::for_data_dir(data_dir))?;
    let db = state.tenancy.pools.checkout(1)?;
    let mut conn = db.get()?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let sizes: Vec<String> = (0..10).map(|i| format!("size-{i}")).collect();
    let p = catalog::insert_product(
        &tx,
        &ProductFields {
            name: Some("Deep product".into()),
            slug: Some("deep-product".into()),
            price_cents: Some(1999),
            stock: Some(1000),
            options: Some(vec![ProductOption { name: "size".into(), values: sizes.clone() }]),
            ..Default::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    for size in &sizes[1..] {
        let options: Combination = [("size".to_string(), size.clone())].into_iter().collect();
        let f = VariantFields {
            sku: Some(Some(format!("DEEP-{size}"))),
            price_cents: Some(1999),
            stock: Some(1000),
            options: Some(options),
            ..Default::default()
        };
        variants::insert(&tx, p.id, &f).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let img = image::RgbImage::from_fn(800, 600, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    let processed = vergeflow::images::process::process(&png).map_err(|e| anyhow::anyhow!("{e}"))?;
    for i in 0..5 {
        vergeflow::images::store::insert(&tx, p.id, None, &format!("View {i}"), &processed)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    tx.commit()?;
    Ok(p.id)
}

/// Runs V: both W1 kinds three times each on one server, then two timed CSV imports.
pub fn section(runtime: &tokio::runtime::Runtime, opt: &Options, data_dir: &Path) -> anyhow::Result<Value> {
    eprintln!("V: W1 on a product with 10 variants and 5 images and on a simple one; CSV import rate");
    let deep = deep_product(data_dir)?;
    let srv = crate::setup::start_server_with(data_dir, opt.capacity, crate::setup::Hashing::Cheap, &[])?;
    let (mut simple, mut deep_rates) = (Vec::new(), Vec::new());
    for round in 0..6 {
        let product = if round % 2 == 0 { 1 } else { deep };
        let path = format!("/api/shop/products/{product}");
        let script: Arc<load::ScriptFn> =
            Arc::new(move |_, _, _| vec![Step { bytes: get(&path, "shop1.localhost"), tag: 0 }]);
        let o = runtime.block_on(load::run(srv.addr, opt.concurrency, opt.warmup, opt.duration, script));
        check_errors("V W1", &o);
        if product == 1 { simple.push(o.rps()) } else { deep_rates.push(o.rps()) }
    }
    drop(srv);

    // The CSV import, as the job runs it, into shops 2 and 3 (empty).
    let mut csv = String::from("handle,name,price_cents,stock,sku,option1_name,option1_value,category\n");
    for p in 0..25_000 {
        for (i, size) in ["S", "M", "L", "XL"].iter().enumerate() {
            csv.push_str(&format!(
                "p-{p},Product {p},{},{},SKU-{p}-{size},size,{size},Cat {}\n",
                100 + i,
                p % 7,
                p % 10
            ));
        }
    }
    let state = AppState::open(Settings::for_data_dir(data_dir))?;
    let mut rates = Vec::new();
    for shop in [2, 3] {
        let db = state.tenancy.pools.checkout(shop)?;
        let started = Instant::now();
        let created = vergeflow::catalog_csv::import::create(&*db.get()?, csv.as_bytes(), false)?;
        let done = vergeflow::catalog_csv::import::run(&db, created.id, None, &mut |_| {})
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(
            done.rows_done == 100_000 && done.report.rows_skipped == 0,
            "the import did not apply: {done:?}"
        );
        rates.push(100_000.0 / started.elapsed().as_secs_f64());
    }
    Ok(json!({"w1_simple": simple, "w1_deep": deep_rates, "ratio": mean(&deep_rates) / mean(&simple),
              "csv_rows_per_s": rates}))
}

pub fn line(v: &Value) -> String {
    let ratio = v["ratio"].as_f64().unwrap_or(f64::NAN);
    let csv = mean_at(v, "csv_rows_per_s");
    format!(
        "V catalog depth: W1 {:.0} req/s on a product with 10 variants and 5 images, {:.0} on a simple one: {ratio:.2} (≥ 0.7: {}); CSV import {csv:.0} rows/s (≥ 5,000: {})",
        mean_at(v, "w1_deep"),
        mean_at(v, "w1_simple"),
        if ratio >= 0.7 { "yes" } else { "NO" },
        if csv >= 5000.0 { "yes" } else { "NO" }
    )
}
