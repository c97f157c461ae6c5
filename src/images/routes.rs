//! Image endpoints: uploads and changes for the shop's admin, bytes for the storefront.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::process::{self, MAX_UPLOAD_BYTES};
use super::store::{self, ImageRef};
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::tenancy::resolve::{Shop, ShopAdmin};
use crate::validate;

pub fn routes(api: &mut Api) {
    use Access::{Shop as Anyone, ShopAdmin as Admin};
    api.post(
        "/api/admin/products/{id}/images",
        Spec::new(
            "Upload an image of a product (JPEG, PNG or WebP, ≤ 10 MiB, ≤ 12000 px a side); `?alt=&variant_id=`",
            Admin,
            Answer::Json(201, schema::<ImageRef>),
        )
        .upload("image/*")
        .query(&[("alt", "string"), ("variant_id", "integer")]),
        upload,
    )
    .patch(
        "/api/admin/images/{id}",
        Spec::new("Change an image's alt text, position or variant", Admin, Answer::Json(200, schema::<ImageRef>))
            .body_as(schema::<ImageBody>, "ImageUpdate", &[]),
        update,
    )
    .delete("/api/admin/images/{id}", Spec::new("Delete an image", Admin, Answer::NoContent), delete)
    .get("/api/shop/images/{id}", Spec::new("An image (at most 2048 px a side)", Anyone, Answer::File("image/*")), full)
    .get(
        "/api/shop/images/{id}/thumbnail",
        Spec::new("An image's thumbnail (at most 320 px a side)", Anyone, Answer::File("image/*")),
        thumbnail,
    );
}

#[derive(Deserialize)]
struct UploadQuery {
    alt: Option<String>,
    variant_id: Option<i64>,
}

fn check_alt(alt: &str) -> Result<(), AppError> {
    if alt.chars().count() > 500 {
        return Err(AppError::invalid_field("alt", "must be at most 500 characters"));
    }
    Ok(())
}

async fn upload(
    admin: ShopAdmin,
    req: HttpRequest,
    id: web::Path<i64>,
    q: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let product_id = id.into_inner();
    let UploadQuery { alt, variant_id } = q.into_inner();
    let alt = alt.unwrap_or_default();
    check_alt(&alt)?;
    // Another shop's (or no) product is 404 before the upload is read or decoded.
    if !admin.0.db.run(move |c| Ok(store::product_exists(c, product_id)?)).await? {
        crate::body::park_unread(&req, payload.into_inner());
        return Err(AppError::not_found("not_found", "no such product"));
    }
    let bytes = crate::body::read_raw(&req, payload, MAX_UPLOAD_BYTES).await?;
    let processed = web::block(move || process::process(&bytes)).await??;
    let image = admin.0.db.write(move |tx| store::insert(tx, product_id, variant_id, &alt, &processed)).await?;
    Ok(HttpResponse::Created().json(image))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"alt": "The kettle from the side", "position": 0}))]
struct ImageBody {
    #[schemars(length(max = 500))]
    alt: Option<String>,
    /// 0-based; the other images shift.
    #[schemars(range(min = 0, max = 1000))]
    position: Option<i64>,
    /// The variant this image shows; null: the whole product.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>")]
    variant_id: Option<Option<i64>>,
}

async fn update(admin: ShopAdmin, id: web::Path<i64>, body: Body<ImageBody>) -> Result<web::Json<ImageRef>, AppError> {
    let (id, b) = (id.into_inner(), body.into_inner());
    let mut errors = FieldErrors::default();
    if let Some(alt) = &b.alt {
        errors.take("alt", check_alt(alt).map_err(|_| "must be at most 500 characters".to_string()));
    }
    if b.position.is_some_and(|p| !(0..=1000).contains(&p)) {
        errors.add("position", "must be 0 to 1000");
    }
    errors.into_result()?;
    admin.0.db.write(move |tx| store::update(tx, id, b.alt.as_deref(), b.position, b.variant_id)).await.map(web::Json)
}

async fn delete(admin: ShopAdmin, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    admin.0.db.write(move |tx| store::delete(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Serves an image's bytes with a strong ETag; stored images never change (a new upload is a
/// new id), so they may be cached for a year.
async fn serve(shop: Shop, req: HttpRequest, id: i64, thumbnail: bool) -> Result<HttpResponse, AppError> {
    let found = shop.db.run(move |c| Ok(store::bytes(c, id, thumbnail, true)?)).await?;
    let (content_type, etag, bytes) = found.ok_or_else(|| AppError::not_found("not_found", "no such image"))?;
    let etag = format!("\"{etag}{}\"", if thumbnail { "-t" } else { "" });
    let cache = ("Cache-Control", "public, max-age=31536000, immutable");
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok(HttpResponse::NotModified().insert_header(("ETag", etag)).insert_header(cache).finish());
    }
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("ETag", etag))
        .insert_header(cache)
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}

async fn full(shop: Shop, req: HttpRequest, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    serve(shop, req, id.into_inner(), false).await
}

async fn thumbnail(shop: Shop, req: HttpRequest, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    serve(shop, req, id.into_inner(), true).await
}
