//! Taking money: payment providers configured per shop, one payment per order (its status apart
//! from the order's fulfilment status), captures, refunds and the provider's webhooks.
//!
//! Providers: `manual` (the admin confirms the money arrived), `bank_transfer` (instructions shown
//! on the order; the admin confirms), `cash_on_delivery` (the admin confirms on delivery) and
//! `stripe` (a PaymentIntent made at checkout, confirmed by the buyer's browser with its client
//! secret, captured automatically or by the admin, refunded through Stripe; its signed webhooks
//! and `…/payment/sync` bring Stripe's state in).

pub mod flow;
pub mod reconcile;
pub mod routes;
pub mod secrets;
pub mod store;
pub mod stripe;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Manual,
    BankTransfer,
    CashOnDelivery,
    Stripe,
}

impl Provider {
    pub const ALL: [Provider; 4] =
        [Provider::Manual, Provider::BankTransfer, Provider::CashOnDelivery, Provider::Stripe];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::BankTransfer => "bank_transfer",
            Self::CashOnDelivery => "cash_on_delivery",
            Self::Stripe => "stripe",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Money that arrives outside the server: the admin confirms it.
    pub fn is_offline(self) -> bool {
        self != Self::Stripe
    }
}

/// Whether checkouts make a payment (and the order's first history entry): always, except in
/// benchmark builds started with `VERGEFLOW_BENCH_NO_PAYMENTS=1`, which the benchmark uses to price
/// them against the checkout as it was before payments.
#[cfg(not(feature = "bench-hooks"))]
pub fn enabled() -> bool {
    true
}

#[cfg(feature = "bench-hooks")]
pub fn enabled() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    !*OFF.get_or_init(|| std::env::var("VERGEFLOW_BENCH_NO_PAYMENTS").is_ok_and(|v| v == "1"))
}

/// Payment statuses (the contract's words).
pub const STATUSES: [&str; 6] = ["pending", "authorized", "captured", "failed", "refunded", "partially_refunded"];

/// An order's payment as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 1, "provider": "stripe", "status": "captured", "amount_cents": 2969,
    "currency": "EUR", "captured_cents": 2969, "refunded_cents": 0, "client_secret": null, "instructions": null,
    "failure_reason": null, "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:01:00Z"}))]
pub struct Payment {
    pub id: i64,
    pub provider: Provider,
    /// `pending`, `authorized`, `captured`, `failed`, `refunded` or `partially_refunded`.
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
    pub captured_cents: i64,
    pub refunded_cents: i64,
    /// Stripe: what the buyer's browser confirms the PaymentIntent with (Stripe.js); shown to the
    /// order's customer only, until the payment leaves `pending`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Offline providers: what the buyer must do (the shop's instructions).
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// The provider's id (a Stripe PaymentIntent); shown to the shop's admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}
