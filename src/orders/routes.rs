//! `/api/shop/checkout` and `/api/shop/orders` for customers; `/api/admin/orders` for the admin.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::checkout;
use super::history::{self, OrderEvent};
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
        Spec::new(
            "Turn the cart into an order (a customer's, or a guest's by Cart-Token)",
            Access::Buyer,
            Answer::Json(201, schema::<Order>),
        )
        .body_as(schema::<CheckoutBody>, "Checkout", &[]),
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
    )
    .get(
        "/api/admin/orders/{id}/events",
        Spec::new(
            "An order's history: placed, payments, status changes, refunds, notes",
            Admin,
            Answer::Json(200, schema::<EventList>),
        ),
        admin_events,
    )
    .post(
        "/api/admin/orders/{id}/notes",
        Spec::new(
            "Add a note to an order's history (internal, or shown to the customer)",
            Admin,
            Answer::Json(201, schema::<OrderEvent>),
        )
        .body_as(schema::<NoteBody>, "OrderNote", &["note"]),
        add_note,
    )
    .get(
        "/api/shop/guest-orders/{id}",
        Spec::new(
            "A guest's order, through the signed link its mail holds",
            Access::Shop,
            Answer::Json(200, schema::<Order>),
        )
        .query(&[("access", "string")]),
        guest_order,
    )
    .get(
        "/api/shop/orders/{id}/events",
        Spec::new(
            "The history of one of the customer's orders (what concerns them)",
            Customer,
            Answer::Json(200, schema::<EventList>),
        ),
        my_events,
    );
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub(crate) struct EventList {
    data: Vec<OrderEvent>,
}

fn no_order() -> AppError {
    AppError::not_found("not_found", "no such order")
}

pub(crate) async fn admin_events(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<EventList>, AppError> {
    let id = id.into_inner();
    let data = admin
        .0
        .db
        .run(move |c| {
            store::find(c, id, None)?.ok_or_else(no_order)?;
            Ok(history::list(c, id, false)?)
        })
        .await?;
    Ok(web::Json(EventList { data }))
}

async fn my_events(customer: ShopCustomer, id: web::Path<i64>) -> Result<web::Json<EventList>, AppError> {
    let (id, user_id) = (id.into_inner(), customer.customer_id);
    let data = customer
        .shop
        .db
        .run(move |c| {
            store::find(c, id, Some(user_id))?.ok_or_else(no_order)?;
            Ok(history::list(c, id, true)?)
        })
        .await?;
    Ok(web::Json(EventList { data }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"note": "Gift wrapped as asked", "visible_to_customer": true}))]
pub(crate) struct NoteBody {
    #[schemars(length(min = 1, max = 2000))]
    note: Option<String>,
    /// Shown on the customer's order history; internal when false (the default).
    visible_to_customer: Option<bool>,
}

pub(crate) async fn add_note(
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<NoteBody>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let b = body.into_inner();
    let note = match b.note.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() && n.chars().count() <= 2000 => n.to_string(),
        Some(_) => return Err(AppError::invalid_field("note", "must be 1 to 2000 characters")),
        None => return Err(AppError::invalid_field("note", "is required")),
    };
    let (visible, actor) = (b.visible_to_customer.unwrap_or(false), admin.0.caller.actor());
    let event = admin
        .0
        .db
        .write(move |tx| {
            store::find(tx, id, None)?.ok_or_else(no_order)?;
            let event_id = history::record(tx, id, "note", Some(&note), visible, None, &actor)?;
            Ok(history::list(tx, id, false)?.into_iter().find(|e| e.id == event_id).expect("just written"))
        })
        .await?;
    Ok(HttpResponse::Created().json(event))
}

