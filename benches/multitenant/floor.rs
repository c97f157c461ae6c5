//! The baselines, served by this bench binary re-run as a child process (never by the product):
//! Floor A returns a fixed JSON body; Floor B runs the storefront's product query on one SQLite
//! pool with no tenancy; Floor C runs the cart and checkout transactions on that one pool.
//!
//! Given the product server's data folder, it also serves the many-shop floors over the very same
//! shop files, opened exactly as the server opens them, with no tenancy (no Host, no registry, no
//! stamp check, no segmented LRU): Floor B₁₀₀₀, the product query on one r2d2 pool per warm shop,
//! every pool opened beforehand; Floor D, through a plain LRU of r2d2 pools of the server's capacity;
//! Floor E, opening, querying and closing the shop file on every request.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use vergeflow::error::AppError;
use vergeflow::{addresses, cart, catalog, customers, db, orders};

type Pool = r2d2::Pool<FloorManager>;

/// Connections to the floor's one file, opened exactly as the server opens a shop file (same VFS
/// and PRAGMAs), so the floors differ from the server only by tenancy.
struct FloorManager(PathBuf);

impl r2d2::ManageConnection for FloorManager {
    type Connection = rusqlite::Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> Result<rusqlite::Connection, rusqlite::Error> {
        db::open_shop_file(&self.0, locking(), 1024, db::BUSY_TIMEOUT)
    }

    fn is_valid(&self, _conn: &mut rusqlite::Connection) -> Result<(), rusqlite::Error> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut rusqlite::Connection) -> bool {
        false
    }
}

/// The locking mode the server under test uses (`VERGEFLOW_SHOP_LOCKING`, shared by default).
fn locking() -> db::ShopLocking {
    match std::env::var("VERGEFLOW_SHOP_LOCKING").as_deref() {
        Ok("exclusive") => db::ShopLocking::Exclusive,
        _ => db::ShopLocking::Shared,
    }
}

/// Builds the floor's single shop file: one product with deep stock, `customers` customers with an
/// address each. Returns nothing; ids are 1..=customers for users and addresses.
pub fn prepare(dir: &Path, customers: usize) -> anyhow::Result<()> {
    let template = vergeflow::tenancy::template::ClientTemplate::new()?;
    template.build_file(dir, 1)?;
    let conn = db::open_file(&dir.join("client_1.db"), false, 1024)?;
    conn.execute("INSERT INTO products (name, slug, price_cents, stock) VALUES ('Bench product', 'bench-product', 1999, 1000000)", [])?;
    let hash = vergeflow::auth::password::hash("floor-customer-password")?;
    for i in 0..customers {
        let user = customers::store::register(&conn, "Floor customer", &format!("c{i}@floor.bench"), &hash)?;
        addresses::store::insert(&conn, user.id, &crate::setup::address_fields())?;
    }
    Ok(())
}

/// The many-shop floors' state: warm pools by shop id, and the LRU of Floor D.
struct Shops {
    dir: PathBuf,
    warm: Vec<Pool>,
    lru: parking_lot::Mutex<lru::LruCache<i64, Pool>>,
    threads: Arc<scheduled_thread_pool::ScheduledThreadPool>,
}

/// One connection per shop file: what the server's pools hold while no request waits on them longer
/// than `GROW_AFTER` (src/tenancy/pools.rs), so the floors get the same saving as the server.
const FLOOR_POOL_SIZE: u32 = 1;

fn shop_pool(dir: &Path, id: i64, threads: &Arc<scheduled_thread_pool::ScheduledThreadPool>, min_idle: u32) -> Pool {
    r2d2::Pool::builder()
        .max_size(FLOOR_POOL_SIZE)
        .min_idle(Some(min_idle))
        .idle_timeout(None)
        .max_lifetime(None)
        .test_on_check_out(false)
        .thread_pool(Arc::clone(threads))
        .build_unchecked(FloorManager(dir.join(format!("client_{id}.db"))))
}

/// `--shops-dir DIR --warm N --lru CAP` after `--floor-server FLOOR_DIR`.
pub struct ShopFloors {
    pub dir: PathBuf,
    pub warm: usize,
    pub lru: usize,
}

