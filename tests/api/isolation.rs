use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app_with;

/// Gives shop `i` exactly `i` categories, written straight into its file, so every shop's answer
/// is distinguishable.
fn seed_categories(data_dir: &std::path::Path, id: i64, count: i64) {
    // Opened as the server opens shop files, whose locks then coordinate with it in memory.
    let conn = vergeflow::db::open_shop_file(
        &data_dir.join(format!("client_{id}.db")),
        Default::default(),
        256,
        vergeflow::db::BUSY_TIMEOUT,
    )
    .unwrap();
    for n in 0..count {
        conn.execute(
            "INSERT INTO categories (name, slug) VALUES (?1, ?2)",
            rusqlite::params![format!("c{n}"), format!("c{n}")],
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_response_carries_its_own_shops_data_under_lru_churn() {
    let app = Arc::new(spawn_app_with(|s| s.max_open_clients = 2).await);
    let mut shops = Vec::new();
    for i in 1..=10 {
        let shop = app.create_shop(&format!("churn{i}")).await;
        seed_categories(&app.data_dir, shop.id, shop.id);
        shops.push(shop);
    }

    let mut tasks = Vec::new();
    for worker in 0..20usize {
        let app = Arc::clone(&app);
        let targets: Vec<(i64, String)> = shops.iter().map(|s| (s.id, s.subdomain.clone())).collect();
        tasks.push(tokio::spawn(async move {
            for round in 0..15usize {
                let (id, subdomain) = &targets[(worker * 7 + round * 3) % targets.len()];
                let res = app.shop_by_host(&format!("{subdomain}.localhost")).await;
                assert_eq!(res.status(), StatusCode::OK);
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["id"], *id, "{body}");
                assert_eq!(body["file_client_id"], *id, "{body}");
                assert_eq!(body["categories"], *id, "another shop's data: {body}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let stats = app.stats().await;
    assert!(stats["open_pools"].as_u64().unwrap() <= 2, "{stats}");
    assert!(stats["evictions"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["max_open_pools"], 2);
}
