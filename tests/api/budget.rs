//! The shop connection budget under churn: many shops, a few hot, requests from many tasks at once,
//! and a budget far below what they would open unbounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::spawn_app_with;

const BUDGET: usize = 10;
const SHOPS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_connections_never_exceed_the_budget_and_every_answer_is_from_its_shop() {
    let app = spawn_app_with(|s| {
        s.shop_budget.connections = BUDGET;
        s.max_open_clients = BUDGET;
    })
    .await;
    for i in 0..SHOPS {
        let shop = app.create_shop(&format!("churn{i}")).await;
        app.create(
            &shop.admin_token,
            "/api/admin/products",
            json!({"name": format!("Product of churn{i}"), "price_cents": 100}),
        )
        .await;
    }
    let stats = app.stats().await;
    assert_eq!(stats["connection_budget"], BUDGET);
    assert_eq!(stats["shop_budget"]["connections"], BUDGET);

    // Sample the open connections while the load runs.
    let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicI64::new(0)));
    let sampler = {
        let (state, stop, peak) = (app.state.clone(), stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(state.tenancy.pools.stats().open_connections, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let tasks: Vec<_> = (0..12)
        .map(|t| {
            let (http, base) = (app.http.clone(), app.address.clone());
            tokio::spawn(async move {
                for n in 0..60usize {
                    // Half the requests go to three hot shops, the rest walk every shop.
                    let shop = if n % 2 == 0 { (t + n) % 3 } else { (t * 7 + n * 13) % SHOPS };
                    let res = http
                        .request(Method::GET, format!("{base}/api/shop/products"))
                        .header("Host", format!("churn{shop}.localhost"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::OK, "churn{shop}");
                    let body: Value = res.json().await.unwrap();
                    assert_eq!(
                        body["data"][0]["name"],
                        format!("Product of churn{shop}"),
                        "an answer from another shop"
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let stats = app.stats().await;
    let peak = peak.load(Ordering::Relaxed);
    eprintln!("budget {BUDGET}: peak {peak} open connections; {stats}");
    assert!(peak <= BUDGET as i64, "{peak} connections open with a budget of {BUDGET}");
    assert!(peak >= 4, "the load never used the budget ({peak})");
    assert!(stats["budget_evictions"].as_u64().unwrap() + stats["evictions"].as_u64().unwrap() > 0, "{stats}");
}
