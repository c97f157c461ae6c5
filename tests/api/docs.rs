//! The API's own documentation: the page at `/docs` and the shape of the OpenAPI document that
//! generated clients are built from.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{JsonBody, spawn_app};

#[tokio::test]
async fn docs_serves_the_viewer_over_the_document_with_no_inline_script() {
    let app = spawn_app().await;
    let res = app.get("/docs").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"), "{csp}");
    let page = res.text().await.unwrap();
    assert!(page.contains("<rapi-doc") && page.contains(r#"spec-url="/api/openapi.json""#), "{page}");
    for script in page.split("<script").skip(1) {
        assert!(script.trim_start().starts_with("type=\"module\" src=\"/docs/"), "only scripts from /docs: {script}");
    }

    let res = app.get("/docs/rapidoc-min.js").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let body = res.bytes().await.unwrap();
    assert!(body.len() > 100_000 && body.starts_with(b"/*!"), "the viewer itself, {} bytes", body.len());
    let res = app.get("/docs/rapidoc-min.js").header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
}

/// Every schema object in the document, however deep.
fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            out.push(v);
            map.values().for_each(|c| walk(c, out));
        }
        Value::Array(items) => items.iter().for_each(|c| walk(c, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_what_client_generators_need() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").json_body().await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();

    // Real names: no numbered duplicates of one Rust name.
    for name in schemas.keys() {
        assert!(!name.ends_with(|c: char| c.is_ascii_digit()), "schema {name}");
        assert!(!name.ends_with("Body"), "request schemas carry what they are for: {name}");
    }
    for (name, required) in [
        ("ProductCreate", &["name", "price_cents"][..]),
        ("CouponCreate", &["code", "kind", "value"]),
        ("AddressCreate", &["name", "line1", "city", "postal_code", "country"]),
        ("ClientCreate", &["name", "subdomain", "admin_email", "admin_password"]),
    ] {
        let listed: BTreeSet<&str> =
            schemas[name]["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(listed, required.iter().copied().collect(), "{name}");
    }
    for name in ["ProductUpdate", "CouponUpdate", "AddressUpdate", "ClientUpdate"] {
        assert!(schemas[name].get("required").is_none(), "{name}: every field of an update is optional");
    }
    assert_eq!(schemas["OrderStatus"]["enum"].as_array().unwrap().len(), 5);
    assert!(schemas["Role"]["enum"].as_array().unwrap().contains(&Value::from("super_admin")));
    assert!(schemas["CouponKind"]["enum"].as_array().unwrap().contains(&Value::from("percent")));
    assert_eq!(schemas["Order"]["properties"]["created_at"]["format"], "date-time");
    assert_eq!(schemas["ProductCreate"]["properties"]["price_cents"]["minimum"], 0);

    let mut everything = Vec::new();
    walk(&doc, &mut everything);
    for v in &everything {
        if let Some(props) = v.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                assert!(!prop.get("default").is_some_and(Value::is_null), "{name}: default null");
            }
        }
        for key in ["schema", "items", "additionalProperties"] {
            assert!(v.get(key) != Some(&Value::Bool(true)) || key == "additionalProperties", "a boolean {key}");
        }
    }

    let mut ids = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "{id} twice");
            assert!(id.len() <= 40 && !id.contains("__"), "{method} {path}: {id}");
            assert_eq!(op["tags"].as_array().unwrap().len(), 1, "{method} {path}");
            assert!(op["security"].is_array(), "{method} {path} declares its security");
            let access = op["x-access"].as_str().unwrap();
            if access == "Public" {
                assert_eq!(op["security"], serde_json::json!([]), "{method} {path}");
            }
            if ["Shop", "Customer", "Buyer", "ShopAdmin"].contains(&access) {
                let params = op["parameters"].to_string();
                assert!(params.contains("XClient") && params.contains("ClientQuery"), "{method} {path}: tenant");
                assert!(op["responses"].get("503").is_some(), "{method} {path}");
            }
            if access != "Public" && access != "Shop" {
                assert!(op["responses"].get("401").is_some(), "{method} {path}");
            }
        }
    }
    assert!(doc["paths"]["/api/shop/auth/register"]["post"]["responses"].get("429").is_some());
    assert!(doc["components"]["responses"]["TooManyRequests"]["headers"].get("Retry-After").is_some());
    let servers = doc["servers"].to_string();
    assert!(servers.contains("{subdomain}"), "{servers}");
}
