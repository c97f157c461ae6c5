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
    )
    .get(
        "/sitemap.xml",
        Spec::new(
            "The shop's sitemap (on the shop's host): active products and published pages",
            Access::Shop,
            Answer::File("application/xml"),
        ),
        sitemap,
    );
}

/// A sitemap holds at most this many URLs (the protocol's limit).
const SITEMAP_MAX: i64 = 50_000;

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// `<scheme>://<host>/products/<slug>` for every active product and `/pages/<slug>` for every
/// published page, with their last change; the host is the one the request came to.
async fn sitemap(shop: Shop, req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, AppError> {
    let base = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    let entries: Vec<(String, String)> = shop
        .db
        .run(|c| {
            let mut out = Vec::new();
            let mut stmt = c.prepare(
                "SELECT '/products/' || slug, updated_at FROM products WHERE active = 1
                 UNION ALL SELECT '/pages/' || slug, updated_at FROM pages WHERE published = 1 LIMIT ?1",
            )?;
            for row in stmt.query_map([SITEMAP_MAX], |r| Ok((r.get(0)?, r.get(1)?)))? {
                out.push(row?);
            }
            Ok(out)
        })
        .await?;
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (path, updated) in entries {
        xml.push_str(&format!(
            "  <url><loc>{}</loc><lastmod>{}</lastmod></url>\n",
            xml_escape(&format!("{base}{path}")),
            xml_escape(&updated)
        ));
    }
    xml.push_str("</urlset>\n");
    Ok(actix_web::HttpResponse::Ok().content_type("application/xml; charset=utf-8").body(xml))
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
