//! Catalog depth (issue 18): variants with options, images in the shop's file, catalogue CSV,
//! SEO fields and the sitemap.

use std::io::Cursor;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};
use crate::shop_journeys::address;

/// A solid-colour PNG of this size.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([30, 120, 200]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// A JPEG carrying an EXIF block with a GPS position in it.
fn jpeg_with_exif() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(64, 48, image::Rgb([200, 50, 50]));
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    let mut exif = b"Exif\0\0II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
    exif.extend_from_slice(b"GPSLatitude 51.5007N GPSLongitude 0.1246W SECRET-PLACE");
    let len = (exif.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A PNG whose header claims 50,000 × 50,000 pixels (a decompression bomb's shape): signature,
/// IHDR with a valid CRC, and a tiny IDAT.
fn png_bomb_header() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

async fn upload(app: &TestApp, token: &str, product: i64, bytes: Vec<u8>, content_type: &str) -> (StatusCode, Value) {
    let res = app
        .as_user(Method::POST, token, &format!("/api/admin/products/{product}/images?alt=Side%20view"))
        .header("Content-Type", content_type)
        .header("Content-Disposition", "attachment; filename=\"photo.jpg\"")
        .body(bytes)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

/// A T-shirt in sizes S and M: S has one unit, M five.
async fn tshirt(app: &TestApp, token: &str) -> (i64, i64, i64) {
    let p = app
        .create(
            token,
            "/api/admin/products",
            json!({"name": "T-shirt", "price_cents": 1500, "stock": 1, "options": [{"name": "size", "values": ["S", "M"]}]}),
        )
        .await;
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["variants"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["variants"][0]["options"], json!({"size": "S"}), "the default variant took the first value");
    let small = p["variants"][0]["id"].as_i64().unwrap();
    app.send_json(Method::PATCH, token, &format!("/api/admin/variants/{small}"), json!({"sku": "TEE-S"})).await;
    let m = app
        .create(
            token,
            &format!("/api/admin/products/{id}/variants"),
            json!({"sku": "TEE-M", "price_cents": 1700, "compare_at_price_cents": 2000, "stock": 5, "options": {"size": "M"}}),
        )
        .await;
    (id, small, m["id"].as_i64().unwrap())
}

#[tokio::test]
async fn a_variant_sells_out_while_its_sibling_still_sells() {
    let app = spawn_app().await;
    let shop = app.create_shop("tees").await;
    let t = &shop.admin_token;
    let (product, small, medium) = tshirt(&app, t).await;

    // The storefront answer carries options, variants and images; the summary follows the variants.
    let p = app.fetch(t, &format!("/api/shop/products/{product}")).await;
    assert_eq!(p["options"], json!([{"name": "size", "values": ["S", "M"]}]));
    assert_eq!((p["price_cents"].as_i64(), p["stock"].as_i64()), (Some(1500), Some(6)));
    assert_eq!(p["variants"][1]["compare_at_price_cents"], 2000);
    // The same combination twice, a value the product lacks, a duplicate SKU: refused.
    let body = json!({"price_cents": 1, "options": {"size": "M"}});
    let (s, v) = app.send_json(Method::POST, t, &format!("/api/admin/products/{product}/variants"), body).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("variant_exists")));
    let body = json!({"price_cents": 1, "options": {"size": "XL"}});
    let (s, _) = app.send_json(Method::POST, t, &format!("/api/admin/products/{product}/variants"), body).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) =
        app.send_json(Method::PATCH, t, &format!("/api/admin/variants/{medium}"), json!({"sku": "TEE-S"})).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("sku_taken")));
    // A SKU finds its product.
    let found = app.fetch(t, "/api/admin/products?q=TEE-M").await;
    assert_eq!((found["meta"]["total"].as_i64(), found["data"][0]["id"].as_i64()), (Some(1), Some(product)));
    // Price on a product with variants belongs to the variants.
    let (s, _) =
        app.send_json(Method::PATCH, t, &format!("/api/admin/products/{product}"), json!({"price_cents": 1})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let buyer = app.register_customer("tees", "ada@tees.test").await;
    let addr = address(&app, &buyer).await;
    // Without a variant the product is ambiguous.
    let (s, v) = app.send_json(Method::POST, &buyer, "/api/shop/cart/items", json!({"product_id": product})).await;
    assert_eq!((s, v["fields"]["variant_id"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true), "{v}");
    let line = app.create(&buyer, "/api/shop/cart/items", json!({"variant_id": small, "quantity": 1})).await;
    assert_eq!((line["product_id"].as_i64(), line["sku"].as_str()), (Some(product), Some("TEE-S")));
    let order = app.create(&buyer, "/api/shop/checkout", json!({"address_id": addr})).await;
    assert_eq!(order["items"][0]["variant_id"], small);
    assert_eq!(order["items"][0]["options"], json!({"size": "S"}));
    assert_eq!(order["subtotal_cents"], 1500);

    // S is sold out; M still sells, at its own price.
    let (s, v) = app
        .send_json(Method::POST, &buyer, "/api/shop/cart/items", json!({"product_id": product, "variant_id": small}))
        .await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::CONFLICT, Some("out_of_stock")));
    app.create(&buyer, "/api/shop/cart/items", json!({"product_id": product, "variant_id": medium, "quantity": 2}))
        .await;
    let second = app.create(&buyer, "/api/shop/checkout", json!({"address_id": addr})).await;
    assert_eq!(second["subtotal_cents"], 3400);
    let p = app.fetch(t, &format!("/api/admin/products/{product}")).await;
    let stocks: Vec<i64> = p["variants"].as_array().unwrap().iter().map(|v| v["stock"].as_i64().unwrap()).collect();
    assert_eq!((stocks, p["stock"].as_i64()), (vec![0, 3], Some(3)));

    // Cancelling the first order puts its unit back into S.
    let (s, _) = app
        .send_json(Method::PATCH, t, &format!("/api/admin/orders/{}", order["id"]), json!({"status": "cancelled"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(app.fetch(t, &format!("/api/admin/variants/{small}")).await["stock"], 1);
    // An inactive variant is not on the storefront (the admin still sees it).
    let (s, _) =
        app.send_json(Method::PATCH, t, &format!("/api/admin/variants/{medium}"), json!({"active": false})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        app.fetch(&buyer, &format!("/api/shop/products/{product}")).await["variants"].as_array().unwrap().len(),
        1
    );
    assert_eq!(app.fetch(t, &format!("/api/admin/products/{product}")).await["variants"].as_array().unwrap().len(), 2);
    // A variant of another product is not this product's.
    let other = app.create(t, "/api/admin/products", json!({"name": "Mug", "price_cents": 900, "stock": 3})).await;
    let (s, v) = app
        .send_json(
            Method::POST,
            &buyer,
            "/api/shop/cart/items",
            json!({"product_id": other["id"], "variant_id": small}),
        )
        .await;
    assert_eq!((s, v["fields"]["variant_id"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true));
    // The last variant cannot go; one of two can.
    let mug_variant = other["variants"][0]["id"].as_i64().unwrap();
    let res = app.as_user(Method::DELETE, t, &format!("/api/admin/variants/{mug_variant}")).send().await.unwrap();
    assert_error(res, StatusCode::CONFLICT, "last_variant").await;
}

#[tokio::test]
async fn the_last_unit_of_a_variant_goes_to_exactly_one_buyer() {
    let app = spawn_app().await;
    let shop = app.create_shop("lastunit").await;
    let (_, small, _) = tshirt(&app, &shop.admin_token).await;
    let mut buyers = Vec::new();
    for i in 0..6 {
        let token = app.register_customer("lastunit", &format!("b{i}@lastunit.test")).await;
        let addr = address(&app, &token).await;
        app.create(&token, "/api/shop/cart/items", json!({"variant_id": small})).await;
        buyers.push((token, addr));
    }
    let answers =
        futures_util::future::join_all(buyers.iter().map(|(token, addr)| {
            app.send_json(Method::POST, token, "/api/shop/checkout", json!({"address_id": addr}))
        }))
        .await;
    let won = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let sold_out = answers.iter().filter(|(s, v)| *s == StatusCode::CONFLICT && v["error"] == "out_of_stock").count();
    assert_eq!((won, sold_out), (1, 5), "{answers:?}");
    assert_eq!(app.fetch(&shop.admin_token, &format!("/api/admin/variants/{small}")).await["stock"], 0);
}

#[tokio::test]
async fn images_are_checked_by_content_stored_in_the_shop_and_served_with_cache_headers() {
    let app = spawn_app().await;
    let shop = app.create_shop("pics").await;
    let other = app.create_shop("otherpics").await;
    let t = &shop.admin_token;
    let p = app.create(t, "/api/admin/products", json!({"name": "Kettle", "price_cents": 2999, "stock": 4})).await;
    let id = p["id"].as_i64().unwrap();

    // A PNG sent as image/jpeg named photo.jpg: the bytes decide.
    let (s, first) = upload(&app, t, id, png(3000, 1000), "image/jpeg").await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!((first["content_type"].as_str(), first["width"].as_i64()), (Some("image/png"), Some(2048)));
    assert_eq!(first["alt"], "Side view");
    // EXIF (with its GPS position) does not survive.
    let (s, second) = upload(&app, t, id, jpeg_with_exif(), "image/jpeg").await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    let bytes = app.on_shop(Method::GET, "pics", second["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(bytes.headers()["content-type"], "image/jpeg");
    let bytes = bytes.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xFF, 0xD8]));
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!has(b"Exif") && !has(b"SECRET-PLACE"), "metadata was kept");
    // A 50,000 × 50,000 header is refused before decoding; text is not an image.
    let (s, v) = upload(&app, t, id, png_bomb_header(), "image/png").await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("image_too_large")), "{v}");
    let (s, v) = upload(&app, t, id, b"<svg onload=alert(1)>".to_vec(), "image/png").await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_image")));

    // WebP without transparency is stored as JPEG.
    let mut webp = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(30, 20, image::Rgb([1, 2, 3])))
        .write_to(&mut Cursor::new(&mut webp), image::ImageFormat::WebP)
        .unwrap();
    let (s, w) = upload(&app, t, id, webp, "application/octet-stream").await;
    assert_eq!(
        (s, w["content_type"].as_str(), w["width"].as_i64()),
        (StatusCode::CREATED, Some("image/jpeg"), Some(30))
    );
    let res = app.as_user(Method::DELETE, t, &format!("/api/admin/images/{}", w["id"])).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Order: the third upload moved to the front.
    let (_, third) = upload(&app, t, id, png(40, 40), "image/png").await;
    let (s, moved) =
        app.send_json(Method::PATCH, t, &format!("/api/admin/images/{}", third["id"]), json!({"position": 0})).await;
    assert_eq!((s, moved["position"].as_i64()), (StatusCode::OK, Some(0)));
    let p = app.fetch(t, &format!("/api/shop/products/{id}")).await;
    let order: Vec<i64> = p["images"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(
        order,
        vec![third["id"].as_i64().unwrap(), first["id"].as_i64().unwrap(), second["id"].as_i64().unwrap()]
    );

    // The thumbnail: small, typed, cacheable, revalidated with its ETag.
    let thumb = app.on_shop(Method::GET, "pics", first["thumbnail_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(thumb.status(), StatusCode::OK);
    assert_eq!(thumb.headers()["content-type"], "image/png");
    assert!(thumb.headers()["cache-control"].to_str().unwrap().contains("max-age="));
    let etag = thumb.headers()["etag"].to_str().unwrap().to_string();
    let img = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (320, 107));
    let again = app
        .on_shop(Method::GET, "pics", first["thumbnail_url"].as_str().unwrap())
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Another shop cannot see or change this shop's image ids.
    let url = first["url"].as_str().unwrap();
    let res = app.on_shop(Method::GET, "otherpics", url).send().await.unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let (s, _) = app
        .send_json(
            Method::PATCH,
            &other.admin_token,
            &format!("/api/admin/images/{}", first["id"]),
            json!({"alt": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = upload(&app, &other.admin_token, id, png(8, 8), "image/png").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deleting the product removes its images, bytes and all.
    let res = app.as_user(Method::DELETE, t, &format!("/api/admin/products/{id}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.on_shop(Method::GET, "pics", url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let conn = rusqlite::Connection::open(app.data_dir.join(format!("client_{}.db", shop.id))).unwrap();
    let left: i64 = conn.query_row("SELECT COUNT(*) FROM image_data", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
}

/// Waits for a catalogue import to finish and answers it.
async fn finished_import(app: &TestApp, token: &str, id: i64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let i = app.fetch(token, &format!("/api/admin/catalog/imports/{id}")).await;
        if i["status"] == "done" || i["status"] == "failed" {
            return i;
        }
        assert!(std::time::Instant::now() < deadline, "import {id} did not finish: {i}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn import_csv(app: &TestApp, token: &str, csv: impl Into<reqwest::Body>, dry_run: bool) -> Value {
    let res = app
        .as_user(Method::POST, token, &format!("/api/admin/catalog/imports?dry_run={dry_run}"))
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let started: Value = res.json().await.unwrap();
    finished_import(app, token, started["id"].as_i64().unwrap()).await
}

async fn export(app: &TestApp, token: &str) -> String {
    let res = app.as_user(Method::GET, token, "/api/admin/catalog/export").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    res.text().await.unwrap()
}

/// Products with their variants, categories and SEO fields, without ids or times: what a round
/// trip must keep.
async fn catalogue(app: &TestApp, token: &str) -> Vec<Value> {
    let list = app.fetch(token, "/api/admin/products?per_page=100").await;
    let cats = app.fetch(token, "/api/admin/categories?per_page=100").await;
    let cat_name = |id: &Value| {
        cats["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| &c["id"] == id)
            .map(|c| c["name"].clone())
            .unwrap_or(Value::Null)
    };
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let variants: Vec<Value> = p["variants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| json!([v["sku"], v["price_cents"], v["compare_at_price_cents"], v["stock"], v["options"], v["active"]]))
                .collect();
            json!({"slug": p["slug"], "name": p["name"], "description": p["description"], "category": cat_name(&p["category_id"]),
                   "active": p["active"], "options": p["options"], "meta_title": p["meta_title"], "variants": variants,
                   "price_cents": p["price_cents"], "stock": p["stock"]})
        })
        .collect()
}

#[tokio::test]
async fn a_catalogue_csv_round_trips_reports_bad_rows_and_defuses_formulas() {
    let app = spawn_app().await;
    let a = app.create_shop("csvfrom").await;
    let b = app.create_shop("csvinto").await;
    let t = &a.admin_token;
    let kitchen = app.create(t, "/api/admin/categories", json!({"name": "Kitchen"})).await;
    let kettles = app.create(t, "/api/admin/categories", json!({"name": "Kettles", "parent_id": kitchen["id"]})).await;
    tshirt(&app, t).await;
    app.create(
        t,
        "/api/admin/products",
        json!({"name": "=HYPERLINK(\"http://evil\")", "slug": "formula", "description": "-1+1, \"quoted\"\nsecond line",
               "price_cents": 999, "stock": 2, "category_id": kettles["id"], "meta_title": "Best kettle", "active": false}),
    )
    .await;

    let csv = export(&app, t).await;
    assert!(csv.contains("'=HYPERLINK"), "formula guarded: {csv}");
    assert!(csv.contains("Kitchen > Kettles"));
    assert_eq!(csv.lines().next().unwrap().split(',').count(), 21);

    // A dry run changes nothing and reports what would happen.
    let dry = import_csv(&app, &b.admin_token, csv.clone(), true).await;
    assert_eq!(dry["status"], "done", "{dry}");
    assert_eq!(
        (dry["report"]["products_created"].as_i64(), dry["report"]["variants_created"].as_i64()),
        (Some(2), Some(3))
    );
    assert_eq!(app.fetch(&b.admin_token, "/api/admin/products").await["meta"]["total"], 0);

    let done = import_csv(&app, &b.admin_token, csv.clone(), false).await;
    assert_eq!((done["rows_total"].as_i64(), done["rows_done"].as_i64()), (Some(3), Some(3)), "{done}");
    assert_eq!(done["report"]["rows_skipped"], 0, "{done}");
    assert_eq!(catalogue(&app, &b.admin_token).await, catalogue(&app, t).await);
    // Applied again, the same file changes nothing.
    let again = import_csv(&app, &b.admin_token, csv, false).await;
    assert_eq!(
        (again["report"]["products_created"].as_i64(), again["report"]["variants_updated"].as_i64()),
        (Some(0), Some(3))
    );
    assert_eq!(catalogue(&app, &b.admin_token).await, catalogue(&app, t).await);

    // Bad rows are skipped with their line numbers; the good ones land.
    let bad = "handle,name,price_cents,stock,sku,option1_name,option1_value\n\
               good-one,Good,100,1,,,\n\
               Bad Handle,Bad,100,1,,,\n\
               no-price,No price,,1,,,\n\
               neg,Negative,-5,1,,,\n\
               clash,Clash,100,1,TEE-M,,\n\
               half,Half,100,1,,size,\n\
               good-two,Good two,200,3,G2,colour,red\n";
    let r = import_csv(&app, t, bad, false).await;
    let skipped: Vec<(i64, String)> = r["report"]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["line"].as_i64().unwrap(), s["reason"].as_str().unwrap().split(':').next().unwrap().to_string()))
        .collect();
    let lines: Vec<i64> = skipped.iter().map(|s| s.0).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7], "{r}");
    assert_eq!(r["report"]["products_created"], 2);
    let two = app.fetch(t, "/api/admin/products?q=good%20two").await;
    assert_eq!(two["data"][0]["variants"][0]["options"], json!({"colour": "red"}));

    // The product quota holds for imports too.
    let res = app
        .admin_api(Method::PATCH, &format!("/api/super-admin/clients/{}/quotas", b.id))
        .json(&json!({"max_products": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let r = import_csv(&app, &b.admin_token, "handle,name,price_cents\none-more,One more,100\n", false).await;
    assert_eq!(r["report"]["rows_skipped"], 1, "{r}");
    assert!(r["report"]["skipped"][0]["reason"].as_str().unwrap().contains("quota"));

    // A file that is not a catalogue is refused whole.
    let res = app
        .as_user(Method::POST, t, "/api/admin/catalog/imports")
        .header("Content-Type", "text/csv")
        .body("colour,size\nred,L\n")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv").await;
}

#[tokio::test]
async fn a_100000_row_file_is_imported_as_a_job_with_progress() {
    let app = spawn_app().await;
    let shop = app.create_shop("bigcsv").await;
    let t = &shop.admin_token;
    // 25,000 products in 4 sizes each.
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
    let res = app
        .as_user(Method::POST, t, "/api/admin/catalog/imports")
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let mut seen_progress = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let done = loop {
        let i = app.fetch(t, &location).await;
        if i["status"] == "done" || i["status"] == "failed" {
            break i;
        }
        if i["status"] == "running" {
            seen_progress.push(i["rows_done"].as_i64().unwrap());
        }
        assert!(std::time::Instant::now() < deadline, "the import did not finish: {i}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!((done["status"].as_str(), done["rows_done"].as_i64()), (Some("done"), Some(100_000)), "{done}");
    assert!(
        seen_progress.iter().any(|n| *n > 0 && *n < 100_000),
        "no progress seen between start and end: {seen_progress:?}"
    );
    assert_eq!(done["report"]["products_created"], 25_000);
    assert_eq!(done["report"]["variants_created"], 100_000);
    assert_eq!(done["report"]["categories_created"], 10);
    let page = app.fetch(t, "/api/admin/products?per_page=1").await;
    assert_eq!(page["meta"]["total"], 25_000);
    assert_eq!(page["data"][0]["variants"].as_array().unwrap().len(), 4);
    eprintln!("100,000-row import: progress seen at {} points", seen_progress.len());
}

#[tokio::test]
async fn seo_fields_and_the_sitemap_list_what_is_sold() {
    let app = spawn_app().await;
    let shop = app.create_shop("mapshop").await;
    let t = &shop.admin_token;
    let c = app
        .create(
            t,
            "/api/admin/categories",
            json!({"name": "Tea", "meta_title": "Loose tea", "meta_description": "Leaves"}),
        )
        .await;
    assert_eq!(c["meta_title"], "Loose tea");
    app.create(
        t,
        "/api/admin/products",
        json!({"name": "Green tea", "price_cents": 500, "meta_description": "Fresh <leaves> & more"}),
    )
    .await;
    app.create(t, "/api/admin/products", json!({"name": "Hidden tea", "price_cents": 500, "active": false})).await;
    app.create(t, "/api/admin/pages", json!({"slug": "about", "title": "About us", "published": true})).await;
    let (s, v) = app
        .send_json(
            Method::POST,
            t,
            "/api/admin/products",
            json!({"name": "Long", "price_cents": 1, "meta_title": "x".repeat(201)}),
        )
        .await;
    assert_eq!((s, v["fields"]["meta_title"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true));

    let res = app.on_shop(Method::GET, "mapshop", "/sitemap.xml").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/xml"));
    let xml = res.text().await.unwrap();
    assert!(xml.contains("<loc>http://mapshop.localhost/products/green-tea</loc>"), "{xml}");
    assert!(xml.contains("/pages/about</loc>"), "{xml}");
    assert!(!xml.contains("hidden-tea"));
    let res = app.on_shop(Method::GET, "nosuchshop", "/sitemap.xml").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// The real binary SIGKILLed while it applies a catalogue import, restarted each time: after every
/// kill the shop file is whole, the catalogue is exactly the rows the import recorded as done (no
/// half chunk, no product without a variant, summaries agreeing with variants), and the restarted
/// server resumes the job to the exact full catalogue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_a_catalogue_import_leave_exactly_the_rows_done_and_it_resumes() {
    use crate::crash::{Server, data_dir, jitter, ro};
    use crate::helpers::{SUPER_EMAIL, SUPER_PASSWORD};
    const PRODUCTS: usize = 6000;
    const ROUNDS: usize = 8;
    let (_tmp, data) = data_dir();
    let mut server = Server::start(&data).await;
    let token = server.token(SUPER_EMAIL, SUPER_PASSWORD).await;
    server.create_shop(&token, "crashcsv").await;
    let admin = server.token("crashcsv@crash.test", "crash-password").await;
    let mut csv = String::from("handle,name,price_cents,stock,sku,option1_name,option1_value\n");
    for p in 0..PRODUCTS {
        for size in ["S", "M", "L", "XL"] {
            csv.push_str(&format!("k-{p},Product {p},{},{},K-{p}-{size},size,{size}\n", 100 + p, p % 9));
        }
    }
    let res = server
        .http
        .post(format!("{}/api/admin/catalog/imports", server.base))
        .bearer_auth(&admin)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let shop_file = data.join("client_1.db");
    let check = |round: usize| -> (String, i64) {
        let c = ro(&shop_file);
        // One read transaction: the import's progress and the catalogue from the same moment (the
        // resumed job commits chunks meanwhile).
        c.execute_batch("BEGIN").unwrap();
        let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "round {round}");
        let (status, done): (String, i64) = c
            .query_row("SELECT status, rows_done FROM catalog_imports WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        let (products, variants, bare, off): (i64, i64, i64, i64) = c
            .query_row(
                "SELECT (SELECT COUNT(*) FROM products), (SELECT COUNT(*) FROM variants),
                        (SELECT COUNT(*) FROM products p WHERE NOT EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id)),
                        (SELECT COUNT(*) FROM products p WHERE stock <> (SELECT SUM(stock) FROM variants v WHERE v.product_id = p.id)
                            OR price_cents <> (SELECT MIN(price_cents) FROM variants v WHERE v.product_id = p.id))",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (variants, products * 4),
            (done, done),
            "round {round}: the catalogue is the rows done, whole products"
        );
        assert_eq!((bare, off), (0, 0), "round {round}: products without a variant or with a wrong summary");
        (status, done)
    };
    let (mut caught, mut seen) = (0, Vec::new());
    let mut last = 0i64;
    for round in 0..ROUNDS {
        // Once the resumed job has committed a chunk past the last kill, kill within the next ones.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let (status, done): (String, i64) = ro(&shop_file)
                .query_row("SELECT status, rows_done FROM catalog_imports WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            if done > last || status == "done" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "round {round}: the import made no progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(jitter(round, 300)).await;
        server.kill();
        let (status, done) = check(round);
        seen.push(done);
        last = done;
        if status != "done" {
            caught += 1;
        }
        server = Server::start(&data).await;
        if status == "done" {
            break;
        }
    }
    // The last restart resumes the job to its end.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let (status, done) = loop {
        let (status, done) = check(99);
        if status == "done" || status == "failed" {
            break (status, done);
        }
        assert!(std::time::Instant::now() < deadline, "the import did not resume: {status} {done}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    server.kill();
    assert_eq!((status.as_str(), done), ("done", (PRODUCTS * 4) as i64));
    eprintln!("catalogue import: {caught} kills mid-import, rows done at each kill {seen:?}");
    assert!(caught >= 3, "only {caught} kills landed inside the import: {seen:?}");
}
