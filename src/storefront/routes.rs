//! `GET /api/shop`: the resolved shop, as its own file describes it.

use actix_web::web;
use serde::Serialize;

use crate::error::AppError;
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::tenancy::resolve::Shop;

pub fn routes(api: &mut Api) {
    api.get(
        "/api/shop",
        Spec::new("The resolved shop, read from its own file", Access::Shop, Answer::Json(200, schema::<ShopInfo>)),
        show,
    );
}

#[derive(Serialize, schemars::JsonSchema)]
struct ShopInfo {
    id: i64,
    name: String,
    subdomain: String,
    domain: Option<String>,
    /// The client id stamped inside the shop file: proof the request reached that file.
    file_client_id: i64,
    products: i64,
    categories: i64,
}

async fn show(shop: Shop) -> Result<web::Json<ShopInfo>, AppError> {
    let (file_client_id, products, categories) = shop
        .db
        .run(|conn| {
            Ok(conn.query_row(
                "SELECT (SELECT client_id FROM shop WHERE id = 1),
                        (SELECT COUNT(*) FROM products WHERE active = 1),
                        (SELECT COUNT(*) FROM categories)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .await?;
    Ok(web::Json(ShopInfo {
        id: shop.client.id,
        name: shop.client.name.clone(),
        subdomain: shop.client.subdomain.clone(),
        domain: shop.client.domain.clone(),
        file_client_id,
        products,
        categories,
    }))
}
