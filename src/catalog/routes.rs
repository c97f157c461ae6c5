//! Catalog endpoints: `/api/admin/{categories,products}` for the shop's admin and
//! `/api/shop/{categories,products}` for the storefront.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::store::{self, Category, CategoryFields, Product, ProductFields, ProductFilter};
use super::variants::{self, Combination, Variant, VariantFields};
use crate::auth::Caller;
use crate::body::Body;
use crate::custom_fields;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, PAGE, Spec, schema};
use crate::pagination::{Page, PageQuery, Paginated};
use crate::recently_viewed;
use crate::tenancy::resolve::{Shop, ShopAdmin};
use crate::validate;

pub fn routes(api: &mut Api) {
    const SEARCH: &[(&str, &str)] =
        &[("q", "string"), ("category_id", "integer"), ("page", "integer"), ("per_page", "integer")];
    use Access::{Shop as Anyone, ShopAdmin as Admin};
    api.get(
        "/api/admin/categories",
        Spec::new("List categories", Admin, Answer::Json(200, schema::<Paginated<Category>>)).query(PAGE),
        admin_list_categories,
    )
    .post(
        "/api/admin/categories",
        Spec::new("Create a category", Admin, Answer::Json(201, schema::<Category>)).body_as(
            schema::<CategoryBody>,
            "CategoryCreate",
            &["name"],
        ),
        create_category,
    )
    .get(
        "/api/admin/categories/{id}",
        Spec::new("One category", Admin, Answer::Json(200, schema::<Category>)),
        show_category,
    )
    .patch(
        "/api/admin/categories/{id}",
        Spec::new("Change a category", Admin, Answer::Json(200, schema::<Category>)).body_as(
            schema::<CategoryBody>,
            "CategoryUpdate",
            &[],
        ),
        update_category,
    )
    .delete("/api/admin/categories/{id}", Spec::new("Delete a category", Admin, Answer::NoContent), delete_category)
    .get(
        "/api/admin/products",
        Spec::new("List and search all products", Admin, Answer::Json(200, schema::<Paginated<Product>>)).query(SEARCH),
        admin_list_products,
    )
    .post(
        "/api/admin/products",
        Spec::new("Create a product", Admin, Answer::Json(201, schema::<Product>)).body_as(
            schema::<ProductBody>,
            "ProductCreate",
            &["name", "price_cents"],
        ),
        create_product,
    )
    .get(
        "/api/admin/products/{id}",
        Spec::new("One product", Admin, Answer::Json(200, schema::<Product>)),
        admin_show_product,
    )
    .patch(
        "/api/admin/products/{id}",
        Spec::new("Change a product", Admin, Answer::Json(200, schema::<Product>)).body_as(
            schema::<ProductBody>,
            "ProductUpdate",
            &[],
        ),
        update_product,
    )
    .delete("/api/admin/products/{id}", Spec::new("Delete a product", Admin, Answer::NoContent), delete_product)
    .get(
        "/api/admin/products/{id}/variants",
        Spec::new("A product's variants", Admin, Answer::Json(200, schema::<Vec<Variant>>)),
        list_variants,
    )
    .post(
        "/api/admin/products/{id}/variants",
        Spec::new("Add a variant to a product that has options", Admin, Answer::Json(201, schema::<Variant>)).body_as(
            schema::<VariantBody>,
            "VariantCreate",
            &["price_cents", "options"],
        ),
        create_variant,
    )
    .get(
        "/api/admin/variants/{id}",
        Spec::new("One variant", Admin, Answer::Json(200, schema::<Variant>)),
        show_variant,
    )
    .patch(
        "/api/admin/variants/{id}",
        Spec::new("Change a variant", Admin, Answer::Json(200, schema::<Variant>)).body_as(
            schema::<VariantBody>,
            "VariantUpdate",
            &[],
        ),
        update_variant,
    )
    .delete(
        "/api/admin/variants/{id}",
        Spec::new("Delete a variant (a product keeps at least one)", Admin, Answer::NoContent),
        delete_variant,
    )
    .get(
        "/api/shop/categories",
        Spec::new("The shop's categories", Anyone, Answer::Json(200, schema::<Paginated<Category>>)).query(PAGE),
        shop_list_categories,
    )
    .get(
        "/api/shop/products",
        Spec::new("Browse and search active products", Anyone, Answer::Json(200, schema::<Paginated<Product>>))
            .query(SEARCH),
        shop_list_products,
    )
    .get(
        "/api/shop/products/{id}",
        Spec::new("One active product", Anyone, Answer::Json(200, schema::<Product>)),
        shop_show_product,
    );
}

fn not_found(what: &str) -> AppError {
    AppError::not_found("not_found", format!("no such {what}"))
}

