//! Payment endpoints: the admin's providers (`/api/admin/payment-providers`), captures, syncs and
//! refunds of an order's payment; the storefront's payment methods, a buyer (re)starting their
//! order's payment, and Stripe's webhook.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::flow::{self, provider_error, secret_context, settle};
use super::store::{self, ProviderChanges, ProviderConfig, Refund, Standing, refund_status};
use super::{Payment, Provider};
use crate::body::{Body, RawJson};
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::orders::history;
use crate::orders::store::Order;
use crate::state::AppState;
use crate::tenancy::resolve::{Shop, ShopAdmin, ShopCustomer};
use crate::validate;

pub fn routes(api: &mut Api) {
    use Access::{Customer, Shop as Anyone, ShopAdmin as Admin};
    api.get(
        "/api/admin/payment-providers",
        Spec::new(
            "The shop's payment providers (secrets only as set or not)",
            Admin,
            Answer::Json(200, schema::<ProviderList>),
        ),
        list_providers,
    )
    .put(
        "/api/admin/payment-providers/{provider}",
        Spec::new("Set a payment provider up or change it", Admin, Answer::Json(200, schema::<ProviderConfig>))
            .body_as(schema::<ProviderBody>, "PaymentProviderUpdate", &[]),
        put_provider,
    )
    .delete(
        "/api/admin/payment-providers/{provider}",
        Spec::new("Remove a payment provider's setup and secrets", Admin, Answer::NoContent),
        delete_provider,
    )
    .post(
        "/api/admin/orders/{id}/payment/capture",
        Spec::new(
            "Capture an order's payment (offline providers: confirm the money arrived)",
            Admin,
            Answer::Json(200, schema::<Order>),
        ),
        capture,
    )
    .post(
        "/api/admin/orders/{id}/payment/sync",
        Spec::new("Bring an order's payment state in from its provider", Admin, Answer::Json(200, schema::<Order>)),
        sync,
    )
    .post(
        "/api/admin/orders/{id}/refunds",
        Spec::new(
            "Refund part or all of an order's captured payment (Idempotency-Key honoured)",
            Admin,
            Answer::Json(201, schema::<Refund>),
        )
        .body_as(schema::<RefundBody>, "RefundCreate", &["amount_cents"]),
        refund,
    )
    .get(
        "/api/admin/orders/{id}/refunds",
        Spec::new("An order's refunds", Admin, Answer::Json(200, schema::<RefundList>)),
        list_refunds,
    )
    .get(
        "/api/shop/payment-methods",
        Spec::new("How this shop takes payment", Anyone, Answer::Json(200, schema::<MethodList>)),
        methods,
    )
    .post(
        "/api/shop/orders/{id}/payment",
        Spec::new(
            "Start (or restart) paying one of the customer's orders",
            Customer,
            Answer::Json(200, schema::<Payment>),
        ),
        start_payment,
    )
    .post(
        "/api/shop/payments/stripe/webhook",
        Spec::new(
            "Stripe's signed events for this shop (`Stripe-Signature`)",
            Anyone,
            Answer::Json(200, schema::<Received>),
        )
        .body(schema::<serde_json::Map<String, serde_json::Value>>),
        stripe_webhook,
    );
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct ProviderList {
    data: Vec<ProviderConfig>,
}

fn provider_from_path(raw: &str) -> Result<Provider, AppError> {
    Provider::parse(raw).ok_or_else(|| {
        AppError::not_found("not_found", "no such payment provider: manual, bank_transfer, cash_on_delivery or stripe")
    })
}

pub(crate) async fn list_providers(admin: ShopAdmin) -> Result<web::Json<ProviderList>, AppError> {
    let data = admin.0.db.run(|c| Ok(store::providers(c)?)).await?;
    Ok(web::Json(ProviderList { data }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"enabled": true, "capture": "manual", "secret_key": "sk_test_…", "webhook_secret": "whsec_…"}))]