#[derive(Deserialize, serde::Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"address_id": 1, "coupon_code": "TEA10", "payment_method": "stripe"}))]
struct CheckoutBody {
    #[schemars(range(min = 1))]
    address_id: Option<i64>,
    #[schemars(length(min = 3, max = 40))]
    coupon_code: Option<String>,
    /// Values of the shop's order custom fields by key (see `/api/admin/custom-fields`).
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    custom: Option<serde_json::Map<String, serde_json::Value>>,
    /// A guest's e-mail (checkout with a `Cart-Token`, without signing in).
    #[schemars(length(min = 3, max = 254), email)]
    email: Option<String>,
    /// A guest's address (customers give `address_id` instead).
    #[schemars(with = "Option<GuestAddress>")]
    address: Option<crate::addresses::routes::AddressBody>,
    /// How the buyer pays: one of the shop's enabled providers (`GET /api/shop/payment-methods`);
    /// may be left out when the shop has one (or has set none up: `manual`).
    #[schemars(with = "Option<crate::payments::Provider>")]
    payment_method: Option<String>,
    /// One of the methods that ship to the address (`GET /api/shop/shipping-methods?country=`);
    /// may be left out when one fits (or the shop has none).
    #[schemars(range(min = 1))]
    shipping_method_id: Option<i64>,
}

/// A guest's shipping address at checkout: the fields of `AddressCreate`.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)] // describes the document only
struct GuestAddress {
    #[schemars(length(min = 1, max = 200))]
    name: String,
    #[schemars(length(min = 1, max = 200))]
    line1: String,
    #[schemars(length(max = 200))]
    line2: Option<String>,
    #[schemars(length(min = 1, max = 100))]
    city: String,
    #[schemars(length(max = 100))]
    region: Option<String>,
    #[schemars(length(min = 1, max = 20))]
    postal_code: String,
    /// An assigned ISO 3166-1 alpha-2 code, e.g. DE.
    #[schemars(regex(pattern = "^[A-Za-z]{2}$"))]
    country: String,
    #[schemars(length(max = 40))]
    phone: Option<String>,
}

