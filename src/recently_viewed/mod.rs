//! Per-customer list of products viewed, newest first, bounded and without duplicates.

use actix_web::web;
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::AppError;
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::tenancy::resolve::ShopCustomer;

/// How many products a customer's list keeps.
pub const KEEP: i64 = 20;

pub fn routes(api: &mut Api) {
    api.get(
        "/api/shop/recently-viewed",
        Spec::new(
            "The customer's recently viewed products, newest first",
            Access::Customer,
            Answer::Json(200, schema::<ViewedList>),
        ),
        list_route,
    );
}

/// Records a view (moving the product to the front) and trims the list to [`KEEP`].
pub fn record(conn: &Connection, user_id: i64, product_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO recently_viewed (user_id, product_id, seq, viewed_at)
         VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM recently_viewed WHERE user_id = ?1),
                 strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
         ON CONFLICT (user_id, product_id) DO UPDATE SET seq = excluded.seq, viewed_at = excluded.viewed_at",
        params![user_id, product_id],
    )?;
    conn.execute(
        "DELETE FROM recently_viewed WHERE user_id = ?1 AND seq <=
            (SELECT seq FROM recently_viewed WHERE user_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
        params![user_id, KEEP],
    )?;
    Ok(())
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ViewedProduct {
    pub product_id: i64,
    pub name: String,
    pub slug: String,
    pub price_cents: i64,
    pub viewed_at: String,
}

/// Newest first; products since deactivated are left out.
pub fn list(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<ViewedProduct>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.name, p.slug, p.price_cents, v.viewed_at
         FROM recently_viewed v JOIN products p ON p.id = v.product_id
         WHERE v.user_id = ?1 AND p.active = 1 ORDER BY v.seq DESC",
    )?;
    stmt.query_map([user_id], |r| {
        Ok(ViewedProduct {
            product_id: r.get(0)?,
            name: r.get(1)?,
            slug: r.get(2)?,
            price_cents: r.get(3)?,
            viewed_at: r.get(4)?,
        })
    })?
    .collect()
}

#[derive(Serialize, schemars::JsonSchema)]
struct ViewedList {
    data: Vec<ViewedProduct>,
}

async fn list_route(customer: ShopCustomer) -> Result<web::Json<ViewedList>, AppError> {
    customer.shop.client.features.require(crate::features::Feature::RecentlyViewed)?;
    let user_id = customer.customer_id;
    let data = customer.shop.db.run(move |c| Ok(list(c, user_id)?)).await?;
    Ok(web::Json(ViewedList { data }))
}
