//! Global content (`/api/super-admin/banners`, `/pages`, `/settings`), a shop's own content
//! (`/api/admin/banners`, `/pages`) and the storefront's merged view (`/api/shop/banners`,
//! `/api/shop/pages/{slug}`). One set of handlers serves both places.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};

use super::store::{self, Banner, BannerFields, PageFields, StoredPage};
use crate::auth::caller::SuperAdmin;
use crate::body::Body;
use crate::db::MainDb;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, PAGE, Spec, schema};
use crate::pagination::{Page, PageQuery, Paginated};
use crate::state::AppState;
use crate::tenancy::pools::ClientDb;
use crate::tenancy::resolve::{Shop, ShopAdmin};
use crate::validate;

/// Where a request's content lives.
pub enum Place {
    /// main.db: the global content, the super admin's.
    Main(MainDb),
    /// One shop's file: that shop's own content, its admin's.
    Shop(ClientDb),
}

impl Place {
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        match self {
            Place::Main(db) => db.run(move |c| f(c)).await,
            Place::Shop(db) => db.run(move |c| f(c)).await,
        }
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        match self {
            Place::Main(db) => db.write(f).await,
            Place::Shop(db) => db.write(f).await,
        }
    }
}

/// An extractor that authorises a request and names the place it manages.
pub(crate) trait Manages: FromRequest<Error = AppError> + 'static {
    fn place(self) -> Place;
}

/// The super admin, managing global content.
pub struct Global(pub MainDb);

impl FromRequest for Global {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let who = SuperAdmin::from_request(req, payload);
        let main = req.app_data::<web::Data<AppState>>().map(|s| s.main.clone());
        Box::pin(async move {
            who.await?;
            main.map(Global).ok_or_else(|| AppError::Internal(anyhow::anyhow!("no application state")))
        })
    }
}

impl Manages for Global {
    fn place(self) -> Place {
        Place::Main(self.0)
    }
}

/// A shop's admin, managing the shop's own content.
pub struct Own(pub ShopAdmin);

impl FromRequest for Own {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let admin = ShopAdmin::from_request(req, payload);
        Box::pin(async move { Ok(Own(admin.await?)) })
    }
}

impl Manages for Own {
    fn place(self) -> Place {
        Place::Shop(self.0.0.db)
    }
}

struct Paths {
    banners: &'static str,
    banner: &'static str,
    pages: &'static str,
    page: &'static str,
}

fn manage<M: Manages>(api: &mut Api, access: Access, p: Paths) {
    api.get(
        p.banners,
        Spec::new("Banners", access, Answer::Json(200, schema::<Paginated<Banner>>)).query(PAGE),
        list_banners::<M>,
    )
    .post(
        p.banners,
        Spec::new("Add a banner", access, Answer::Json(201, schema::<Banner>)).body_as(
            schema::<BannerBody>,
            "BannerCreate",
            &["title"],
        ),
        create_banner::<M>,
    )
    .get(p.banner, Spec::new("One banner", access, Answer::Json(200, schema::<Banner>)), show_banner::<M>)
    .patch(
        p.banner,
        Spec::new("Change a banner", access, Answer::Json(200, schema::<Banner>)).body_as(
            schema::<BannerBody>,
            "BannerUpdate",
            &[],
        ),
        update_banner::<M>,
    )
    .delete(p.banner, Spec::new("Remove a banner", access, Answer::NoContent), delete_banner::<M>)
    .get(
        p.pages,
        Spec::new("Pages", access, Answer::Json(200, schema::<Paginated<PageView>>)).query(PAGE),
        list_pages::<M>,
    )
    .post(
        p.pages,
        Spec::new("Add a page", access, Answer::Json(201, schema::<PageView>)).body_as(
            schema::<PageBody>,
            "PageCreate",
            &["slug", "title"],
        ),
        create_page::<M>,
    )
    .get(p.page, Spec::new("One page", access, Answer::Json(200, schema::<PageView>)), show_page::<M>)
    .patch(
        p.page,
        Spec::new("Change a page", access, Answer::Json(200, schema::<PageView>)).body_as(
            schema::<PageBody>,
            "PageUpdate",
            &[],
        ),
        update_page::<M>,
    )
    .delete(p.page, Spec::new("Remove a page", access, Answer::NoContent), delete_page::<M>);
}