async fn list_categories(shop: &Shop, q: &PageQuery) -> Result<web::Json<Paginated<Category>>, AppError> {
    let page = Page::from_query(q)?;
    let (rows, total) = shop.db.run(move |c| Ok(store::list_categories(c, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

async fn admin_list_categories(
    admin: ShopAdmin,
    q: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<Category>>, AppError> {
    list_categories(&admin.0, &q).await
}

async fn shop_list_categories(
    shop: Shop,
    q: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<Category>>, AppError> {
    list_categories(&shop, &q).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Kitchen"}))]
pub(crate) struct CategoryBody {
    #[schemars(length(min = 1, max = 200))]
    name: Option<String>,
    slug: Option<String>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>")]
    parent_id: Option<Option<i64>>,
    /// Search engines' title for the page (≤ 200 characters); null clears it.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(max = 200))]
    meta_title: Option<Option<String>>,
    /// Search engines' description (≤ 500 characters); null clears it.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(max = 500))]
    meta_description: Option<Option<String>>,
}

/// Checks the SEO fields' lengths.
fn seo(
    errors: &mut FieldErrors,
    field: &'static str,
    value: Option<Option<String>>,
    max: usize,
) -> Option<Option<String>> {
    match value {
        Some(Some(v)) if v.chars().count() > max => {
            errors.add(field, format!("must be at most {max} characters"));
            None
        }
        v => v,
    }
}

impl CategoryBody {
    /// Validates; on create the name is required and the slug defaults to one made from it.
    pub(crate) fn parse(self, creating: bool) -> Result<CategoryFields, AppError> {
        let mut errors = FieldErrors::default();
        if creating && self.name.is_none() {
            errors.add("name", "is required");
        }
        let name = self.name.as_deref().and_then(|n| errors.take("name", validate::name(n)));
        let slug = match (self.slug.as_deref(), &name) {
            (Some(s), _) => errors.take("slug", validate::slug(s)),
            (None, Some(n)) if creating => Some(validate::slugify(n)),
            _ => None,
        };
        let meta_title = seo(&mut errors, "meta_title", self.meta_title, 200);
        let meta_description = seo(&mut errors, "meta_description", self.meta_description, 500);
        errors.into_result()?;
        Ok(CategoryFields { name, slug, parent_id: self.parent_id, meta_title, meta_description })
    }
}

async fn create_category(admin: ShopAdmin, body: Body<CategoryBody>) -> Result<HttpResponse, AppError> {
    let f = body.into_inner().parse(true)?;
    let created = admin.0.db.write(move |tx| store::insert_category_with(tx, &f)).await?;
    Ok(HttpResponse::Created().json(created))
}

async fn show_category(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<Category>, AppError> {
    let id = id.into_inner();
    admin.0.db.run(move |c| store::find_category(c, id)?.ok_or_else(|| not_found("category"))).await.map(web::Json)
}

async fn update_category(
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<CategoryBody>,
) -> Result<web::Json<Category>, AppError> {
    let (id, f) = (id.into_inner(), body.into_inner().parse(false)?);
    admin.0.db.write(move |tx| store::update_category(tx, id, &f)).await.map(web::Json)
}

async fn delete_category(admin: ShopAdmin, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    admin.0.db.write(move |tx| store::delete_category(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct ProductQuery {
    q: Option<String>,
    category_id: Option<i64>,
    page: Option<i64>,
    per_page: Option<i64>,
}

async fn list_products(
    shop: &Shop,
    req: &HttpRequest,
    q: ProductQuery,
    active_only: bool,
) -> Result<web::Json<Paginated<Product>>, AppError> {
    let page = Page::parse(q.page, q.per_page)?;
    if q.q.as_ref().is_some_and(|s| s.len() > 200) {
        return Err(AppError::invalid_field("q", "must be at most 200 characters"));
    }
    let wanted = custom_fields::query_filters(req.query_string());
    let (rows, total) = shop
        .db
        .run(move |c| {
            let custom = custom_fields::store::filters(c, custom_fields::Entity::Product, &wanted)?;
            let filter = ProductFilter { q: q.q, category_id: q.category_id, active_only, custom };
            let (mut rows, total) = store::search_products(c, &filter, page)?;
            if active_only {
                rows.iter_mut().for_each(storefront_view);
            }
            Ok((rows, total))
        })
        .await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

async fn admin_list_products(
    admin: ShopAdmin,
    req: HttpRequest,
    q: web::Query<ProductQuery>,
) -> Result<web::Json<Paginated<Product>>, AppError> {
    list_products(&admin.0, &req, q.into_inner(), false).await
}

async fn shop_list_products(
    shop: Shop,
    req: HttpRequest,
    q: web::Query<ProductQuery>,
) -> Result<web::Json<Paginated<Product>>, AppError> {
    list_products(&shop, &req, q.into_inner(), true).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Red Kettle", "description": "Boils water fast", "price_cents": 2999, "stock": 25, "category_id": 1}))]
pub(crate) struct ProductBody {
    #[schemars(length(min = 1, max = 200))]
    name: Option<String>,
    #[schemars(regex(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"), length(max = 200))]
    slug: Option<String>,
    #[schemars(length(min = 0, max = 20000))]
    description: Option<String>,
    #[schemars(range(min = 0, max = 1_000_000_000))]
    price_cents: Option<i64>,
    #[schemars(range(min = 0, max = 1_000_000))]
    stock: Option<i64>,
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>")]
    category_id: Option<Option<i64>>,
    active: Option<bool>,
    /// Values of the shop's product custom fields by key; null removes one (see `/api/admin/custom-fields`).
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    custom: Option<serde_json::Map<String, serde_json::Value>>,
    /// Shipping weight in grams (for weight-band shipping methods).
    #[schemars(range(min = 0, max = 100000000))]
    weight_grams: Option<i64>,
    /// Search engines' title for the page (≤ 200 characters); null clears it.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(max = 200))]
    meta_title: Option<Option<String>>,
    /// Search engines' description (≤ 500 characters); null clears it.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(max = 500))]
    meta_description: Option<Option<String>>,
    /// The product's options, replacing the current ones (at most 3, each with 1–50 values).
    /// Variants keep the values still offered; a new option gives every variant its first value.
    options: Option<Vec<super::variants::ProductOption>>,
}

impl ProductBody {
    pub(crate) fn parse(self, creating: bool) -> Result<ProductFields, AppError> {
        let mut errors = FieldErrors::default();
        if creating {
            for (field, missing) in [("name", self.name.is_none()), ("price_cents", self.price_cents.is_none())] {
                if missing {
                    errors.add(field, "is required");
                }
            }
        }
        let name = self.name.as_deref().and_then(|n| errors.take("name", validate::name(n)));
        let slug = match (self.slug.as_deref(), &name) {
            (Some(s), _) => errors.take("slug", validate::slug(s)),
            (None, Some(n)) if creating => Some(validate::slugify(n)),
            _ => None,
        };
        let fields = ProductFields {
            description: self
                .description
                .as_deref()
                .and_then(|d| errors.take("description", validate::text(d, 0, 20_000))),
            price_cents: self.price_cents.and_then(|p| errors.take("price_cents", validate::price_cents(p))),
            stock: self.stock.and_then(|s| errors.take("stock", validate::stock(s))),
            category_id: self.category_id,
            active: self.active,
            custom: self.custom,
            weight_grams: match self.weight_grams {
                Some(w) if !(0..=100_000_000).contains(&w) => {
                    errors.add("weight_grams", "must be 0 to 100000000");
                    None
                }
                w => w,
            },
            meta_title: seo(&mut errors, "meta_title", self.meta_title, 200),
            meta_description: seo(&mut errors, "meta_description", self.meta_description, 500),
            options: self.options,
            name,
            slug,
        };
        errors.into_result()?;
        Ok(fields)
    }
}

async fn create_product(admin: ShopAdmin, body: Body<ProductBody>) -> Result<HttpResponse, AppError> {
    let f = body.into_inner().parse(true)?;
    let created = insert_product(&admin, f).await?;
    Ok(HttpResponse::Created().json(created))
}

/// A new product within the shop's product quota (the API's and the console's).
pub(crate) async fn insert_product(admin: &ShopAdmin, f: ProductFields) -> Result<Product, AppError> {
    let max = admin.0.client.quotas.max_products;
    admin
        .0
        .db
        .write(move |tx| {
            if let Some(max) = max {
                let have: i64 = tx.query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0))?;
                if have >= max {
                    return Err(AppError::unprocessable(
                        "quota_exceeded",
                        format!("this shop may have at most {max} products; ask the operator for more"),
                    ));
                }
            }
            store::insert_product(tx, &f)
        })
        .await
}

async fn admin_show_product(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<Product>, AppError> {
    let id = id.into_inner();
    admin.0.db.run(move |c| store::find_product(c, id, false)?.ok_or_else(|| not_found("product"))).await.map(web::Json)
}

pub(crate) async fn update_product(
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<ProductBody>,
) -> Result<web::Json<Product>, AppError> {
    let (id, f) = (id.into_inner(), body.into_inner().parse(false)?);
    admin.0.db.write(move |tx| store::update_product(tx, id, &f)).await.map(web::Json)
}

async fn delete_product(admin: ShopAdmin, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    admin.0.db.write(move |tx| store::delete_product(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What the storefront shows of a product: its variants on sale only.
fn storefront_view(p: &mut Product) {
    p.variants.retain(|v| v.active);
}

/// One active product; a signed-in customer's view is recorded in their recently viewed list
/// (unless the shop has that feature off).
async fn shop_show_product(shop: Shop, id: web::Path<i64>) -> Result<web::Json<Product>, AppError> {
    let id = id.into_inner();
    let viewer = match shop.caller {
        Caller::Customer { customer_id, .. }
            if shop.client.features.is_on(crate::features::Feature::RecentlyViewed) =>
        {
            Some(customer_id)
        }
        _ => None,
    };
    let mut product =
        shop.db.run(move |c| store::find_product(c, id, true)?.ok_or_else(|| not_found("product"))).await?;
    storefront_view(&mut product);
    if let Some(user_id) = viewer {
        shop.db.write(move |tx| Ok(recently_viewed::record(tx, user_id, id)?)).await?;
    }
    Ok(web::Json(product))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"sku": "KETTLE-RED-L", "price_cents": 3499, "stock": 5, "options": {"colour": "red", "size": "L"}}))]
pub(crate) struct VariantBody {
    /// Unique in the shop; 1–64 characters; null clears it.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(min = 1, max = 64))]
    sku: Option<Option<String>>,
    #[schemars(range(min = 0, max = 1_000_000_000))]
    price_cents: Option<i64>,
    /// The "was" price shown struck through; null clears it.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>", range(min = 0, max = 1_000_000_000))]
    compare_at_price_cents: Option<Option<i64>>,
    #[schemars(range(min = 0, max = 1_000_000))]
    stock: Option<i64>,
    /// Null: the product's weight.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<i64>", range(min = 0, max = 100000000))]
    weight_grams: Option<Option<i64>>,
    /// One value for each of the product's options, by option name.
    options: Option<Combination>,
    active: Option<bool>,
}

impl VariantBody {
    pub(crate) fn parse(self) -> Result<VariantFields, AppError> {
        let mut errors = FieldErrors::default();
        let sku = match self.sku {
            Some(Some(s)) => errors.take("sku", validate_sku(&s)).map(Some),
            other => other,
        };
        let money = |errors: &mut FieldErrors, field: &str, v: Option<i64>| {
            v.and_then(|p| errors.take(field, validate::price_cents(p)))
        };
        let fields = VariantFields {
            price_cents: money(&mut errors, "price_cents", self.price_cents),
            compare_at_price_cents: match self.compare_at_price_cents {
                Some(Some(p)) => money(&mut errors, "compare_at_price_cents", Some(p)).map(Some),
                other => other,
            },
            stock: self.stock.and_then(|s| errors.take("stock", validate::stock(s))),
            weight_grams: match self.weight_grams {
                Some(Some(w)) if !(0..=100_000_000).contains(&w) => {
                    errors.add("weight_grams", "must be 0 to 100000000");
                    None
                }
                w => w,
            },
            options: self.options,
            active: self.active,
            sku,
        };
        errors.into_result()?;
        Ok(fields)
    }
}

/// A SKU: 1–64 printable characters without spaces at either end.
pub fn validate_sku(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().count() > 64 || s.trim() != s || s.chars().any(char::is_control) {
        return Err("must be 1–64 characters without control characters or surrounding spaces".into());
    }
    Ok(s.to_string())
}

async fn list_variants(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<Vec<Variant>>, AppError> {
    let id = id.into_inner();
    admin
        .0
        .db
        .run(move |c| {
            store::find_product(c, id, false)?.ok_or_else(|| not_found("product"))?;
            Ok(variants::of_product(c, id)?)
        })
        .await
        .map(web::Json)
}

async fn create_variant(
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<VariantBody>,
) -> Result<HttpResponse, AppError> {
    let (id, f) = (id.into_inner(), body.into_inner().parse()?);
    let created = admin.0.db.write(move |tx| variants::insert(tx, id, &f)).await?;
    Ok(HttpResponse::Created().json(created))
}

async fn show_variant(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<Variant>, AppError> {
    let id = id.into_inner();
    admin.0.db.run(move |c| variants::find(c, id)?.ok_or_else(|| not_found("variant"))).await.map(web::Json)
}

async fn update_variant(
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<VariantBody>,
) -> Result<web::Json<Variant>, AppError> {
    let (id, f) = (id.into_inner(), body.into_inner().parse()?);
    admin.0.db.write(move |tx| variants::update(tx, id, &f)).await.map(web::Json)
}

async fn delete_variant(admin: ShopAdmin, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    admin.0.db.write(move |tx| variants::delete(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