pub(crate) struct ProviderBody {
    enabled: Option<bool>,
    /// Shown to buyers of offline providers (bank details, what to have ready); null removes them.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(max = 2000))]
    instructions: Option<Option<String>>,
    /// Stripe: `automatic` (captured when the buyer confirms) or `manual` (authorised; the admin captures).
    #[schemars(regex(pattern = r"^(automatic|manual)$"))]
    capture: Option<String>,
    /// Stripe's secret API key. Write-only: answers say only whether it is set. Null removes it.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(min = 8, max = 255))]
    secret_key: Option<Option<String>>,
    /// The signing secret of the shop's Stripe webhook endpoint. Write-only. Null removes it.
    #[serde(default, deserialize_with = "validate::explicit_null")]
    #[schemars(with = "Option<String>", length(min = 8, max = 255))]
    webhook_secret: Option<Option<String>>,
}

fn secret_field(errors: &mut FieldErrors, field: &str, v: &Option<Option<String>>) {
    if let Some(Some(s)) = v
        && (!(8..=255).contains(&s.len()) || s.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        errors.add(field, "must be 8 to 255 characters without spaces");
    }
}

pub(crate) async fn put_provider(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    path: web::Path<String>,
    body: Body<ProviderBody>,
) -> Result<web::Json<ProviderConfig>, AppError> {
    let provider = provider_from_path(&path)?;
    let b = body.into_inner();
    let mut errors = FieldErrors::default();
    if let Some(Some(text)) = &b.instructions
        && text.chars().count() > 2000
    {
        errors.add("instructions", "must be at most 2000 characters");
    }
    if let Some(c) = &b.capture
        && c != "automatic"
        && c != "manual"
    {
        errors.add("capture", "must be automatic or manual");
    }
    secret_field(&mut errors, "secret_key", &b.secret_key);
    secret_field(&mut errors, "webhook_secret", &b.webhook_secret);
    if provider.is_offline() {
        for (field, given) in [("secret_key", b.secret_key.is_some()), ("webhook_secret", b.webhook_secret.is_some())] {
            if given {
                errors.add(field, "only Stripe has secrets");
            }
        }
        if b.capture.is_some() {
            errors.add("capture", "offline payments are confirmed by the admin");
        }
    }
    errors.into_result()?;
    let client_id = admin.0.client.id;
    let seal = |field: &str, v: Option<Option<String>>| {
        v.map(|s| s.map(|secret| state.secret_key.seal(&secret_context(client_id, provider, field), &secret)))
    };
    let changes = ProviderChanges {
        enabled: b.enabled,
        instructions: b.instructions,
        capture: b.capture,
        secret_key_sealed: seal("secret_key", b.secret_key),
        webhook_secret_sealed: seal("webhook_secret", b.webhook_secret),
    };
    let saved = admin
        .0
        .db
        .write(move |tx| {
            let saved = store::save_provider(tx, provider, &changes)?;
            if saved.provider == Provider::Stripe && saved.enabled && !saved.secret_key_set {
                return Err(AppError::invalid_field(
                    "secret_key",
                    "Stripe needs its secret key before it can be enabled",
                ));
            }
            Ok(saved)
        })
        .await?;
    tracing::info!(client_id, provider = provider.as_str(), enabled = saved.enabled, "payment provider set up");
    Ok(web::Json(saved))
}

pub(crate) async fn delete_provider(admin: ShopAdmin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let provider = provider_from_path(&path)?;
    let removed = admin.0.db.write(move |tx| Ok(store::remove_provider(tx, provider)?)).await?;
    if !removed {
        return Err(AppError::not_found("not_found", "this provider is not set up"));
    }
    Ok(HttpResponse::NoContent().finish())
}

fn no_order() -> AppError {
    AppError::not_found("not_found", "no such order")
}