pub fn routes(api: &mut Api) {
    manage::<Global>(
        api,
        Access::SuperAdmin,
        Paths {
            banners: "/api/super-admin/banners",
            banner: "/api/super-admin/banners/{id}",
            pages: "/api/super-admin/pages",
            page: "/api/super-admin/pages/{id}",
        },
    );
    manage::<Own>(
        api,
        Access::ShopAdmin,
        Paths {
            banners: "/api/admin/banners",
            banner: "/api/admin/banners/{id}",
            pages: "/api/admin/pages",
            page: "/api/admin/pages/{id}",
        },
    );
    api.get(
        "/api/shop/banners",
        Spec::new(
            "Banners showing now, global and the shop's own, in display order",
            Access::Shop,
            Answer::Json(200, schema::<ShownBanners>),
        ),
        shop_banners,
    )
    .get(
        "/api/shop/pages/{slug}",
        Spec::new(
            "A published page: the shop's own, else the global one with that slug",
            Access::Shop,
            Answer::Json(200, schema::<PageView>),
        ),
        shop_page,
    )
    .get(
        "/api/super-admin/settings",
        Spec::new("Global settings", Access::SuperAdmin, Answer::Json(200, schema::<GlobalSettings>)),
        get_settings,
    )
    .put(
        "/api/super-admin/settings",
        Spec::new(
            "Set global settings (a key with null is removed; other keys are kept)",
            Access::SuperAdmin,
            Answer::Json(200, schema::<GlobalSettings>),
        )
        .body(schema::<GlobalSettings>),
        put_settings,
    );
}

// --- banners ---

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"title": "Winter sale", "link_url": "/sale", "position": 1, "starts_at": "2026-12-01T00:00:00Z"}))]
pub(crate) struct BannerBody {
    #[schemars(length(min = 1, max = 200))]
    title: Option<String>,
    /// `https://…`, `http://…` or a path on the shop (`/…`).
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(max = 2000))]
    image_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(max = 2000))]
    link_url: Option<Option<String>>,
    #[schemars(range(min = -1000000, max = 1000000))]
    position: Option<i64>,
    active: Option<bool>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>")]
    starts_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>")]
    ends_at: Option<Option<String>>,
}

/// A link a banner may carry: http(s) or a path on the shop, one line, no script.
fn link(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let shape_ok =
        s.starts_with("https://") || s.starts_with("http://") || (s.starts_with('/') && !s.starts_with("//"));
    if !shape_ok || s.len() > 2000 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be an http(s) URL or a path starting with /, at most 2000 characters".into());
    }
    Ok(s.to_string())
}

impl BannerBody {
    fn check(self, creating: bool) -> Result<BannerFields, AppError> {
        let mut e = FieldErrors::default();
        if creating && self.title.is_none() {
            e.add("title", "is required");
        }
        let nullable = |e: &mut FieldErrors,
                        field: &str,
                        v: Option<Option<String>>,
                        f: fn(&str) -> Result<String, String>| match v {
            Some(Some(s)) => e.take(field, f(&s)).map(Some),
            other => other,
        };
        let f = BannerFields {
            title: self.title.and_then(|t| e.take("title", validate::name(&t))),
            image_url: nullable(&mut e, "image_url", self.image_url, link),
            link_url: nullable(&mut e, "link_url", self.link_url, link),
            position: match self.position {
                Some(p) if !(-1_000_000..=1_000_000).contains(&p) => {
                    e.add("position", "must be -1000000 to 1000000");
                    None
                }
                p => p,
            },
            active: self.active,
            starts_at: nullable(&mut e, "starts_at", self.starts_at, validate::timestamp),
            ends_at: nullable(&mut e, "ends_at", self.ends_at, validate::timestamp),
        };
        e.into_result()?;
        Ok(f)
    }
}

