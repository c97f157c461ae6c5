//! `/api/shop/addresses`: the signed-in customer's own addresses.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::store::{self, Address, AddressFields};
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::tenancy::resolve::ShopCustomer;
use crate::validate;

pub fn routes(api: &mut Api) {
    use Access::Customer;
    api.get(
        "/api/shop/addresses",
        Spec::new("The customer's addresses", Customer, Answer::Json(200, schema::<AddressList>)),
        list,
    )
    .post(
        "/api/shop/addresses",
        Spec::new("Save an address", Customer, Answer::Json(201, schema::<Address>)).body_as(
            schema::<AddressBody>,
            "AddressCreate",
            &["name", "line1", "city", "postal_code", "country"],
        ),
        create,
    )
    .get("/api/shop/addresses/{id}", Spec::new("One address", Customer, Answer::Json(200, schema::<Address>)), show)
    .patch(
        "/api/shop/addresses/{id}",
        Spec::new("Change an address", Customer, Answer::Json(200, schema::<Address>)).body_as(
            schema::<AddressBody>,
            "AddressUpdate",
            &[],
        ),
        update,
    )
    .delete("/api/shop/addresses/{id}", Spec::new("Delete an address", Customer, Answer::NoContent), remove);
}

#[derive(Deserialize, serde::Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Ada Lovelace", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}))]
pub struct AddressBody {
    #[schemars(length(min = 1, max = 200))]
    name: Option<String>,
    #[schemars(length(min = 1, max = 200))]
    line1: Option<String>,
    #[schemars(length(max = 200))]
    line2: Option<String>,
    #[schemars(length(min = 1, max = 100))]
    city: Option<String>,
    #[schemars(length(max = 100))]
    region: Option<String>,
    #[schemars(length(min = 1, max = 20))]
    postal_code: Option<String>,
    /// An assigned ISO 3166-1 alpha-2 code, e.g. DE.
    #[schemars(regex(pattern = "^[A-Za-z]{2}$"))]
    country: Option<String>,
    #[schemars(length(max = 40))]
    phone: Option<String>,
    is_default: Option<bool>,
}

impl AddressBody {
    /// A whole address for a guest's order; problems are named `<prefix>.<field>`.
    pub fn shipping(self, prefix: &str) -> Result<crate::orders::store::ShippingAddress, AppError> {
        let fields = self.parse(true).map_err(|e| match e {
            AppError::Validation { fields, .. } => {
                let fields: std::collections::BTreeMap<String, String> =
                    fields.into_iter().map(|(k, v)| (format!("{prefix}.{k}"), v)).collect();
                let names: Vec<&str> = fields.keys().map(String::as_str).collect();
                AppError::Validation { message: format!("invalid fields: {}", names.join(", ")), fields }
            }
            other => other,
        })?;
        Ok(crate::orders::store::ShippingAddress {
            name: fields.name.unwrap_or_default(),
            line1: fields.line1.unwrap_or_default(),
            line2: fields.line2.flatten(),
            city: fields.city.unwrap_or_default(),
            region: fields.region.flatten(),
            postal_code: fields.postal_code.unwrap_or_default(),
            country: fields.country.unwrap_or_default(),
            phone: fields.phone.flatten(),
        })
    }

    fn parse(self, creating: bool) -> Result<AddressFields, AppError> {
        let mut errors = FieldErrors::default();
        if creating {
            for (field, value) in [
                ("name", &self.name),
                ("line1", &self.line1),
                ("city", &self.city),
                ("postal_code", &self.postal_code),
                ("country", &self.country),
            ] {
                if value.is_none() {
                    errors.add(field, "is required");
                }
            }
        }
        let required = |errors: &mut FieldErrors, field: &str, v: &Option<String>, max: usize| {
            v.as_deref().and_then(|s| errors.take(field, validate::text(s, 1, max)))
        };
        let optional = |errors: &mut FieldErrors, field: &str, v: &Option<String>, max: usize| {
            v.as_deref().and_then(|s| errors.take(field, validate::optional_text(Some(s), max)))
        };
        let fields = AddressFields {
            name: required(&mut errors, "name", &self.name, 200),
            line1: required(&mut errors, "line1", &self.line1, 200),
            line2: optional(&mut errors, "line2", &self.line2, 200),
            city: required(&mut errors, "city", &self.city, 100),
            region: optional(&mut errors, "region", &self.region, 100),
            postal_code: required(&mut errors, "postal_code", &self.postal_code, 20),
            country: self.country.as_deref().and_then(|c| errors.take("country", validate::country(c))),
            phone: optional(&mut errors, "phone", &self.phone, 40),
            is_default: self.is_default,
        };
        errors.into_result()?;
        Ok(fields)
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct AddressList {
    data: Vec<Address>,
}

async fn list(customer: ShopCustomer) -> Result<web::Json<AddressList>, AppError> {
    let user_id = customer.customer_id;
    let data = customer.shop.db.run(move |c| Ok(store::list(c, user_id)?)).await?;
    Ok(web::Json(AddressList { data }))
}

async fn create(customer: ShopCustomer, body: Body<AddressBody>) -> Result<HttpResponse, AppError> {
    let (user_id, f) = (customer.customer_id, body.into_inner().parse(true)?);
    let created = customer.shop.db.write(move |tx| store::insert(tx, user_id, &f)).await?;
    Ok(HttpResponse::Created().json(created))
}

async fn show(customer: ShopCustomer, id: web::Path<i64>) -> Result<web::Json<Address>, AppError> {
    let (user_id, id) = (customer.customer_id, id.into_inner());
    customer
        .shop
        .db
        .run(move |c| store::find(c, user_id, id)?.ok_or_else(|| AppError::not_found("not_found", "no such address")))
        .await
        .map(web::Json)
}

async fn update(
    customer: ShopCustomer,
    id: web::Path<i64>,
    body: Body<AddressBody>,
) -> Result<web::Json<Address>, AppError> {
    let (user_id, id, f) = (customer.customer_id, id.into_inner(), body.into_inner().parse(false)?);
    customer.shop.db.write(move |tx| store::update(tx, user_id, id, &f)).await.map(web::Json)
}

async fn remove(customer: ShopCustomer, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let (user_id, id) = (customer.customer_id, id.into_inner());
    customer.shop.db.write(move |tx| store::delete(tx, user_id, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