async fn place(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    shop: crate::tenancy::resolve::Shop,
    body: Body<CheckoutBody>,
) -> Result<HttpResponse, AppError> {
    let owner = crate::cart::routes::owner(&shop, &req).await?;
    let idempotency_key = crate::payments::routes::idempotency_key(&req)?;
    // Hashed only when a key asks for it.
    let request_hash =
        if idempotency_key.is_some() { crate::payments::routes::request_hash(&*body) } else { String::new() };
    let payment_method = match body.payment_method.as_deref() {
        None => None,
        Some(p) => Some(crate::payments::Provider::parse(p).ok_or_else(|| {
            AppError::invalid_field("payment_method", "must be manual, bank_transfer, cash_on_delivery or stripe")
        })?),
    };
    let mut body = body.into_inner();
    let buyer = match owner {
        Some(crate::cart::store::Owner::Customer(user_id)) => {
            let address_id = body.address_id.ok_or_else(|| AppError::invalid_field("address_id", "is required"))?;
            checkout::Buyer::Customer { user_id, address_id }
        }
        Some(crate::cart::store::Owner::Guest(cart_id)) => {
            let mut errors = crate::error::FieldErrors::default();
            let email = match body.email.as_deref() {
                None => {
                    errors.add("email", "is required for a guest's order");
                    None
                }
                Some(e) => errors.take("email", crate::auth::Email::parse(e)).map(|e| e.as_str().to_string()),
            };
            let address = match body.address.take().map(|a| a.shipping("address")) {
                None => {
                    errors.add("address", "is required for a guest's order");
                    None
                }
                Some(Ok(a)) => Some(a),
                Some(Err(AppError::Validation { fields, .. })) => {
                    for (field, problem) in fields {
                        errors.add(&field, problem);
                    }
                    None
                }
                Some(Err(other)) => return Err(other),
            };
            errors.into_result()?;
            let (Some(email), Some(address)) = (email, address) else {
                return Err(AppError::Internal(anyhow::anyhow!("validated guest fields missing")));
            };
            checkout::Buyer::Guest { cart_id, email, address: Box::new(address) }
        }
        None => return Err(AppError::Unauthorized("sign in, or send the Cart-Token of your cart".into())),
    };
    let body = Body(body);
    let coupon_code = match body.coupon_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(_) if !shop.client.features.is_on(crate::features::Feature::Coupons) => {
            return Err(AppError::invalid_field("coupon_code", "this shop does not take coupons"));
        }
        Some(c) => Some(validate::coupon_code(c).map_err(|e| AppError::invalid_field("coupon_code", e))?),
    };
    let shop_name = shop.client.name.clone();
    let shipping_method_id = body.shipping_method_id;
    let custom = body.into_inner().custom;
    let (scope, user_id) = match &buyer {
        checkout::Buyer::Customer { user_id, .. } => (format!("checkout:customer:{user_id}"), Some(*user_id)),
        checkout::Buyer::Guest { cart_id, .. } => (format!("checkout:cart:{cart_id}"), None),
    };
    let (key, client_id) = (state.secret_key.clone(), shop.client.id);
    let link_base = format!(
        "{}://{}.{}",
        if state.settings.secure_cookies { "https" } else { "http" },
        shop.client.subdomain,
        state.settings.base_domain
    );
    let (order, repeated) = shop
        .db
        .write(move |tx| {
            // The same Idempotency-Key and body again: the order it made, nothing placed twice.
            if let Some(key) = &idempotency_key
                && let Some(order_id) = crate::payments::store::recall(tx, &scope, key, &request_hash)?
            {
                let order = store::find(tx, order_id, user_id)?.ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("order {order_id} of an idempotency key vanished"))
                })?;
                return Ok((order, true));
            }
            let provider = if crate::payments::enabled() {
                Some(crate::payments::store::choose(tx, payment_method)?)
            } else {
                None
            };
            let mut order = checkout::place(tx, &buyer, coupon_code.as_deref(), shipping_method_id)?;
            order.custom = apply(tx, Entity::Order, order.id, Map::new(), custom.as_ref(), true)?;
            if let Some(provider) = provider {
                order.payment = Some(crate::payments::store::insert_payment(
                    tx,
                    order.id,
                    &provider,
                    order.total_cents,
                    &order.currency,
                )?);
            }
            if let Some(key) = &idempotency_key {
                crate::payments::store::remember(tx, &scope, key, &request_hash, order.id)?;
            }
            // Its mail and webhooks, committed with it.
            let notice = Notice::OrderPlaced {
                shop: sender_name(tx, &shop_name)?,
                low_stock: events::low_stock(tx, &order)?,
                customer: match (&buyer, user_id) {
                    (_, Some(user_id)) => {
                        crate::customers::store::find_user(tx, user_id)?.as_ref().map(Recipient::from)
                    }
                    (checkout::Buyer::Guest { email, address, .. }, None) => Some(Recipient {
                        name: address.name.clone(),
                        email: email.clone(),
                        link: Some(guest_link(&link_base, &key, client_id, order.id)),
                    }),
                    _ => None,
                },
                order: Box::new(order.clone()),
            };
            events::record(tx, &notice)?;
            Ok((order, false))
        })
        .await?;
    if !repeated {
        tracing::info!(order_id = order.id, total_cents = order.total_cents, "order placed");
        state.relay.hint(shop.client.id);
    }
    let mut order = order;
    // The provider's side (a Stripe PaymentIntent) once the order is committed. If the provider
    // fails, the order stands with its payment pending; `POST /api/shop/orders/{id}/payment` retries.
    let at_provider = order.payment.as_ref().is_some_and(|p| p.provider == crate::payments::Provider::Stripe);
    if at_provider {
        match crate::payments::routes::begin(&state, &shop, order.id).await {
            Ok(payment) => order.payment = payment,
            Err(e) => tracing::warn!(order_id = order.id, error = %e, "the order's payment could not be started"),
        }
    }
    Ok(HttpResponse::Created().json(for_customer(order)))
}

/// What signs a guest's order link: the shop and the order.
fn guest_message(client_id: i64, order_id: i64) -> String {
    format!("guest-order:{client_id}:{order_id}")
}

/// A guest's signed link to their order (sent in the order mail).
fn guest_link(base: &str, key: &crate::payments::secrets::SecretKey, client_id: i64, order_id: i64) -> String {
    format!("{base}/api/shop/guest-orders/{order_id}?access={}", key.sign(&guest_message(client_id, order_id)))
}