pub(crate) async fn list_banners<M: Manages>(
    m: M,
    q: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<Banner>>, AppError> {
    let page = Page::from_query(&q)?;
    let (rows, total) = m.place().run(move |c| Ok(store::banners(c, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

pub(crate) async fn create_banner<M: Manages>(m: M, body: Body<BannerBody>) -> Result<HttpResponse, AppError> {
    let f = body.into_inner().check(true)?;
    let created = m.place().write(move |tx| store::insert_banner(tx, &f)).await?;
    Ok(HttpResponse::Created().json(created))
}

async fn show_banner<M: Manages>(m: M, id: web::Path<i64>) -> Result<web::Json<Banner>, AppError> {
    let id = id.into_inner();
    let found = m.place().run(move |c| Ok(store::find_banner(c, id)?)).await?;
    found.map(web::Json).ok_or_else(|| AppError::not_found("not_found", "no such banner"))
}

async fn update_banner<M: Manages>(
    m: M,
    id: web::Path<i64>,
    body: Body<BannerBody>,
) -> Result<web::Json<Banner>, AppError> {
    let (id, f) = (id.into_inner(), body.into_inner().check(false)?);
    m.place().write(move |tx| store::update_banner(tx, id, &f)).await.map(web::Json)
}

pub(crate) async fn delete_banner<M: Manages>(m: M, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    m.place().write(move |tx| store::delete_banner(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// --- pages ---

/// A page: its Markdown as written and the HTML made from it (sanitised).
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 1, "slug": "terms", "title": "Terms", "body": "# Terms\n\nBe **kind**.",
    "html": "<h1>Terms</h1>\n<p>Be <strong>kind</strong>.</p>\n", "published": true, "scope": "shop",
    "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z"}))]
pub(crate) struct PageView {
    id: i64,
    slug: String,
    title: String,
    /// Markdown, as written.
    body: String,
    /// The body as HTML: no scripts, event handlers or `javascript:` links.
    html: String,
    published: bool,
    /// `global` (the super admin's) or `shop` (the shop's own).
    scope: &'static str,
    created_at: String,
    updated_at: String,
}

fn view(p: StoredPage, scope: &'static str) -> PageView {
    PageView {
        html: super::render_markdown(&p.body),
        id: p.id,
        slug: p.slug,
        title: p.title,
        body: p.body,
        published: p.published,
        scope,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn scope_of(place: &Place) -> &'static str {
    match place {
        Place::Main(_) => "global",
        Place::Shop(_) => "shop",
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"slug": "terms", "title": "Terms", "body": "# Terms\n\nBe **kind**.", "published": true}))]
pub(crate) struct PageBody {
    #[schemars(length(min = 1, max = 100))]
    slug: Option<String>,
    #[schemars(length(min = 1, max = 200))]
    title: Option<String>,
    /// Markdown, at most 50,000 characters.
    #[schemars(length(max = 50000))]
    body: Option<String>,
    published: Option<bool>,
}

impl PageBody {
    fn check(self, creating: bool) -> Result<PageFields, AppError> {
        let mut e = FieldErrors::default();
        if creating {
            for (field, missing) in [("slug", self.slug.is_none()), ("title", self.title.is_none())] {
                if missing {
                    e.add(field, "is required");
                }
            }
        }
        let f = PageFields {
            slug: self.slug.and_then(|s| {
                e.take(
                    "slug",
                    validate::slug(&s).and_then(|s| {
                        if s.len() <= 100 { Ok(s) } else { Err("must be at most 100 characters".into()) }
                    }),
                )
            }),
            title: self.title.and_then(|t| e.take("title", validate::name(&t))),
            // Kept exactly as written: leading spaces mean something in Markdown.
            body: self.body.and_then(|b| {
                if b.chars().count() > 50_000 {
                    e.add("body", "must be at most 50000 characters");
                    None
                } else if b.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
                    e.add("body", "must not contain control characters");
                    None
                } else {
                    Some(b)
                }
            }),
            published: self.published,
        };
        e.into_result()?;
        Ok(f)
    }
}

pub(crate) async fn list_pages<M: Manages>(
    m: M,
    q: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<PageView>>, AppError> {
    let page = Page::from_query(&q)?;
    let place = m.place();
    let scope = scope_of(&place);
    let (rows, total) = place.run(move |c| Ok(store::pages(c, page)?)).await?;
    Ok(web::Json(Paginated::new(rows.into_iter().map(|p| view(p, scope)).collect(), page, total)))
}

pub(crate) async fn create_page<M: Manages>(m: M, body: Body<PageBody>) -> Result<HttpResponse, AppError> {
    let f = body.into_inner().check(true)?;
    let place = m.place();
    let scope = scope_of(&place);
    let created = place.write(move |tx| store::insert_page(tx, &f)).await?;
    Ok(HttpResponse::Created().json(view(created, scope)))
}

async fn show_page<M: Manages>(m: M, id: web::Path<i64>) -> Result<web::Json<PageView>, AppError> {
    let id = id.into_inner();
    let place = m.place();
    let scope = scope_of(&place);
    let found = place.run(move |c| Ok(store::find_page(c, id)?)).await?;
    found.map(|p| web::Json(view(p, scope))).ok_or_else(|| AppError::not_found("not_found", "no such page"))
}

async fn update_page<M: Manages>(
    m: M,
    id: web::Path<i64>,
    body: Body<PageBody>,
) -> Result<web::Json<PageView>, AppError> {
    let (id, f) = (id.into_inner(), body.into_inner().check(false)?);
    let place = m.place();
    let scope = scope_of(&place);
    let page = place.write(move |tx| store::update_page(tx, id, &f)).await?;
    Ok(web::Json(view(page, scope)))
}

pub(crate) async fn delete_page<M: Manages>(m: M, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    m.place().write(move |tx| store::delete_page(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// --- the storefront ---

/// A banner as the storefront shows it.
#[derive(Serialize, schemars::JsonSchema)]
struct ShownBanner {
    #[serde(flatten)]
    banner: Banner,
    /// `global` or `shop`.
    scope: &'static str,
}

#[derive(Serialize, schemars::JsonSchema)]
struct ShownBanners {
    data: Vec<ShownBanner>,
}

async fn shop_banners(state: web::Data<AppState>, shop: Shop) -> Result<web::Json<ShownBanners>, AppError> {
    let now = validate::now_timestamp();
    let at = now.clone();
    let global = state.main.run(move |c| Ok(store::showing(c, &at)?)).await?;
    let own = shop.db.run(move |c| Ok(store::showing(c, &now)?)).await?;
    let mut data: Vec<ShownBanner> = global
        .into_iter()
        .map(|banner| ShownBanner { banner, scope: "global" })
        .chain(own.into_iter().map(|banner| ShownBanner { banner, scope: "shop" }))
        .collect();
    // Display order: position, then global before the shop's own, then age.
    data.sort_by_key(|b| (b.banner.position, b.scope == "shop", b.banner.id));
    Ok(web::Json(ShownBanners { data }))
}

async fn shop_page(
    state: web::Data<AppState>,
    shop: Shop,
    slug: web::Path<String>,
) -> Result<web::Json<PageView>, AppError> {
    let missing = || AppError::not_found("not_found", "no such page");
    let slug = validate::slug(&slug).map_err(|_| missing())?;
    let wanted = slug.clone();
    if let Some(own) = shop.db.run(move |c| Ok(store::published(c, &wanted)?)).await? {
        return Ok(web::Json(view(own, "shop")));
    }
    let global = state.main.run(move |c| Ok(store::published(c, &slug)?)).await?;
    global.map(|p| web::Json(view(p, "global"))).ok_or_else(missing)
}

// --- global settings ---

/// Global settings: string values by key (`[a-z][a-z0-9_.]{0,99}`), for storefronts and
/// integrations (`site_name`, `support_email`, …). The feature defaults are kept apart, at
/// `/api/super-admin/features`.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"site_name": "VergeFlow shops", "support_email": "help@example.com"}))]
pub(crate) struct GlobalSettings(std::collections::BTreeMap<String, Option<String>>);

/// Keys the server keeps for itself: never listed, never set here (`session_key` signs session
/// cookies; `features` holds the feature defaults).
const RESERVED: &[&str] = &["features", "session_key"];

fn key_ok(k: &str) -> bool {
    let b = k.as_bytes();
    (1..=100).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'.')
}

fn read_settings(c: &rusqlite::Connection) -> Result<GlobalSettings, AppError> {
    let rows: Vec<(String, String)> = c
        .prepare("SELECT key, value FROM settings ORDER BY key")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(GlobalSettings(
        rows.into_iter().filter(|(k, _)| !RESERVED.contains(&k.as_str())).map(|(k, v)| (k, Some(v))).collect(),
    ))
}

pub(crate) async fn get_settings(
    state: web::Data<AppState>,
    _: SuperAdmin,
) -> Result<web::Json<GlobalSettings>, AppError> {
    state.main.run(|c| read_settings(c)).await.map(web::Json)
}

pub(crate) async fn put_settings(
    state: web::Data<AppState>,
    _: SuperAdmin,
    body: Body<GlobalSettings>,
) -> Result<web::Json<GlobalSettings>, AppError> {
    let changes = body.into_inner().0;
    let mut e = FieldErrors::default();
    for (k, v) in &changes {
        if RESERVED.contains(&k.as_str()) {
            e.add(k, "is kept by the server (the feature defaults are at /api/super-admin/features)");
        } else if !key_ok(k) {
            e.add(k, "keys are a lowercase letter, then a-z, 0-9, _ or ., at most 100 characters");
        } else if let Some(v) = v {
            e.take(k, validate::text(v, 0, 10_000));
        }
    }
    e.into_result()?;
    let settings = state
        .main
        .write(move |tx| {
            for (k, v) in &changes {
                match v {
                    Some(v) => tx.execute(
                        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                             updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
                        rusqlite::params![k, v],
                    )?,
                    None => tx.execute("DELETE FROM settings WHERE key = ?1", [k])?,
                };
            }
            read_settings(tx)
        })
        .await?;
    Ok(web::Json(settings))
}