/// The order and its payment (which every order placed since payments exist has).
fn order_and_payment(c: &rusqlite::Connection, id: i64, user_id: Option<i64>) -> Result<(Order, Payment), AppError> {
    let order = crate::orders::store::find(c, id, user_id)?.ok_or_else(no_order)?;
    let payment = order
        .payment
        .clone()
        .ok_or_else(|| AppError::conflict("no_payment", "this order was placed before payments and has none"))?;
    Ok((order, payment))
}

/// Who acts, for the order's history.
fn actor(shop: &Shop) -> String {
    shop.caller.actor()
}

pub(crate) async fn capture(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    id: web::Path<i64>,
) -> Result<web::Json<Order>, AppError> {
    let id = id.into_inner();
    let shop = admin.0;
    let (_, payment) = shop.db.run(move |c| order_and_payment(c, id, None)).await?;
    let standing = match payment.provider {
        p if p.is_offline() => {
            if payment.status != "pending" && payment.status != "authorized" {
                return Err(AppError::conflict("payment_not_capturable", format!("the payment is {}", payment.status)));
            }
            Standing {
                status: "captured",
                captured_cents: payment.amount_cents,
                refunded_cents: 0,
                failure_reason: None,
            }
        }
        _ => {
            if payment.status != "authorized" {
                return Err(AppError::conflict(
                    "payment_not_capturable",
                    format!("the payment is {}; only an authorised payment can be captured", payment.status),
                ));
            }
            let api = stripe_api(&state, &shop).await?;
            let client_id = shop.client.id;
            state.main.run(move |c| Ok(super::reconcile::watch(c, client_id, id)?)).await?;
            let (intent, key) = (
                payment.provider_ref.clone().unwrap_or_default(),
                format!("vergeflow-{}-capture-{}", shop.client.id, payment.id),
            );
            web::block(move || api.capture(&intent, &key)).await?.map_err(provider_error)?.standing()
        }
    };
    let who = actor(&shop);
    apply(&state, &shop, id, standing, who).await
}

pub(crate) async fn sync(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    id: web::Path<i64>,
) -> Result<web::Json<Order>, AppError> {
    let id = id.into_inner();
    let shop = admin.0;
    let (order, payment) = shop.db.run(move |c| order_and_payment(c, id, None)).await?;
    if payment.provider.is_offline() {
        return Ok(web::Json(order));
    }
    let api = stripe_api(&state, &shop).await?;
    match web::block(move || flow::standing_from_stripe(&api, &payment)).await?? {
        Some(standing) => {
            let who = actor(&shop);
            apply(&state, &shop, id, standing, who).await
        }
        None => Ok(web::Json(order)),
    }
}

/// Writes a payment's standing with what follows, and answers the order.
async fn apply(
    state: &AppState,
    shop: &Shop,
    order_id: i64,
    standing: Standing,
    actor: String,
) -> Result<web::Json<Order>, AppError> {
    let shop_name = shop.client.name.clone();
    let (order, changed) = shop
        .db
        .write(move |tx| {
            let (_, payment) = order_and_payment(tx, order_id, None)?;
            let changed = settle(tx, order_id, &payment, &standing, &shop_name, &actor)?;
            Ok((crate::orders::store::find(tx, order_id, None)?.ok_or_else(no_order)?, changed))
        })
        .await?;
    if changed {
        // A pending order that became paid has mail and webhooks in the shop's outbox.
        state.relay.hint(shop.client.id);
    }
    Ok(web::Json(order))
}

async fn stripe_api(state: &AppState, shop: &Shop) -> Result<super::stripe::StripeApi, AppError> {
    let (key, base, client_id) = (state.secret_key.clone(), state.settings.stripe_api_base.clone(), shop.client.id);
    shop.db.run(move |c| flow::stripe_for(c, &key, &base, client_id)).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"amount_cents": 500, "restock": false, "reason": "damaged in transit"}))]