#[derive(Deserialize)]
struct AccessQuery {
    access: Option<String>,
}

/// A guest's order through its signed link (`?access=`); anything else is 404.
async fn guest_order(
    state: web::Data<AppState>,
    shop: crate::tenancy::resolve::Shop,
    id: web::Path<i64>,
    q: web::Query<AccessQuery>,
) -> Result<web::Json<Order>, AppError> {
    let id = id.into_inner();
    let signed = q.access.as_deref().is_some_and(|a| state.secret_key.verify(&guest_message(shop.client.id, id), a));
    if !signed {
        return Err(AppError::not_found("not_found", "no such order"));
    }
    let order = shop.db.run(move |c| Ok(store::find(c, id, None)?)).await?;
    order.filter(|o| o.user_id.is_none()).map(|o| web::Json(for_customer(o))).ok_or_else(no_order)
}

/// An order as its customer sees it: without the provider's internal id.
fn for_customer(mut order: Order) -> Order {
    if let Some(p) = order.payment.as_mut() {
        p.provider_ref = None;
    }
    order
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
    Ok(web::Json(Paginated::new(rows.into_iter().map(for_customer).collect(), page, total)))
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
        .map(|o| web::Json(for_customer(o)))
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
pub(crate) struct StatusBody {
    /// The next status; may be left out when only `custom` changes.
    #[schemars(with = "Option<super::store::OrderStatus>")]
    status: Option<String>,
    /// Values of the shop's order custom fields to set (null removes one).
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    custom: Option<serde_json::Map<String, serde_json::Value>>,
    /// The parcel's tracking number, kept in the order's history with the status change.
    #[schemars(length(min = 1, max = 100))]
    tracking_number: Option<String>,
}

pub(crate) async fn admin_update(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<StatusBody>,
) -> Result<web::Json<Order>, AppError> {
    let StatusBody { status: to, custom, tracking_number } = body.into_inner();
    if to.is_none() && custom.is_none() {
        return Err(AppError::invalid_field("status", "is required (or give custom)"));
    }
    let tracking_number = match tracking_number.as_deref().map(str::trim) {
        None => None,
        Some(t) if t.is_empty() || t.len() > 100 || t.chars().any(char::is_control) => {
            return Err(AppError::invalid_field("tracking_number", "must be 1 to 100 characters"));
        }
        Some(t) if to.is_none() => {
            let _ = t;
            return Err(AppError::invalid_field("tracking_number", "goes with a status change"));
        }
        Some(t) => Some(t.to_string()),
    };
    if to.as_deref().is_some_and(|to| !store::STATUSES.contains(&to)) {
        return Err(AppError::invalid_field("status", format!("must be one of {}", store::STATUSES.join(", "))));
    }
    let id = id.into_inner();
    let shop_name = admin.0.client.name.clone();
    let actor = admin.0.caller.actor();
    let (order, changed) = admin
        .0
        .db
        .write(move |tx| {
            let current =
                store::find(tx, id, None)?.ok_or_else(|| AppError::not_found("not_found", "no such order"))?;
            if custom.is_some() {
                apply(tx, Entity::Order, id, current.custom, custom.as_ref(), false)?;
            }
            match &to {
                // Stock, totals, the customer's mail and webhooks and the history, committed together.
                Some(to) => {
                    let (order, changed) = super::status::change(tx, id, to, &shop_name, None, &actor)?;
                    if changed && let Some(number) = &tracking_number {
                        let data = serde_json::json!({ "tracking_number": number });
                        super::history::record(tx, id, "tracking", Some(number), true, Some(data), &actor)?;
                    }
                    Ok((order, changed))
                }
                None => Ok((store::find(tx, id, None)?.expect("exists"), false)),
            }
        })
        .await?;
    tracing::info!(order_id = order.id, status = %order.status, "order status changed");
    if changed {
        state.relay.hint(admin.0.client.id);
    }
    Ok(web::Json(order))
}
