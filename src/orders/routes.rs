//! `/api/shop/checkout` and `/api/shop/orders` for customers; `/api/admin/orders` for the admin.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::checkout;
use super::store::{self, Order};
use crate::body::Body;
use crate::custom_fields::{Entity, store::apply};
use crate::error::AppError;
use crate::events::{self, Notice, Recipient};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::pagination::{Page, Paginated};
use crate::shop_settings::store::sender_name;
use crate::state::AppState;
use crate::tenancy::resolve::{ShopAdmin, ShopCustomer};
use crate::validate;
use serde_json::Map;

pub fn routes(api: &mut Api) {
    const LIST: &[(&str, &str)] = &[("status", "string"), ("page", "integer"), ("per_page", "integer")];
    use Access::{Customer, ShopAdmin as Admin};
    api.post(
        "/api/shop/checkout",
        Spec::new("Turn the cart into an order", Customer, Answer::Json(201, schema::<Order>)).body_as(
            schema::<CheckoutBody>,
            "Checkout",
            &["address_id"],
        ),
        place,
    )
    .get(
        "/api/shop/orders",
        Spec::new("The customer's orders", Customer, Answer::Json(200, schema::<Paginated<Order>>)).query(LIST),
        my_orders,
    )
    .get(
        "/api/shop/orders/{id}",
        Spec::new("One of the customer's orders", Customer, Answer::Json(200, schema::<Order>)),
        my_order,
    )
    .get(
        "/api/admin/orders",
        Spec::new("All orders", Admin, Answer::Json(200, schema::<Paginated<Order>>)).query(LIST),
        admin_list,
    )
    .get("/api/admin/orders/{id}", Spec::new("One order", Admin, Answer::Json(200, schema::<Order>)), admin_show)
    .patch(
        "/api/admin/orders/{id}",
        Spec::new(
            "Move an order to its next status and/or change its custom fields",
            Admin,
            Answer::Json(200, schema::<Order>),
        )
        .body_as(schema::<StatusBody>, "OrderStatusChange", &[]),
        admin_update,
    );
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"address_id": 1, "coupon_code": "TEA10"}))]
struct CheckoutBody {
    #[schemars(range(min = 1))]
    address_id: Option<i64>,
    #[schemars(length(min = 3, max = 40))]
    coupon_code: Option<String>,
    /// Values of the shop's order custom fields by key (see `/api/admin/custom-fields`).
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    custom: Option<serde_json::Map<String, serde_json::Value>>,
}

async fn place(
    state: web::Data<AppState>,
    customer: ShopCustomer,
    body: Body<CheckoutBody>,
) -> Result<HttpResponse, AppError> {
    let address_id = body.address_id.ok_or_else(|| AppError::invalid_field("address_id", "is required"))?;
    let coupon_code = match body.coupon_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(_) if !customer.shop.client.features.is_on(crate::features::Feature::Coupons) => {
            return Err(AppError::invalid_field("coupon_code", "this shop does not take coupons"));
        }
        Some(c) => Some(validate::coupon_code(c).map_err(|e| AppError::invalid_field("coupon_code", e))?),
    };
    let user_id = customer.customer_id;
    let shop_name = customer.shop.client.name.clone();
    let custom = body.into_inner().custom;
    let order = customer
        .shop
        .db
        .write(move |tx| {
            let mut order = checkout::place_order(tx, user_id, address_id, coupon_code.as_deref())?;
            order.custom = apply(tx, Entity::Order, order.id, Map::new(), custom.as_ref(), true)?;
            // Its mail and webhooks, committed with it.
            let notice = Notice::OrderPlaced {
                shop: sender_name(tx, &shop_name)?,
                low_stock: events::low_stock(tx, &order)?,
                customer: crate::customers::store::find_user(tx, user_id)?.as_ref().map(Recipient::from),
                order: Box::new(order.clone()),
            };
            events::record(tx, &notice)?;
            Ok(order)
        })
        .await?;
    tracing::info!(order_id = order.id, total_cents = order.total_cents, "order placed");
    state.relay.hint(customer.shop.client.id);
    Ok(HttpResponse::Created().json(order))
}

