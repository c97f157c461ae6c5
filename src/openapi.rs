//! The route table and the OpenAPI document are one thing: every endpoint is registered through
//! [`Api`], which hands the handler to actix and the description to the document, so the document
//! served at `GET /api/openapi.json` cannot drift from the routes.

use std::collections::BTreeMap;

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};
use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Value, json};

/// Who may call an endpoint (and so which security and errors it documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; no shop needed.
    Public,
    /// Anyone who names a shop (a token is optional).
    Shop,
    /// A signed-in customer of the shop.
    Customer,
    /// The shop's admin, or a super admin naming the shop.
    ShopAdmin,
    /// A signed-in super admin or shop admin.
    MainUser,
    SuperAdmin,
}

/// Builds a schema for one type (a plain `fn`, so specs stay `Copy`).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, as a `$ref` into the document's components.
pub fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// What a successful call answers.
#[derive(Clone, Copy)]
pub enum Answer {
    Json(u16, SchemaFn),
    NoContent,
    Text,
}

/// One endpoint's description.
#[derive(Clone, Copy)]
pub struct Spec {
    pub summary: &'static str,
    pub access: Access,
    pub body: Option<SchemaFn>,
    pub query: &'static [(&'static str, &'static str)],
    pub answer: Answer,
}

impl Spec {
    pub const fn new(summary: &'static str, access: Access, answer: Answer) -> Self {
        Spec { summary, access, body: None, query: &[], answer }
    }
    pub const fn body(mut self, body: SchemaFn) -> Self {
        self.body = Some(body);
        self
    }
    /// Query parameters as (name, JSON type).
    pub const fn query(mut self, query: &'static [(&'static str, &'static str)]) -> Self {
        self.query = query;
        self
    }
}

/// `?page=&per_page=` as query parameters.
pub const PAGE: &[(&str, &str)] = &[("page", "integer"), ("per_page", "integer")];

/// One path's routes for actix, and the methods they answer (for `Allow`).
struct PathRoutes {
    path: &'static str,
    resource: actix_web::Resource,
    methods: Vec<Method>,
}

/// Registers routes with actix, or describes them into a document, or both.
pub struct Api<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    resources: Vec<PathRoutes>,
    doc: Option<&'a mut Document>,
}

impl<'a> Api<'a> {
    pub fn actix(cfg: &'a mut web::ServiceConfig) -> Self {
        Api { cfg: Some(cfg), resources: Vec::new(), doc: None }
    }
    pub fn document(doc: &'a mut Document) -> Self {
        Api { cfg: None, resources: Vec::new(), doc: Some(doc) }
    }

    /// Hands the collected routes to actix: one resource per path, answering a method it does not
    /// have with 405 and `Allow`. GET routes answer HEAD too (actix sends no body for HEAD).
    pub fn finish(&mut self) {
        let Some(cfg) = self.cfg.as_deref_mut() else { return };
        for PathRoutes { resource, methods, .. } in self.resources.drain(..) {
            let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            cfg.service(resource.default_service(web::to(move || {
                let allow = allow.clone();
                async move { Err::<actix_web::HttpResponse, _>(crate::error::AppError::MethodNotAllowed { allow }) }
            })));
        }
    }

