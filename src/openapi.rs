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
    /// A signed-in customer, or a guest whose cart travels in the `Cart-Token` header.
    Buyer,
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
    /// A file download of this media type.
    File(&'static str),
}

/// A request body: its schema, and optionally the name and required fields it is documented with.
#[derive(Clone, Copy)]
pub struct BodySpec {
    pub schema: SchemaFn,
    /// One Rust type often serves create and update (all fields optional, checked by hand so a 422
    /// can name each): the document shows it as `name`, with `required` fields.
    pub shown_as: Option<(&'static str, &'static [&'static str])>,
}

/// One endpoint's description.
#[derive(Clone, Copy)]
pub struct Spec {
    pub summary: &'static str,
    pub access: Access,
    pub body: Option<BodySpec>,
    pub query: &'static [(&'static str, &'static str)],
    pub answer: Answer,
    /// A raw upload of this media type instead of a JSON body.
    pub upload: Option<&'static str>,
}

impl Spec {
    pub const fn new(summary: &'static str, access: Access, answer: Answer) -> Self {
        Spec { summary, access, body: None, query: &[], answer, upload: None }
    }
    pub const fn body(mut self, body: SchemaFn) -> Self {
        self.body = Some(BodySpec { schema: body, shown_as: None });
        self
    }
    /// A body documented as the schema `name` with `required` fields (e.g. `ProductCreate` with
    /// `name` and `price_cents`, `ProductUpdate` with none) while one Rust type parses both.
    pub const fn body_as(mut self, body: SchemaFn, name: &'static str, required: &'static [&'static str]) -> Self {
        self.body = Some(BodySpec { schema: body, shown_as: Some((name, required)) });
        self
    }
    /// The body is a file of this media type (e.g. `application/vnd.sqlite3`).
    pub const fn upload(mut self, media_type: &'static str) -> Self {
        self.upload = Some(media_type);
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
    ///
    /// Resources under `/api/shop`, `/api/admin`, `/api/super-admin` and `/api/auth` go into one
    /// actix scope each: actix tries resources one after another, so without scopes a storefront
    /// request was matched against every super-admin path registered before it (measured: W1 at
    /// 0.75 × Floor B with the shop routes behind ~40 others, 0.88 × with them first).
    pub fn finish(&mut self) {
        let Some(cfg) = self.cfg.as_deref_mut() else { return };
        let mut scopes: Vec<(&'static str, actix_web::Scope)> = Vec::new();
        for PathRoutes { path, resource, methods } in self.resources.drain(..) {
            let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            let resource = resource.default_service(web::to(move || {
                let allow = allow.clone();
                async move { Err::<actix_web::HttpResponse, _>(crate::error::AppError::MethodNotAllowed { allow }) }
            }));
            match split_scope(path).0 {
                None => cfg.service(resource),
                Some(prefix) => {
                    let at = match scopes.iter().position(|(p, _)| *p == prefix) {
                        Some(at) => at,
                        None => {
                            scopes.push((prefix, web::scope(prefix)));
                            scopes.len() - 1
                        }
                    };
                    let scope = std::mem::replace(&mut scopes[at].1, web::scope(prefix));
                    scopes[at].1 = scope.service(resource);
                    continue;
                }
            };
        }
        for (_, scope) in scopes {
            cfg.service(scope);
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
                    // The guard never refuses: it records the matched template for the request
                    // metrics (free here, where actix has just matched it; `match_pattern` would
                    // match the path again and allocate).
                    let resource = web::resource(split_scope(path).1).guard(actix_web::guard::fn_guard(move |ctx| {
                        ctx.req_data_mut().insert(crate::observability::RouteTemplate(path));
                        true
                    }));
                    self.resources.push(PathRoutes { path, resource, methods: Vec::new() });
                    self.resources.len() - 1
                }
            };
            let entry = &mut self.resources[at];
            let mut resource = std::mem::replace(&mut entry.resource, web::resource(split_scope(path).1));
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
    pub fn put<F, Args>(&mut self, path: &'static str, spec: Spec, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PUT, path, spec, handler)
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

/// Path prefixes served from an actix scope of their own (see [`Api::finish`]).
const SCOPES: &[&str] = &["/api/shop", "/api/admin", "/api/super-admin", "/api/auth"];

/// A path's scope and its path inside it (`/api/shop/products/{id}` → `/api/shop`, `/products/{id}`;
/// `/api/shop` → `/api/shop`, ``); paths outside every scope stay whole.
fn split_scope(path: &'static str) -> (Option<&'static str>, &'static str) {
    for prefix in SCOPES {
        if let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return (Some(prefix), rest);
        }
    }
    (None, path)
}

/// The error body every failure answers with.
#[derive(serde::Serialize, JsonSchema)]
#[schemars(rename = "ApiError")]
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
    /// Schemas shown under another name with required fields: (name, the Rust type's schema, required).
    shown_as: Vec<(String, String, Vec<&'static str>)>,
    /// Request schemas referenced as themselves.
    used_directly: std::collections::BTreeSet<String>,
}

impl Default for Document {
    fn default() -> Self {
        let settings = |contract| SchemaSettings::openapi3().with(|s| s.contract = contract);
        Document {
            responses: settings(Contract::Serialize).into_generator(),
            requests: settings(Contract::Deserialize).into_generator(),
            paths: BTreeMap::new(),
            shown_as: Vec::new(),
            used_directly: Default::default(),
        }
    }
}

/// The group an operation is listed under (and the module a generated client puts it in).
fn tag(path: &str) -> &'static str {
    if path.starts_with("/api/auth") {
        "auth"
    } else if path.starts_with("/api/super-admin") {
        "super-admin"
    } else if path.starts_with("/api/shop/auth") || path == "/api/shop/me" {
        "customers"
    } else if path.starts_with("/api/shop") {
        "storefront"
    } else if path.starts_with("/api/admin") {
        "shop-admin"
    } else {
        "system"
    }
}

/// Paths answering one thing rather than a list: their GET is `get`, not `list`.
const SINGLETONS: &[&str] = &["me", "cart", "stats", "shop", "health", "metrics", "openapi.json", "export"];
/// Last path segments that are actions: their POST keeps the action's name alone.
const ACTIONS: &[&str] =
    &["login", "logout", "register", "migrate", "checkout", "restore", "import", "capture", "sync", "webhook", "move"];

/// A short, stable operation id: `shop_admin_products_list`, `storefront_checkout`, `auth_login`.
pub fn operation_id(method: &Method, path: &str) -> String {
    let words: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|w| !w.starts_with('{') && !w.is_empty() && *w != "api")
        .collect();
    let scope = match words.first().copied() {
        Some("admin") => "shop_admin",
        Some("shop") => "storefront",
        Some("super-admin") => "super_admin",
        _ => "",
    };
    let rest: Vec<&str> = if scope.is_empty() { words.clone() } else { words[1..].to_vec() };
    let last = rest.last().copied().unwrap_or("");
    let by_id = path.ends_with('}');
    let verb = match *method {
        Method::GET if by_id || SINGLETONS.contains(&last) || rest.is_empty() => Some("get"),
        Method::GET => Some("list"),
        Method::POST if ACTIONS.contains(&last) => None,
        Method::POST => Some("create"),
        Method::PATCH => Some("update"),
        Method::DELETE => Some("delete"),
        _ => Some("call"),
    };
    let mut parts: Vec<String> = Vec::new();
    if !scope.is_empty() {
        parts.push(scope.into());
    }
    parts.extend(rest.iter().map(|w| w.replace(['-', '.'], "_")));
    parts.extend(verb.map(String::from));
    parts.join("_")
}

fn error_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

impl Document {
    fn add(&mut self, method: &Method, path: &str, spec: &Spec) {
        let shop_scoped = matches!(spec.access, Access::Shop | Access::Customer | Access::Buyer | Access::ShopAdmin);
        let mut parameters: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| match name {
                "name" => json!({"name": name, "in": "path", "required": true,
                       "description": "a backup's name, as the list of backups gives it",
                       "schema": {"type": "string", "pattern": "^(manual|scheduled|pre-restore|final)-[0-9]{8}T[0-9]{9}Z(-[0-9]{1,4})?$"}}),
                _ => json!({"name": name, "in": "path", "required": true, "description": "the record's id",
                       "schema": {"type": "integer", "format": "int64", "minimum": 1}}),
            })
            .collect();
        parameters.extend(spec.query.iter().map(|(name, ty)| {
            let schema = match *name {
                "page" => json!({"type": "integer", "minimum": 1, "default": 1}),
                "per_page" => json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
                "status" if path.contains("/orders") => {
                    json!({"type": "string", "enum": ["pending", "paid", "shipped", "delivered", "cancelled"]})
                }
                "status" if path.contains("/clients") => {
                    json!({"type": "string", "enum": ["provisioning", "active", "suspended", "deleting"]})
                }
                "q" => json!({"type": "string", "maxLength": 200}),
                _ if name.ends_with("_id") => json!({"type": "integer", "format": "int64", "minimum": 1}),
                _ => json!({"type": ty}),
            };
            json!({"name": name, "in": "query", "required": false, "schema": schema})
        }));
        if shop_scoped {
            parameters.push(json!({"$ref": "#/components/parameters/XClient"}));
            parameters.push(json!({"$ref": "#/components/parameters/ClientQuery"}));
            parameters.push(json!({"$ref": "#/components/parameters/SessionCookie"}));
        }
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
            Answer::File(media_type) => {
                responses.insert(
                    "200".into(),
                    json!({"description": "the file", "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}),
                );
            }
            Answer::Text => {
                responses.insert(
                    "200".into(),
                    json!({"description": "success", "content": {"text/plain": {"schema": {"type": "string"}}}}),
                );
            }
        }
        let mut errors: Vec<(&str, &str)> = Vec::new();
        if spec.body.is_some() || spec.upload.is_some() {
            errors.extend([("400", "BadRequest"), ("413", "PayloadTooLarge"), ("422", "ValidationFailed")]);
        } else if !spec.query.is_empty() {
            errors.extend([("400", "BadRequest"), ("422", "ValidationFailed")]);
        }
        if !matches!(spec.access, Access::Public | Access::Shop) {
            errors.extend([("401", "Unauthorized"), ("403", "Forbidden")]);
        }
        if shop_scoped {
            errors.extend([("403", "Forbidden"), ("404", "NotFound"), ("503", "Unavailable")]);
        }
        if path.contains('{') {
            errors.push(("404", "NotFound"));
        }
        if matches!(*method, Method::POST | Method::PATCH | Method::DELETE) && spec.access != Access::Public {
            errors.push(("409", "Conflict"));
        }
        // Where a payment provider is called.
        if path.contains("/payment") || path.ends_with("/refunds") || path.ends_with("/checkout") {
            errors.push(("502", "BadGateway"));
        }
        if path.ends_with("/login") || path.ends_with("/register") {
            errors.extend([("429", "TooManyRequests"), ("503", "Unavailable")]);
        }
        for (status, name) in errors {
            responses.entry(status.to_string()).or_insert_with(|| error_ref(name));
        }
        responses.insert("default".into(), error_ref("Error"));
        let mut op = json!({
            "summary": spec.summary,
            "operationId": operation_id(method, path),
            "tags": [tag(path)],
            "parameters": parameters,
            "responses": responses,
            "x-access": format!("{:?}", spec.access),
        });
        op["security"] = match spec.access {
            Access::Public => json!([]),
            // A token is optional: a customer's or an admin's names their shop.
            Access::Shop => json!([{}, {"bearer": []}]),
            // A customer's token, a guest's cart token, or (a guest's first item) neither.
            Access::Buyer => json!([{"bearer": []}, {"cartToken": []}, {}]),
            _ => json!([{"bearer": []}]),
        };
        if let Some(body) = spec.body {
            let generated = (body.schema)(&mut self.requests);
            let base = generated
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .map(str::to_string);
            let schema = match (body.shown_as, base) {
                (Some((name, required)), Some(base)) => {
                    if !self.shown_as.iter().any(|(n, _, _)| n == name) {
                        self.shown_as.push((name.to_string(), base, required.to_vec()));
                    }
                    json!({"$ref": format!("#/components/schemas/{name}")})
                }
                (_, base) => {
                    self.used_directly.extend(base);
                    generated.to_value()
                }
            };
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
        }
        if let Some(media_type) = spec.upload {
            // Sent as its own type or as plain bytes; both are read the same way.
            op["requestBody"] = json!({"required": true,
                "content": {media_type: {"schema": {"type": "string", "format": "binary"}},
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}});
        }
        self.paths.entry(path.to_string()).or_default().insert(method.as_str().to_lowercase(), op);
    }

    /// The finished document.
    pub fn into_json(mut self) -> Value {
        self.responses.subschema_for::<ErrorBody>();
        let mut schemas = self.requests.take_definitions(true);
        let answers = self.responses.take_definitions(true);
        // A request type shown under another name is dropped under its own, unless an answer or
        // another body uses it as itself.
        for (name, _, _) in &self.shown_as {
            self.used_directly.insert(name.clone());
        }
        self.used_directly.extend(answers.keys().cloned());
        schemas.extend(answers);
        for (name, base, required) in &self.shown_as {
            let Some(mut shown) = schemas.get(base).cloned() else { continue };
            if let Some(props) = shown.get_mut("properties").and_then(Value::as_object_mut) {
                for field in required {
                    let Some(prop) = props.get_mut(*field) else { continue };
                    if let Some(inner) = without_null(prop) {
                        *prop = inner;
                    }
                    prop.as_object_mut().map(|p| p.remove("nullable"));
                }
            }
            shown["required"] = json!(required);
            if required.is_empty() {
                shown.as_object_mut().map(|o| o.remove("required"));
            }
            schemas.insert(name.clone(), shown);
        }
        for (_, base, _) in &self.shown_as {
            if !self.used_directly.contains(base) {
                schemas.remove(base);
            }
        }
        let types: BTreeMap<String, Value> = schemas
            .iter()
            .filter_map(|(name, s)| Some((format!("#/components/schemas/{name}"), s.get("type")?.clone())))
            .collect();
        for schema in schemas.values_mut() {
            tidy(schema, &types);
        }
        let error = json!({"$ref": "#/components/schemas/ApiError"});
        let response =
            |description: &str| json!({"description": description, "content": {"application/json": {"schema": error}}});
        let retry_after = json!({"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}});
        let mut too_many = response("too many requests (`rate_limited`) or failed sign-ins (`too_many_attempts`)");
        too_many["headers"] = retry_after.clone();
        let mut unavailable = response(
            "the shop is provisioning, suspended or being deleted (`client_unavailable`), or the server is busy (`overloaded`, with Retry-After)",
        );
        unavailable["headers"] = retry_after;
        json!({
            "openapi": "3.0.3",
            "info": {"title": "VergeFlow", "version": env!("CARGO_PKG_VERSION"),
                     "license": {"name": "MIT"},
                     "description": "Multi-tenant e-commerce API: one SQLite file per shop. Shop endpoints find their shop from the signed-in user, the Host subdomain or custom domain, the `client` query parameter or `X-Client` header, or the session cookie a `client` parameter set. Money is integer cents; timestamps are RFC 3339 UTC; errors are `{error, message}` (422s add `fields`)."},
            "servers": [
                {"url": "/", "description": "this server (name the shop with X-Client or ?client=)"},
                {"url": "http://{subdomain}.{base}", "description": "a shop by its subdomain",
                 "variables": {"subdomain": {"default": "shop1", "description": "the shop's subdomain"},
                               "base": {"default": "localhost:8080", "description": "VERGEFLOW_BASE_DOMAIN and port"}}}
            ],
            "tags": [
                {"name": "system", "description": "health, metrics, this document"},
                {"name": "auth", "description": "super admins and shop admins sign in"},
                {"name": "super-admin", "description": "the registry of shops"},
                {"name": "customers", "description": "a shop's customers sign up and in"},
                {"name": "storefront", "description": "catalog, cart, checkout, orders, reviews for buyers"},
                {"name": "shop-admin", "description": "a shop's administration"}
            ],
            "paths": self.paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a token from a sign-in, shown once"},
                                    "cartToken": {"type": "apiKey", "in": "header", "name": "Cart-Token",
                                                  "description": "a guest's cart: answered by the guest's first `POST /api/shop/cart/items`"}},
                "parameters": {
                    "XClient": {"name": "X-Client", "in": "header", "required": false,
                                "description": "the shop, by id (plain digits) or subdomain, when the Host does not name it",
                                "schema": {"type": "string", "pattern": "^([1-9][0-9]{0,17}|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$"}},
                    "ClientQuery": {"name": "client", "in": "query", "required": false,
                                    "description": "the shop, by id (plain digits) or subdomain, when the Host does not name it",
                                    "schema": {"type": "string", "pattern": "^([1-9][0-9]{0,17}|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$"}},
                    "SessionCookie": {"name": "vergeflow_session", "in": "cookie", "required": false,
                                      "description": "signed session cookie set by a response to a `client` parameter: later requests without a shop signal reach that shop",
                                      "schema": {"type": "string"}}
                },
                "responses": {
                    "BadRequest": response("malformed JSON, a body that is not UTF-8 JSON, or an invalid query string"),
                    "Unauthorized": response("not signed in, or the token is invalid, expired or revoked"),
                    "Forbidden": response("signed in but not allowed, or the request names two shops (`tenant_mismatch`)"),
                    "NotFound": response("no such record in this shop, or no such shop (`client_not_found`)"),
                    "Conflict": response("the change conflicts with the current state (`subdomain_taken`, `out_of_stock`, …)"),
                    "PayloadTooLarge": response("the body is larger than 64 KiB; the connection is closed"),
                    "ValidationFailed": response("the input is invalid; `fields` names each bad field"),
                    "TooManyRequests": too_many,
                    "Unavailable": unavailable,
                    "BadGateway": response("the payment provider failed or refused (`payment_provider_error`); its message is passed on"),
                    "Error": response("any other error")
                }
            }
        })
    }
}

/// Document-wide touches on a schema: no `default: null` on optional fields (generated clients
/// turn it into a required field, and sending the null would clear the value), and timestamps
/// (`…_at` strings) declared as `date-time`.
fn tidy(schema: &mut Value, types: &BTreeMap<String, Value>) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (name, prop) in props.iter_mut() {
        // `Option<Enum>` comes out as anyOf [the enum, {enum: [null]}]: say it the 3.0 way, with the
        // type `nullable` needs beside it.
        if let Some(inner) = without_null(prop) {
            let description = prop.get("description").cloned();
            let ty = inner.get("$ref").and_then(Value::as_str).and_then(|r| types.get(r)).cloned();
            *prop = json!({"allOf": [inner], "nullable": true});
            if let Some(ty) = ty {
                prop["type"] = ty;
            }
            if let Some(d) = description {
                prop["description"] = d;
            }
        }
        let Some(p) = prop.as_object_mut() else { continue };
        if p.get("default").is_some_and(Value::is_null) {
            p.remove("default");
        }
        if name.ends_with("_at") && p.get("type").and_then(Value::as_str) == Some("string") {
            p.insert("format".into(), json!("date-time"));
        }
    }
}

/// For `anyOf: [X, {enum: [null]}]`, X.
fn without_null(prop: &Value) -> Option<Value> {
    let any = prop.get("anyOf")?.as_array()?;
    let is_null = |v: &Value| v.get("enum").and_then(Value::as_array).is_some_and(|e| e.iter().all(Value::is_null));
    match any.as_slice() {
        [a, b] if is_null(b) => Some(a.clone()),
        [a, b] if is_null(a) => Some(b.clone()),
        _ => None,
    }
}
