//! `/api/shop/cart`: the signed-in customer's own cart.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::store::{self, Cart, CartItem};
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::tenancy::resolve::ShopCustomer;
use crate::validate;

pub fn routes(api: &mut Api) {
    use Access::Customer;
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

async fn show(customer: ShopCustomer) -> Result<web::Json<Cart>, AppError> {
    let user_id = customer.customer_id;
    customer.shop.db.run(move |c| Ok(store::cart(c, user_id)?)).await.map(web::Json)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"product_id": 1, "quantity": 2}))]
struct AddBody {
    #[schemars(range(min = 1))]
    product_id: Option<i64>,
    #[schemars(range(min = 1, max = 1000))]
    quantity: Option<i64>,
}

async fn add(customer: ShopCustomer, body: Body<AddBody>) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    if body.product_id.is_none() {
        errors.add("product_id", "is required");
    }
    let quantity = errors.take("quantity", validate::quantity(body.quantity.unwrap_or(1)));
    errors.into_result()?;
    let (user_id, product_id, quantity) =
        (customer.customer_id, body.product_id.unwrap_or_default(), quantity.unwrap_or(1));
    let item = customer.shop.db.write(move |tx| store::add(tx, user_id, product_id, quantity)).await?;
    Ok(HttpResponse::Created().json(item))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UpdateBody {
    #[schemars(range(min = 1, max = 1000))]
    quantity: i64,
}

async fn update(
    customer: ShopCustomer,
    id: web::Path<i64>,
    body: Body<UpdateBody>,
) -> Result<web::Json<CartItem>, AppError> {
    let quantity = validate::quantity(body.quantity).map_err(|e| AppError::invalid_field("quantity", e))?;
    let (user_id, id) = (customer.customer_id, id.into_inner());
    customer.shop.db.write(move |tx| store::set_quantity(tx, user_id, id, quantity)).await.map(web::Json)
}

async fn remove(customer: ShopCustomer, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let (user_id, id) = (customer.customer_id, id.into_inner());
    customer.shop.db.write(move |tx| store::remove(tx, user_id, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