    pub fn route<F, Args>(&mut self, method: Method, path: &'static str, spec: Spec, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if self.cfg.is_some() {
            let at = match self.resources.iter().position(|r| r.path == path) {
                Some(at) => at,
                None => {
                    self.resources.push(PathRoutes { path, resource: web::resource(path), methods: Vec::new() });
                    self.resources.len() - 1
                }
            };
            let entry = &mut self.resources[at];
            let mut resource = std::mem::replace(&mut entry.resource, web::resource(path));
            if method == Method::GET {
                resource = resource.route(web::method(Method::HEAD).to(handler.clone()));
                entry.methods.push(Method::GET);
                entry.methods.push(Method::HEAD);
            } else {
                entry.methods.push(method.clone());
            }
            entry.resource = resource.route(web::method(method.clone()).to(handler));
        }
        if let Some(doc) = self.doc.as_deref_mut() {
            doc.add(&method, path, &spec);
        }
        self
    }

    pub fn get<F, Args>(&mut self, path: &'static str, spec: Spec, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, path, spec, handler)
    }
    pub fn post<F, Args>(&mut self, path: &'static str, spec: Spec, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, path, spec, handler)
    }
    pub fn patch<F, Args>(&mut self, path: &'static str, spec: Spec, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PATCH, path, spec, handler)
    }
    pub fn delete<F, Args>(&mut self, path: &'static str, spec: Spec, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, path, spec, handler)
    }
}

/// The error body every failure answers with.
#[derive(serde::Serialize, JsonSchema)]
pub struct ErrorBody {
    /// A snake_case code, e.g. `validation_failed`, `tenant_mismatch`.
    pub error: String,
    pub message: String,
    /// Present on 422: each bad field with its problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

/// An OpenAPI 3.0 document being assembled.
pub struct Document {
    responses: SchemaGenerator,
    requests: SchemaGenerator,
    paths: BTreeMap<String, serde_json::Map<String, Value>>,
}

impl Default for Document {
    fn default() -> Self {
        let settings = |contract| SchemaSettings::openapi3().with(|s| s.contract = contract);
        Document {
            responses: settings(Contract::Serialize).into_generator(),
            requests: settings(Contract::Deserialize).into_generator(),
            paths: BTreeMap::new(),
        }
    }
}

impl Document {
    fn add(&mut self, method: &Method, path: &str, spec: &Spec) {
        let mut parameters: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}))
            .collect();
        parameters.extend(
            spec.query
                .iter()
                .map(|(name, ty)| json!({"name": name, "in": "query", "required": false, "schema": {"type": ty}})),
        );
        let error = self.responses.subschema_for::<ErrorBody>();
        let error_response = json!({"description": "error", "content": {"application/json": {"schema": error}}});
        let mut responses = serde_json::Map::new();
        match spec.answer {
            Answer::Json(status, f) => {
                let schema = f(&mut self.responses);
                responses.insert(
                    status.to_string(),
                    json!({"description": "success", "content": {"application/json": {"schema": schema}}}),
                );
            }
            Answer::NoContent => {
                responses.insert("204".into(), json!({"description": "done"}));
            }
            Answer::Text => {
                responses.insert(
                    "200".into(),
                    json!({"description": "success", "content": {"text/plain": {"schema": {"type": "string"}}}}),
                );
            }
        }
        responses.insert("default".into(), error_response);
        let mut op = json!({
            "summary": spec.summary,
            "operationId": format!("{}_{}", method.as_str().to_lowercase(), path.trim_start_matches('/').replace(['/', '{', '}', '-'], "_")),
            "parameters": parameters,
            "responses": responses,
            "x-access": format!("{:?}", spec.access),
        });
        if spec.access != Access::Public && spec.access != Access::Shop {
            op["security"] = json!([{"bearer": []}]);
        }
        if let Some(body) = spec.body {
            let schema = body(&mut self.requests);
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
        }
        self.paths.entry(path.to_string()).or_default().insert(method.as_str().to_lowercase(), op);
    }

    /// The finished document.
    pub fn into_json(mut self) -> Value {
        let mut schemas = self.requests.take_definitions(true);
        schemas.extend(self.responses.take_definitions(true));
        json!({
            "openapi": "3.0.3",
            "info": {"title": "VergeFlow", "version": env!("CARGO_PKG_VERSION"),
                     "description": "Multi-tenant e-commerce API. Shop endpoints find their shop from the signed-in user, the Host subdomain or custom domain, the `client` parameter or `X-Client` header, or the session cookie."},
            "paths": self.paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
            }
        })
    }
}
