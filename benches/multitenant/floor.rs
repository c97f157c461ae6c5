//! The baselines, served by this bench binary re-run as a child process (never by the product):
//! Floor A returns a fixed JSON body; Floor B runs the storefront's product query on one SQLite
//! pool with no tenancy; Floor C runs the cart and checkout transactions on that one pool.

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

pub fn serve(dir: &Path, workers: usize) -> anyhow::Result<()> {
    let manager = FloorManager(dir.join("client_1.db"));
    let pool = r2d2::Pool::builder()
        .max_size(4)
        .min_idle(Some(1))
        .idle_timeout(None)
        .max_lifetime(None)
        .test_on_check_out(false)
        .build(manager)?;
    let pool = web::Data::new(pool);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(pool.clone())
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
        let item = cart::store::add(&tx, user, b.product_id, b.quantity)?;
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