pub(crate) struct RefundBody {
    #[schemars(range(min = 1))]
    amount_cents: Option<i64>,
    /// Put every item of the order back in stock (once per order).
    restock: Option<bool>,
    #[schemars(length(max = 500))]
    reason: Option<String>,
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, AppError> {
    match req.headers().get("Idempotency-Key") {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().unwrap_or_default().trim();
            if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(AppError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                ));
            }
            Ok(Some(s.to_string()))
        }
    }
}

/// What identifies a request's body for idempotency: SHA-256 of its canonical JSON.
pub fn request_hash(value: &impl Serialize) -> String {
    use sha2::Digest as _;
    let canonical = serde_json::to_string(&serde_json::to_value(value).unwrap_or_default()).unwrap_or_default();
    sha2::Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct RefundRequest<'a> {
    amount_cents: i64,
    restock: bool,
    reason: Option<&'a str>,
}

pub(crate) async fn refund(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<RefundBody>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let key = idempotency_key(&req)?;
    let b = body.into_inner();
    let mut errors = FieldErrors::default();
    let amount = match b.amount_cents {
        None => {
            errors.add("amount_cents", "is required");
            0
        }
        Some(a) if a < 1 => {
            errors.add("amount_cents", "must be at least 1");
            0
        }
        Some(a) => a,
    };
    let reason =
        b.reason.as_deref().and_then(|r| errors.take("reason", validate::optional_text(Some(r), 500))).flatten();
    errors.into_result()?;
    let restock = b.restock.unwrap_or(false);
    let shop = admin.0;
    let scope = format!("refund:order:{id}");
    let hash = request_hash(&RefundRequest { amount_cents: amount, restock, reason: reason.as_deref() });

    // A repeated request answers the refund it made.
    if let Some(key) = key.clone() {
        let (scope, hash) = (scope.clone(), hash.clone());
        let earlier = shop.db.run(move |c| store::recall(c, &scope, &key, &hash)).await?;
        if let Some(refund_id) = earlier {
            let found = shop.db.run(move |c| Ok(store::find_refund(c, refund_id)?)).await?;
            return Ok(HttpResponse::Created().json(found.ok_or_else(no_order)?));
        }
    }
    let (_, payment) = shop.db.run(move |c| order_and_payment(c, id, None)).await?;
    check_refundable(&payment, amount)?;
    // The provider first: money goes back only through it. Its own idempotency key makes a retry
    // after a crash return the same refund.
    let provider_ref = if payment.provider == Provider::Stripe {
        let api = stripe_api(&state, &shop).await?;
        let intent = payment.provider_ref.clone().unwrap_or_default();
        let stripe_key = format!(
            "vergeflow-{}-order-{id}-refund-{}",
            shop.client.id,
            key.clone().unwrap_or_else(|| format!("{}-{}", payment.refunded_cents, amount))
        );
        Some(web::block(move || api.refund(&intent, amount, &stripe_key)).await?.map_err(provider_error)?)
    } else {
        None
    };
    let (shop_name, who) = (shop.client.name.clone(), actor(&shop));
    let made = shop
        .db
        .write(move |tx| {
            if let Some(key) = &key
                && let Some(refund_id) = store::recall(tx, &scope, key, &hash)?
            {
                return store::find_refund(tx, refund_id)?.ok_or_else(no_order);
            }
            let (order, payment) = order_and_payment(tx, id, None)?;
            check_refundable(&payment, amount)?;
            if restock {
                let already: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM refunds WHERE order_id = ?1 AND restocked)",
                    [id],
                    |r| r.get(0),
                )?;
                if already {
                    return Err(AppError::conflict(
                        "already_restocked",
                        "this order's items were already put back in stock",
                    ));
                }
                for item in &order.items {
                    crate::catalog::variants::restock(tx, item.variant_id, item.quantity)?;
                }
            }
            let refund_id =
                store::insert_refund(tx, payment.id, id, amount, restock, reason.as_deref(), provider_ref.as_deref())?;
            let refunded = payment.refunded_cents + amount;
            let standing = Standing {
                status: refund_status(payment.captured_cents, refunded),
                captured_cents: payment.captured_cents,
                refunded_cents: refunded,
                failure_reason: None,
            };
            store::set_standing(tx, payment.id, &standing)?;
            tx.execute("UPDATE orders SET refunded_cents = ?2 WHERE id = ?1", rusqlite::params![id, refunded])?;
            if let Some(customer_id) = order.customer_id {
                tx.execute(
                    "UPDATE customers SET total_spent_cents = MAX(total_spent_cents - ?2, 0) WHERE id = ?1",
                    rusqlite::params![customer_id, amount],
                )?;
            }
            let data = serde_json::json!({ "refund_id": refund_id, "amount_cents": amount, "restocked": restock,
                                           "refunded_cents": refunded });
            history::record(tx, id, "refunded", reason.as_deref(), true, Some(data), &who)?;
            if let Some(key) = &key {
                store::remember(tx, &scope, key, &hash, refund_id)?;
            }
            let _ = &shop_name;
            Ok(store::find_refund(tx, refund_id)?.expect("just made"))
        })
        .await?;
    tracing::info!(order_id = id, refund_id = made.id, amount_cents = made.amount_cents, "order refunded");
    Ok(HttpResponse::Created().json(made))
}

