//! `/api/shop/auth/*` for customers and `/api/admin/customers` for the shop's admin.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::store::{self, Customer, ShopUser};
use crate::auth::throttle::{self, AttemptKeys};
use crate::auth::{Email, password, reset, tokens};
use crate::body::Body;
use crate::custom_fields::{Entity, store::apply};
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, PAGE, Spec, schema};
use crate::pagination::{Page, PageQuery, Paginated};
use crate::state::AppState;
use crate::tenancy::resolve::{Shop, ShopAdmin, ShopCustomer};
use crate::validate;

pub fn routes(api: &mut Api) {
    api.post(
        "/api/shop/auth/register",
        Spec::new("Create a customer account in this shop", Access::Shop, Answer::Json(201, schema::<SignedIn>))
            .body_as(schema::<RegisterBody>, "CustomerRegistration", &["name", "email", "password"]),
        register,
    )
    .post(
        "/api/shop/auth/login",
        Spec::new("Sign in as a customer", Access::Shop, Answer::Json(200, schema::<SignedIn>)).body_as(
            schema::<LoginBody>,
            "CustomerLogin",
            &["email", "password"],
        ),
        login,
    )
    .post(
        "/api/shop/auth/password/forgot",
        Spec::new(
            "Mail a password reset token to a customer of this shop (202 whether or not the account exists)",
            Access::Shop,
            Answer::Json(202, schema::<reset::ForgotAccepted>),
        )
        .body_as(schema::<reset::ForgotBody>, "CustomerPasswordForgot", &["email"]),
        forgot,
    )
    .post(
        "/api/shop/auth/password/reset",
        Spec::new(
            "Set a new customer password with a reset token; every session of the account is signed out",
            Access::Shop,
            Answer::NoContent,
        )
        .body_as(schema::<reset::ResetBody>, "CustomerPasswordReset", &["email", "token", "password"]),
        reset_password,
    )
    .post("/api/shop/auth/logout", Spec::new("Revoke this customer token", Access::Customer, Answer::NoContent), logout)
    .get(
        "/api/shop/me",
        Spec::new("The signed-in customer", Access::Customer, Answer::Json(200, schema::<ShopUser>)),
        me,
    )
    .get(
        "/api/admin/customers",
        Spec::new(
            "Customers with their order count and total spent",
            Access::ShopAdmin,
            Answer::Json(200, schema::<Paginated<Customer>>),
        )
        .query(PAGE),
        list,
    )
    .get(
        "/api/admin/customers/{id}",
        Spec::new("One customer", Access::ShopAdmin, Answer::Json(200, schema::<Customer>)),
        show,
    )
    .patch(
        "/api/admin/customers/{id}",
        Spec::new("Change a customer's custom fields", Access::ShopAdmin, Answer::Json(200, schema::<Customer>))
            .body_as(schema::<CustomerBody>, "CustomerUpdate", &["custom"]),
        update,
    );
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"custom": {"loyalty_tier": "gold"}}))]
pub(crate) struct CustomerBody {
    /// Values of the shop's customer custom fields to set (null removes one).
    #[schemars(with = "std::collections::BTreeMap<String, serde_json::Value>")]
    custom: serde_json::Map<String, serde_json::Value>,
}

fn no_customer() -> AppError {
    AppError::not_found("not_found", "no such customer")
}

pub(crate) async fn show(admin: ShopAdmin, id: web::Path<i64>) -> Result<web::Json<Customer>, AppError> {
    let id = id.into_inner();
    admin.0.db.run(move |c| store::find_customer(c, id)?.ok_or_else(no_customer)).await.map(web::Json)
}

