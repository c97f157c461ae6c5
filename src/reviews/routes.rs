//! `/api/shop/products/{id}/reviews` for the storefront; `/api/admin/reviews` for moderation.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::store::{self, Review};
use crate::body::Body;
use crate::catalog::store::find_product;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, PAGE, Spec, schema};
use crate::pagination::{Page, PageQuery, Paginated};
use crate::tenancy::resolve::{Shop, ShopAdmin, ShopCustomer};
use crate::validate;

pub fn routes(api: &mut Api) {
    const LIST: &[(&str, &str)] =
        &[("product_id", "integer"), ("hidden", "boolean"), ("page", "integer"), ("per_page", "integer")];
    use Access::ShopAdmin as Admin;
    api.get(
        "/api/shop/products/{id}/reviews",
        Spec::new("A product's visible reviews", Access::Shop, Answer::Json(200, schema::<Paginated<Review>>))
            .query(PAGE),
        product_reviews,
    )
    .post(
        "/api/shop/products/{id}/reviews",
        Spec::new("Review a product (once)", Access::Customer, Answer::Json(201, schema::<Review>)).body_as(
            schema::<ReviewBody>,
            "ReviewCreate",
            &["rating"],
        ),
        create,
    )
    .get(
        "/api/admin/reviews",
        Spec::new("All reviews", Admin, Answer::Json(200, schema::<Paginated<Review>>)).query(LIST),
        admin_list,
    )
    .get("/api/admin/reviews/{id}", Spec::new("One review", Admin, Answer::Json(200, schema::<Review>)), admin_show)
    .patch(
        "/api/admin/reviews/{id}",
        Spec::new("Hide or show a review", Admin, Answer::Json(200, schema::<Review>)).body_as(
            schema::<ModerateBody>,
            "ReviewModeration",
            &["hidden"],
        ),
        moderate,
    )
    .delete("/api/admin/reviews/{id}", Spec::new("Delete a review", Admin, Answer::NoContent), remove);
}

fn no_product() -> AppError {
    AppError::not_found("not_found", "no such product")
}

async fn product_reviews(
    shop: Shop,
    id: web::Path<i64>,
    q: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<Review>>, AppError> {
    shop.client.features.require(crate::features::Feature::Reviews)?;
    let (id, page) = (id.into_inner(), Page::from_query(&q)?);
    let (rows, total) = shop
        .db
        .run(move |c| {
            find_product(c, id, true)?.ok_or_else(no_product)?;
            Ok(store::list(c, Some(id), Some(false), page)?)
        })
        .await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ReviewBody {
    #[schemars(range(min = 1, max = 5))]
    rating: Option<i64>,
    #[schemars(length(max = 200))]
    title: Option<String>,
    #[schemars(length(max = 5000))]
    body: Option<String>,
}

async fn create(customer: ShopCustomer, id: web::Path<i64>, body: Body<ReviewBody>) -> Result<HttpResponse, AppError> {
    customer.shop.client.features.require(crate::features::Feature::Reviews)?;
    let mut errors = FieldErrors::default();
    match body.rating {
        Some(1..=5) => {}
        Some(_) => errors.add("rating", "must be 1 to 5"),
        None => errors.add("rating", "is required"),
    }
    let title = errors.take("title", validate::optional_text(body.title.as_deref(), 200)).flatten();
    let text = errors.take("body", validate::optional_text(body.body.as_deref(), 5000)).flatten();
    errors.into_result()?;
    let (product_id, user_id, rating) = (id.into_inner(), customer.customer_id, body.rating.unwrap_or_default());
    let review = customer
        .shop
        .db
        .write(move |tx| {
            find_product(tx, product_id, true)?.ok_or_else(no_product)?;
            store::insert(tx, product_id, user_id, rating, title.as_deref(), text.as_deref())
        })
        .await?;
    Ok(HttpResponse::Created().json(review))
}

#[derive(Deserialize)]
struct AdminQuery {
    product_id: Option<i64>,
    hidden: Option<bool>,
    page: Option<i64>,
    per_page: Option<i64>,
}

async fn admin_list(admin: ShopAdmin, q: web::Query<AdminQuery>) -> Result<web::Json<Paginated<Review>>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Reviews)?;
    let q = q.into_inner();
    let page = Page::parse(q.page, q.per_page)?;
    let (rows, total) = admin.0.db.run(move |c| Ok(store::list(c, q.product_id, q.hidden, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

async fn admin_show(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<Review>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Reviews)?;
    let id = id.into_inner();
    admin
        .0
        .db
        .run(move |c| store::find(c, id)?.ok_or_else(|| AppError::not_found("not_found", "no such review")))
        .await
        .map(web::Json)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ModerateBody {
    hidden: bool,
}

async fn moderate(
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<ModerateBody>,
) -> Result<web::Json<Review>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Reviews)?;
    let (id, hidden) = (id.into_inner(), body.hidden);
    admin.0.db.write(move |tx| store::set_hidden(tx, id, hidden)).await.map(web::Json)
}

pub(crate) async fn remove(admin: ShopAdmin, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    admin.0.client.features.require(crate::features::Feature::Reviews)?;
    let id = id.into_inner();
    admin.0.db.write(move |tx| store::delete(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
