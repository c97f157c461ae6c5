//! `/api/shop/cart`: a signed-in customer's own cart, or a guest's cart known by the `Cart-Token`
//! header (made by the first item a guest adds, and answered in that response's `Cart-Token`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::store::{self, Cart, CartItem, Owner};
use crate::auth::Caller;
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::tenancy::resolve::Shop;
use crate::validate;

/// The header a guest's cart travels in.
pub const CART_TOKEN: &str = "Cart-Token";

/// The `Cart-Token` of a request, if any: 48 hex digits, or 400 `invalid_cart_token`.
pub fn cart_token(req: &HttpRequest) -> Result<Option<String>, AppError> {
    match req.headers().get(CART_TOKEN) {
        None => Ok(None),
        Some(v) => {
            let t = v.to_str().unwrap_or_default().trim();
            if t.len() == 48 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(Some(t.to_ascii_lowercase()))
            } else {
                Err(AppError::bad_request(
                    "invalid_cart_token",
                    "Cart-Token must be the token a cart was answered with",
                ))
            }
        }
    }
}

fn no_cart() -> AppError {
    AppError::not_found("cart_not_found", "this cart does not exist or has expired; start a new one")
}

/// Whose cart a request is about: the signed-in customer's, or the guest cart its token names
/// (`None` for a guest without one yet). Admins have no cart.
pub async fn owner(shop: &Shop, req: &HttpRequest) -> Result<Option<Owner>, AppError> {
    match shop.caller {
        Caller::Customer { customer_id, .. } => Ok(Some(Owner::Customer(customer_id))),
        Caller::Anonymous => match cart_token(req)? {
            None => Ok(None),
            Some(token) => {
                let found = shop.db.run(move |c| Ok(store::guest_cart(c, &token)?)).await?;
                found.map(|id| Some(Owner::Guest(id))).ok_or_else(no_cart)
            }
        },
        _ => Err(AppError::forbidden("forbidden", "carts are for the shop's customers and guests")),
    }
}

pub fn routes(api: &mut Api) {
    use Access::Buyer as Customer;
    api.get("/api/shop/cart", Spec::new("The customer's cart", Customer, Answer::Json(200, schema::<Cart>)), show)
        .post(
            "/api/shop/cart/items",
            Spec::new("Add a product to the cart", Customer, Answer::Json(201, schema::<CartItem>)).body_as(
                schema::<AddBody>,
                "CartItemAdd",
                &["product_id", "quantity"],
            ),
            add,
        )
        .patch(
            "/api/shop/cart/items/{id}",
            Spec::new("Change a line's quantity", Customer, Answer::Json(200, schema::<CartItem>)).body_as(
                schema::<UpdateBody>,
                "CartItemUpdate",
                &["quantity"],
            ),
            update,
        )
        .delete("/api/shop/cart/items/{id}", Spec::new("Remove a line", Customer, Answer::NoContent), remove);
}

async fn show(shop: Shop, req: HttpRequest) -> Result<web::Json<Cart>, AppError> {
    match owner(&shop, &req).await? {
        Some(owner) => shop.db.run(move |c| Ok(store::cart(c, owner)?)).await.map(web::Json),
        None => Ok(web::Json(Cart { items: Vec::new(), subtotal_cents: 0 })),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"product_id": 1, "quantity": 2}))]
struct AddBody {
    #[schemars(range(min = 1))]
    product_id: Option<i64>,
    /// Which variant; required when the product comes in several (it may stand alone).
    #[schemars(range(min = 1))]
    variant_id: Option<i64>,
    #[schemars(range(min = 1, max = 1000))]
    quantity: Option<i64>,
}

async fn add(shop: Shop, req: HttpRequest, body: Body<AddBody>) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    if body.product_id.is_none() && body.variant_id.is_none() {
        errors.add("product_id", "is required");
    }
    let quantity = errors.take("quantity", validate::quantity(body.quantity.unwrap_or(1)));
    errors.into_result()?;
    let (product_id, variant_id, quantity) = (body.product_id, body.variant_id, quantity.unwrap_or(1));
    let owner = owner(&shop, &req).await?;
    let (item, new_token) = shop
        .db
        .write(move |tx| {
            // A guest's first item makes the guest's cart, in the same transaction.
            let (owner, token) = match owner {
                Some(o) => (o, None),
                None => {
                    let (id, token) = store::new_guest_cart(tx)?;
                    (Owner::Guest(id), Some(token))
                }
            };
            let item = store::add(tx, owner, product_id, variant_id, quantity)?;
            if let Owner::Guest(id) = owner {
                store::touch_guest_cart(tx, id)?;
            }
            Ok((item, token))
        })
        .await?;
    let mut res = HttpResponse::Created();
    if let Some(token) = new_token {
        res.insert_header((CART_TOKEN, token));
    }
    Ok(res.json(item))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UpdateBody {
    #[schemars(range(min = 1, max = 1000))]
    quantity: i64,
}

async fn update(
    shop: Shop,
    req: HttpRequest,
    id: web::Path<i64>,
    body: Body<UpdateBody>,
) -> Result<web::Json<CartItem>, AppError> {
    let quantity = validate::quantity(body.quantity).map_err(|e| AppError::invalid_field("quantity", e))?;
    let owner = owner(&shop, &req).await?.ok_or_else(|| AppError::not_found("not_found", "no such cart item"))?;
    let id = id.into_inner();
    shop.db.write(move |tx| store::set_quantity(tx, owner, id, quantity)).await.map(web::Json)
}

async fn remove(shop: Shop, req: HttpRequest, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let owner = owner(&shop, &req).await?.ok_or_else(|| AppError::not_found("not_found", "no such cart item"))?;
    let id = id.into_inner();
    shop.db.write(move |tx| store::remove(tx, owner, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
