//! A shop's own settings (its `shop_settings` row): currency, tax, shipping, auto-cancel,
//! low-stock line, locale and mail sender name. Checkout reads them inside its transaction.

pub mod routes;
pub mod store;

use serde::Serialize;

/// The longest `auto_cancel_unpaid_hours` may be (30 days).
pub const MAX_AUTO_CANCEL_HOURS: i64 = 720;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"currency": "EUR", "tax_rate_bp": 1900, "shipping_flat_cents": 495,
    "free_shipping_over_cents": 5000, "auto_cancel_unpaid_hours": 48, "low_stock_threshold": 5, "locale": "de-DE",
    "mail_sender_name": "Vault 64 Tea", "updated_at": "2026-11-29T10:00:00Z"}))]
pub struct ShopSettings {
    /// ISO 4217 code of the shop's prices, e.g. `EUR`; orders record it.
    pub currency: String,
    /// Tax in basis points (1900 = 19 %), added on top of prices (see "Amounts" in the README).
    pub tax_rate_bp: i64,
    /// Shipping per order, in cents.
    pub shipping_flat_cents: i64,
    /// Orders whose discounted subtotal reaches this ship free; null: never free.
    pub free_shipping_over_cents: Option<i64>,
    /// Unpaid (pending) orders are cancelled after this many hours; null: the global
    /// `order_auto_cancel` schedule's minutes.
    pub auto_cancel_unpaid_hours: Option<i64>,
    /// A checkout that takes a product's stock to this or below raises `product.low_stock`.
    pub low_stock_threshold: i64,
    /// BCP 47 tag for storefronts (e.g. `en`, `de-DE`).
    pub locale: String,
    /// The name mail to customers comes from; null: the shop's name.
    pub mail_sender_name: Option<String>,
    /// Prices (and shipping) are entered with tax included: an order's tax is the part of its
    /// total that is tax, not added on top (see "Amounts" in the README).
    pub prices_include_tax: bool,
    pub updated_at: String,
}

impl ShopSettings {
    /// Shipping for a shop without shipping methods: flat, unless the goods after discount reach
    /// the free-shipping line. (What an order costs in all: `shipping::store::quote`.)
    pub fn flat_shipping(&self, goods_cents: i64) -> i64 {
        let free = self.free_shipping_over_cents.is_some_and(|line| goods_cents >= line);
        if free { 0 } else { self.shipping_flat_cents }
    }
}

/// The tax in `amount_cents` (goods after discount, plus shipping) at `rate_bp` basis points,
/// rounded half up to the cent: added on top (`included` false: amount × rate), or the part of an
/// amount that already includes it (amount × rate / (1 + rate)).
pub fn tax_of(amount_cents: i64, rate_bp: i64, included: bool) -> i64 {
    let (amount, rate) = (i128::from(amount_cents), i128::from(rate_bp));
    let divisor = if included { 10_000 + rate } else { 10_000 };
    ((amount * rate * 2 + divisor) / (divisor * 2)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(tax_rate_bp: i64, flat: i64, free: Option<i64>) -> ShopSettings {
        ShopSettings {
            currency: "EUR".into(),
            tax_rate_bp,
            shipping_flat_cents: flat,
            free_shipping_over_cents: free,
            auto_cancel_unpaid_hours: None,
            low_stock_threshold: 5,
            locale: "en".into(),
            mail_sender_name: None,
            prices_include_tax: false,
            updated_at: String::new(),
        }
    }

    #[test]
    fn tax_included_in_prices_is_extracted_half_up() {
        // 19 % included in 11.90 is 1.90; in 10.00 it is 1.5966 → 1.60; 7 % in 1.07 is 0.07.
        assert_eq!(tax_of(1190, 1900, true), 190);
        assert_eq!(tax_of(1000, 1900, true), 160);
        assert_eq!(tax_of(107, 700, true), 7);
        assert_eq!(tax_of(1000, 0, true), 0);
        // On top, as before: half up.
        assert_eq!(tax_of(100, 750, false), 8);
        assert_eq!(tax_of(2495, 1900, false), 474);
    }

    /// (shipping, tax on top) of an order without shipping methods or tax rates by country.
    fn charges(s: &ShopSettings, subtotal: i64, discount: i64) -> (i64, i64) {
        let shipping = s.flat_shipping(subtotal - discount);
        (shipping, tax_of(subtotal - discount + shipping, s.tax_rate_bp, false))
    }

    #[test]
    fn tax_is_rounded_half_up_on_goods_and_shipping_and_free_shipping_uses_the_discounted_subtotal() {
        // 19 % of 10.00 + 4.95 = 2.8405 → 2.84; of 0.05 = 0.0095 → 0.01 (half up from 0.95 cents).
        assert_eq!(charges(&settings(1900, 495, None), 1000, 0), (495, 284));
        assert_eq!(charges(&settings(1900, 0, None), 5, 0), (0, 1));
        // 7.5 % of 2.00 = 15 cents exactly; of 1.00 = 7.5 cents → 8.
        assert_eq!(charges(&settings(750, 0, None), 200, 0), (0, 15));
        assert_eq!(charges(&settings(750, 0, None), 100, 0), (0, 8));
        // The free-shipping line is judged after the discount.
        assert_eq!(charges(&settings(0, 495, Some(5000)), 5000, 0).0, 0);
        assert_eq!(charges(&settings(0, 495, Some(5000)), 5000, 1).0, 495);
        assert_eq!(charges(&settings(0, 495, None), 1_000_000, 0).0, 495);
        // No overflow at the largest amounts the schema allows.
        let big = charges(&settings(10_000, 100_000_000, None), i64::MAX / 4, 0);
        assert_eq!(big.1, i64::MAX / 4 + 100_000_000);
    }
}