pub(crate) async fn update(
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<CustomerBody>,
) -> Result<web::Json<Customer>, AppError> {
    let (id, input) = (id.into_inner(), body.into_inner().custom);
    let updated = admin
        .0
        .db
        .write(move |tx| {
            let current = store::find_customer(tx, id)?.ok_or_else(no_customer)?;
            apply(tx, Entity::Customer, id, current.custom, Some(&input), false)?;
            Ok(store::find_customer(tx, id)?.expect("exists"))
        })
        .await?;
    Ok(web::Json(updated))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Ada Lovelace", "email": "ada@example.com", "password": "correct horse battery"}))]
struct RegisterBody {
    #[schemars(length(min = 1, max = 200))]
    name: String,
    #[schemars(length(min = 3, max = 254), email)]
    email: String,
    #[schemars(length(min = 8, max = 1024))]
    password: String,
    /// Values of the shop's customer custom fields by key (see `/api/admin/custom-fields`).
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    custom: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct SignedIn {
    token: String,
    token_type: &'static str,
    expires_at: String,
    user: ShopUser,
}

async fn issue_token(state: &AppState, client_id: i64, user: ShopUser) -> Result<SignedIn, AppError> {
    let ttl = state.settings.token_ttl;
    let customer_id = user.id;
    let issued =
        state.main.run(move |c| Ok(tokens::issue(c, tokens::Owner::Customer { client_id, customer_id }, ttl)?)).await?;
    Ok(SignedIn { token: issued.token, token_type: "Bearer", expires_at: issued.expires_at, user })
}

async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    shop: Shop,
    body: Body<RegisterBody>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let name = errors.take("name", validate::name(&body.name));
    let email = errors.take("email", Email::parse(&body.email));
    errors.take("password", password::validate(&body.password));
    errors.into_result()?;
    let (name, email) = (name.unwrap_or_default(), email.map(|e| e.as_str().to_string()).unwrap_or_default());
    let address = crate::proxy::remote_address(&req, &state.settings);
    state.password_rates.admit(Some(&format!("shop:{}", shop.client.id)), &address).await?;
    let cart_token = crate::cart::routes::cart_token(&req)?;
    let RegisterBody { password, custom, .. } = body.into_inner();
    let hash = state.hashing.hash(password).await?;
    let shop_name = shop.client.name.clone();
    let user = shop
        .db
        .write(move |tx| {
            let user = store::register(tx, &name, &email, &hash)?;
            let record = store::customer_of_user(tx, user.id)?.expect("registration made it");
            apply(tx, Entity::Customer, record.id, record.custom, custom.as_ref(), true)?;
            // A guest's cart becomes the new account's.
            if let Some(token) = &cart_token
                && let Some(cart_id) = crate::cart::store::guest_cart(tx, token)?
            {
                crate::cart::store::merge_into(tx, cart_id, user.id)?;
            }
            // The welcome mail, committed with the account.
            let customer = crate::events::Recipient::from(&user);
            let shop = crate::shop_settings::store::sender_name(tx, &shop_name)?;
            crate::events::record(tx, &crate::events::Notice::CustomerRegistered { shop, customer })?;
            Ok(user)
        })
        .await?;
    tracing::info!(customer_id = user.id, "customer registered");
    state.relay.hint(shop.client.id);
    Ok(HttpResponse::Created().json(issue_token(&state, shop.client.id, user).await?))
}

async fn forgot(
    state: web::Data<AppState>,
    req: HttpRequest,
    shop: Shop,
    body: Body<reset::ForgotBody>,
) -> Result<HttpResponse, AppError> {
    let ip = crate::proxy::remote_address(&req, &state.settings);
    reset::forgot(&state, &ip, Some(shop.client.id), &body.email).await
}

async fn reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    shop: Shop,
    body: Body<reset::ResetBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let client_id = shop.client.id;
    reset::check(&state, Some(client_id), &body).await?;
    let ip = crate::proxy::remote_address(&req, &state.settings);
    state.password_rates.admit(Some(&format!("shop:{client_id}")), &ip).await?;
    let hash = state.hashing.hash(body.password).await?;
    let (email, token) = (body.email, body.token.trim().to_string());
    let lookup = email.clone();
    state.main.run(move |c| reset::consume_for_customer(c, client_id, &email, &token)).await?;
    let customer_id = shop.db.write(move |tx| store::set_password(tx, &lookup, &hash)).await?.ok_or_else(|| {
        AppError::unprocessable("invalid_token", "the reset token is wrong, used or expired; ask for a new one")
    })?;
    state.main.run(move |c| Ok(reset::revoke_customer_tokens(c, client_id, customer_id)?)).await?;
    tracing::info!(client_id, customer_id, "customer password reset; every token of the customer revoked");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"email": "ada@example.com", "password": "correct horse battery"}))]
struct LoginBody {
    email: String,
    password: String,
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    shop: Shop,
    body: Body<LoginBody>,
) -> Result<web::Json<SignedIn>, AppError> {
    let LoginBody { email, password } = body.into_inner();
    let scope = format!("shop:{}", shop.client.id);
    let ip = crate::proxy::remote_address(&req, &state.settings);
    let keys = AttemptKeys::new(&scope, &email, &ip);
    throttle::admit_sign_in(&state, &scope, &keys).await?;
    let found = shop.db.run(move |c| Ok(store::find_for_login(c, &email)?)).await?;
    let Some((user, rehashed)) = state.hashing.verify(password, found).await? else {
        state.throttle.record_failure(&keys);
        tracing::warn!(%ip, client_id = shop.client.id, "customer sign-in failed: wrong e-mail or password");
        return Err(AppError::Unauthorized("e-mail or password is wrong".into()));
    };
    if let Some(hash) = rehashed {
        // An imported bcrypt hash becomes Argon2id at the first sign-in.
        let user_id = user.id;
        shop.db.write(move |tx| Ok(store::set_password_hash(tx, user_id, &hash)?)).await?;
        tracing::info!(
            customer_id = user_id,
            client_id = shop.client.id,
            "imported password hash upgraded to Argon2id"
        );
    }
    state.throttle.record_success(&keys);
    // A guest's cart joins the customer's on sign-in.
    if let Some(token) = crate::cart::routes::cart_token(&req).ok().flatten() {
        let user_id = user.id;
        let merged = shop
            .db
            .write(move |tx| match crate::cart::store::guest_cart(tx, &token)? {
                Some(cart_id) => Ok(crate::cart::store::merge_into(tx, cart_id, user_id)?),
                None => Ok(0),
            })
            .await?;
        if merged > 0 {
            tracing::info!(customer_id = user.id, lines = merged, "guest cart merged at sign-in");
        }
    }
    Ok(web::Json(issue_token(&state, shop.client.id, user).await?))
}

async fn logout(state: web::Data<AppState>, customer: ShopCustomer) -> Result<HttpResponse, AppError> {
    let token_id = customer.shop.caller.token_id().expect("customers are signed in");
    state.main.run(move |c| Ok(tokens::revoke(c, token_id)?)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn me(customer: ShopCustomer) -> Result<web::Json<ShopUser>, AppError> {
    let id = customer.customer_id;
    let user = customer.shop.db.run(move |c| Ok(store::find_user(c, id)?)).await?;
    user.map(web::Json).ok_or_else(|| AppError::Unauthorized("this account no longer exists".into()))
}

async fn list(admin: ShopAdmin, q: web::Query<PageQuery>) -> Result<web::Json<Paginated<Customer>>, AppError> {
    let page = Page::parse(q.page, q.per_page)?;
    let (rows, total) = admin.0.db.run(move |c| Ok(store::list_customers(c, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}