pub fn serve(dir: &Path, workers: usize, shops: Option<ShopFloors>) -> anyhow::Result<()> {
    // SQLite set up as the server sets it up (mimalloc, no memory statistics, no lookaside), so the
    // floors differ from the server by tenancy only.
    db::configure_sqlite();
    let shops = shops.map(|s| {
        let threads = Arc::new(
            scheduled_thread_pool::ScheduledThreadPool::builder()
                .num_threads(4)
                .thread_name_pattern("floor-open-{}")
                .build(),
        );
        let warm: Vec<Pool> = (1..=s.warm as i64).map(|id| shop_pool(&s.dir, id, &threads, 1)).collect();
        // Opened beforehand: one connection per warm shop before the floor says it listens.
        for pool in &warm {
            drop(pool.get());
        }
        web::Data::new(Shops {
            dir: s.dir,
            warm,
            lru: parking_lot::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(s.lru.max(1)).expect("non-zero"),
            )),
            threads,
        })
    });
    let manager = FloorManager(dir.join("client_1.db"));
    let pool = r2d2::Pool::builder()
        .max_size(FLOOR_POOL_SIZE)
        .min_idle(Some(1))
        .idle_timeout(None)
        .max_lifetime(None)
        .test_on_check_out(false)
        .build(manager)?;
    let pool = web::Data::new(pool);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            let app = App::new();
            let app = match &shops {
                Some(s) => app
                    .app_data(s.clone())
                    .route("/floor/shops/{shop}/products/{id}", web::get().to(warm_product))
                    .route("/floor/lru/{shop}/products/{id}", web::get().to(lru_product))
                    .route("/floor/open/{shop}/products/{id}", web::get().to(open_product)),
                None => app,
            };
            app.app_data(pool.clone())
                .route(
                    "/floor/json",
                    web::get().to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
                )
                .route("/floor/products/{id}", web::get().to(product))
                .route("/floor/cart/{user}", web::post().to(add_to_cart))
                .route("/floor/checkout/{user}", web::post().to(checkout))
        })
        .workers(workers)
        .worker_max_blocking_threads(8)
        .bind("127.0.0.1:0")?;
        println!("FLOOR LISTENING {}", server.addrs()[0].port());
        server.run().await
    })?;
    Ok(())
}

async fn run<T: Send + 'static>(
    pool: web::Data<Pool>,
    f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let pool: Arc<Pool> = pool.into_inner();
    web::block(move || {
        let mut conn = pool.get().map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
        f(&mut conn)
    })
    .await?
}

async fn product(pool: web::Data<Pool>, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let p = run(pool, move |c| {
        catalog::store::find_product(c, id, true)?.ok_or_else(|| AppError::not_found("not_found", "no such product"))
    })
    .await?;
    Ok(HttpResponse::Ok().json(p))
}

#[derive(Deserialize)]
struct CartBody {
    product_id: i64,
    quantity: i64,
}

async fn add_to_cart(
    pool: web::Data<Pool>,
    user: web::Path<i64>,
    body: web::Json<CartBody>,
) -> Result<HttpResponse, AppError> {
    let (user, b) = (user.into_inner(), body.into_inner());
    let item = run(pool, move |c| {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let item = cart::store::add(&tx, cart::store::Owner::Customer(user), Some(b.product_id), None, b.quantity)?;
        tx.commit()?;
        Ok(item)
    })
    .await?;
    Ok(HttpResponse::Created().json(item))
}

#[derive(Deserialize)]
struct CheckoutBody {
    address_id: i64,
}

async fn checkout(
    pool: web::Data<Pool>,
    user: web::Path<i64>,
    body: web::Json<CheckoutBody>,
) -> Result<HttpResponse, AppError> {
    let (user, address_id) = (user.into_inner(), body.address_id);
    let order = run(pool, move |c| {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let order = orders::checkout::place_order(&tx, user, address_id, None)?;
        tx.commit()?;
        Ok(order)
    })
    .await?;
    Ok(HttpResponse::Created().json(order))
}

async fn on_pool(pool: Pool, id: i64, evicted: Option<Pool>) -> Result<HttpResponse, AppError> {
    let p = web::block(move || {
        // An evicted pool closes its connections here, off the async workers and outside the lock.
        drop(evicted);
        let conn = pool.get().map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
        catalog::store::find_product(&conn, id, true)?
            .ok_or_else(|| AppError::not_found("not_found", "no such product"))
    })
    .await??;
    Ok(HttpResponse::Ok().json(p))
}

/// Floor B₁₀₀₀: the shop's own pool, opened beforehand.
async fn warm_product(shops: web::Data<Shops>, path: web::Path<(usize, i64)>) -> Result<HttpResponse, AppError> {
    let (shop, id) = path.into_inner();
    let pool = shops
        .warm
        .get(shop.wrapping_sub(1))
        .cloned()
        .ok_or_else(|| AppError::not_found("not_found", "no such shop"))?;
    on_pool(pool, id, None).await
}

/// Floor D: a plain LRU of pools; an evicted pool closes when its last connection returns.
async fn lru_product(shops: web::Data<Shops>, path: web::Path<(i64, i64)>) -> Result<HttpResponse, AppError> {
    let (shop, id) = path.into_inner();
    let (pool, evicted) = {
        let mut lru = shops.lru.lock();
        match lru.get(&shop) {
            Some(pool) => (pool.clone(), None),
            None => {
                let pool = shop_pool(&shops.dir, shop, &shops.threads, 0);
                let evicted = lru.push(shop, pool.clone()).map(|(_, old)| old);
                (pool, evicted)
            }
        }
    };
    on_pool(pool, id, evicted).await
}

/// Floor E: open the shop file, query, close, on every request.
async fn open_product(shops: web::Data<Shops>, path: web::Path<(i64, i64)>) -> Result<HttpResponse, AppError> {
    let (shop, id) = path.into_inner();
    let file = shops.dir.join(format!("client_{shop}.db"));
    let p = web::block(move || {
        let conn = db::open_shop_file(&file, locking(), 1024, db::BUSY_TIMEOUT)?;
        catalog::store::find_product(&conn, id, true)?
            .ok_or_else(|| AppError::not_found("not_found", "no such product"))
    })
    .await??;
    Ok(HttpResponse::Ok().json(p))
}