fn check_refundable(payment: &Payment, amount: i64) -> Result<(), AppError> {
    let left = payment.captured_cents - payment.refunded_cents;
    if payment.captured_cents == 0 {
        return Err(AppError::conflict(
            "payment_not_captured",
            format!("the payment is {}: nothing to refund", payment.status),
        ));
    }
    if amount > left {
        return Err(AppError::unprocessable(
            "refund_exceeds_captured",
            format!(
                "at most {left} cents are left to refund ({} captured, {} refunded)",
                payment.captured_cents, payment.refunded_cents
            ),
        ));
    }
    Ok(())
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct RefundList {
    data: Vec<Refund>,
}

pub(crate) async fn list_refunds(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<RefundList>, AppError> {
    let id = id.into_inner();
    let data = admin
        .0
        .db
        .run(move |c| {
            crate::orders::store::find(c, id, None)?.ok_or_else(no_order)?;
            Ok(store::refunds_of(c, id)?)
        })
        .await?;
    Ok(web::Json(RefundList { data }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Method {
    provider: Provider,
    instructions: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct MethodList {
    data: Vec<Method>,
}

async fn methods(shop: Shop) -> Result<web::Json<MethodList>, AppError> {
    let data = shop
        .db
        .run(|c| {
            let configured = store::providers(c)?;
            if configured.iter().all(|p| !p.configured) {
                return Ok(vec![Method { provider: Provider::Manual, instructions: None }]);
            }
            Ok(configured
                .into_iter()
                .filter(|p| p.enabled)
                .map(|p| Method {
                    instructions: if p.provider.is_offline() { p.instructions } else { None },
                    provider: p.provider,
                })
                .collect())
        })
        .await?;
    Ok(web::Json(MethodList { data }))
}

/// Makes the provider's side of a payment that has none yet (a Stripe PaymentIntent), and records
/// it. Called after checkout commits, and when the buyer asks again.
pub async fn begin(state: &AppState, shop: &Shop, order_id: i64) -> Result<Option<Payment>, AppError> {
    let payment = shop.db.run(move |c| Ok(store::payment_of(c, order_id)?)).await?;
    let Some(payment) = payment else { return Ok(None) };
    if payment.provider != Provider::Stripe || payment.provider_ref.is_some() || payment.status != "pending" {
        return Ok(Some(payment));
    }
    let api = stripe_api(state, shop).await?;
    let manual = shop
        .db
        .run(|c| Ok(store::provider(c, Provider::Stripe)?.is_some_and(|p| p.config.capture == "manual")))
        .await?;
    let client_id = shop.client.id;
    // Watched before Stripe is asked: a crash after Stripe made the intent is caught up with.
    state.main.run(move |c| Ok(super::reconcile::watch(c, client_id, order_id)?)).await?;
    let (amount, currency, payment_id) = (payment.amount_cents, payment.currency.clone(), payment.id);
    let intent = web::block(move || {
        let metadata = [("client_id", client_id.to_string()), ("order_id", order_id.to_string())];
        api.create_intent(amount, &currency, manual, &metadata, &format!("vergeflow-{client_id}-payment-{payment_id}"))
    })
    .await?
    .map_err(provider_error)?;
    let saved = shop
        .db
        .write(move |tx| {
            store::set_intent(tx, payment_id, &intent.id, &intent.client_secret)?;
            Ok(store::payment_of(tx, order_id)?)
        })
        .await?;
    Ok(saved)
}

async fn start_payment(
    state: web::Data<AppState>,
    customer: ShopCustomer,
    id: web::Path<i64>,
) -> Result<web::Json<Payment>, AppError> {
    let (id, user_id) = (id.into_inner(), customer.customer_id);
    customer.shop.db.run(move |c| order_and_payment(c, id, Some(user_id))).await?;
    let mut payment = begin(&state, &customer.shop, id).await?.ok_or_else(no_order)?;
    payment.provider_ref = None;
    Ok(web::Json(payment))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Received {
    received: bool,
    /// False when the event was seen before (a replay) or concerns no payment of this shop.
    applied: bool,
}

/// Stripe's events for this shop: the signature is checked with the shop's webhook secret, an
/// event already seen is ignored, and the payment's state is then read back from Stripe (so
/// events arriving out of order cannot move a payment backwards).
async fn stripe_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    shop: Shop,
    body: RawJson,
) -> Result<web::Json<Received>, AppError> {
    let signature = req.headers().get("Stripe-Signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (key, client_id) = (state.secret_key.clone(), shop.client.id);
    let secret = shop
        .db
        .run(move |c| {
            let sealed = store::provider(c, Provider::Stripe)?.and_then(|p| p.webhook_secret_sealed);
            Ok(sealed.and_then(|s| key.open(&secret_context(client_id, Provider::Stripe, "webhook_secret"), &s).ok()))
        })
        .await?;
    let refused = |why: &str| {
        tracing::warn!(client_id, why, "a Stripe webhook was refused");
        AppError::bad_request("invalid_signature", "the Stripe-Signature does not match this shop's webhook secret")
    };
    let Some(secret) = secret else { return Err(refused("no webhook secret is set")) };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    super::stripe::verify_signature(&signature, &body.bytes, &secret, now).map_err(refused)?;

    let event = body.value;
    let (Some(event_id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
        return Err(AppError::invalid_field("body", "not a Stripe event"));
    };
    let object = &event["data"]["object"];
    let intent_id = match object["object"].as_str() {
        Some("payment_intent") => object["id"].as_str(),
        _ => object["payment_intent"].as_str(),
    }
    .map(str::to_string);
    let event_id = event_id.to_string();
    let first = shop.db.write(move |tx| Ok(store::first_sight(tx, &event_id)?)).await?;
    let Some(intent_id) = intent_id.filter(|_| first) else {
        return Ok(web::Json(Received { received: true, applied: false }));
    };
    let lookup = intent_id.clone();
    let Some((order_id, payment)) = shop.db.run(move |c| Ok(store::find_by_ref(c, &lookup)?)).await? else {
        tracing::warn!(client_id, kind, intent = %intent_id, "a Stripe event for no payment of this shop");
        return Ok(web::Json(Received { received: true, applied: false }));
    };
    let api = stripe_api(&state, &shop).await?;
    if let Some(standing) = web::block(move || flow::standing_from_stripe(&api, &payment)).await?? {
        apply(&state, &shop, order_id, standing, "provider:stripe".into()).await?;
    }
    tracing::info!(client_id, kind, order_id, "Stripe event applied");
    Ok(web::Json(Received { received: true, applied: true }))
}