#[derive(Deserialize)]
struct OrderQuery {
    status: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

fn status_filter(status: Option<String>) -> Result<Option<String>, AppError> {
    match status {
        Some(s) if !store::STATUSES.contains(&s.as_str()) => {
            Err(AppError::invalid_field("status", format!("must be one of {}", store::STATUSES.join(", "))))
        }
        other => Ok(other),
    }
}

async fn my_orders(customer: ShopCustomer, q: web::Query<OrderQuery>) -> Result<web::Json<Paginated<Order>>, AppError> {
    let q = q.into_inner();
    let (page, status, user_id) = (Page::parse(q.page, q.per_page)?, status_filter(q.status)?, customer.customer_id);
    let (rows, total) =
        customer.shop.db.run(move |c| Ok(store::list(c, Some(user_id), status.as_deref(), page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

async fn my_order(customer: ShopCustomer, id: web::Path<i64>) -> Result<web::Json<Order>, AppError> {
    let (id, user_id) = (id.into_inner(), customer.customer_id);
    customer
        .shop
        .db
        .run(move |c| {
            store::find(c, id, Some(user_id))?.ok_or_else(|| AppError::not_found("not_found", "no such order"))
        })
        .await
        .map(web::Json)
}

async fn admin_list(admin: ShopAdmin, q: web::Query<OrderQuery>) -> Result<web::Json<Paginated<Order>>, AppError> {
    let q = q.into_inner();
    let (page, status) = (Page::parse(q.page, q.per_page)?, status_filter(q.status)?);
    let (rows, total) = admin.0.db.run(move |c| Ok(store::list(c, None, status.as_deref(), page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

async fn admin_show(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<Order>, AppError> {
    let id = id.into_inner();
    admin
        .0
        .db
        .run(move |c| store::find(c, id, None)?.ok_or_else(|| AppError::not_found("not_found", "no such order")))
        .await
        .map(web::Json)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"status": "shipped"}))]
struct StatusBody {
    /// The next status; may be left out when only `custom` changes.
    #[schemars(with = "Option<super::store::OrderStatus>")]
    status: Option<String>,
    /// Values of the shop's order custom fields to set (null removes one).
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    custom: Option<serde_json::Map<String, serde_json::Value>>,
}

async fn admin_update(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<StatusBody>,
) -> Result<web::Json<Order>, AppError> {
    let StatusBody { status: to, custom } = body.into_inner();
    if to.is_none() && custom.is_none() {
        return Err(AppError::invalid_field("status", "is required (or give custom)"));
    }
    if to.as_deref().is_some_and(|to| !store::STATUSES.contains(&to)) {
        return Err(AppError::invalid_field("status", format!("must be one of {}", store::STATUSES.join(", "))));
    }
    let id = id.into_inner();
    let shop_name = admin.0.client.name.clone();
    let (order, changed) = admin
        .0
        .db
        .write(move |tx| {
            let current =
                store::find(tx, id, None)?.ok_or_else(|| AppError::not_found("not_found", "no such order"))?;
            let from = current.status.clone();
            if custom.is_some() {
                apply(tx, Entity::Order, id, current.custom, custom.as_ref(), false)?;
            }
            let order = match &to {
                Some(to) => store::change_status(tx, id, to)?,
                None => store::find(tx, id, None)?.expect("exists"),
            };
            let changed = from != order.status;
            if changed {
                // The customer's mail and the webhooks, committed with the change.
                let customer = match order.user_id {
                    Some(user_id) => crate::customers::store::find_user(tx, user_id)?,
                    None => None,
                };
                let notice = Notice::OrderStatusChanged {
                    shop: sender_name(tx, &shop_name)?,
                    order: Box::new(order.clone()),
                    customer: customer.as_ref().map(Recipient::from),
                    from,
                    reason: None,
                };
                events::record(tx, &notice)?;
            }
            Ok((order, changed))
        })
        .await?;
    tracing::info!(order_id = order.id, status = %order.status, "order status changed");
    if changed {
        state.relay.hint(admin.0.client.id);
    }
    Ok(web::Json(order))
}
