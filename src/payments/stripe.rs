//! Stripe over plain HTTPS (form bodies, JSON answers) to `VERGEFLOW_STRIPE_API_BASE`, from job
//! or blocking threads only; and the verification of Stripe's signed webhooks.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::store::{Standing, refund_status};

/// What the server does with a Stripe secret key.
pub struct StripeApi {
    base: String,
    secret_key: String,
    agent: ureq::Agent,
}

/// A PaymentIntent as far as VergeFlow needs it.
#[derive(Debug, Clone)]
pub struct Intent {
    pub id: String,
    pub client_secret: String,
    pub status: String,
    pub amount: i64,
    pub amount_received: i64,
    pub amount_refunded: i64,
    pub failure: Option<String>,
}

impl Intent {
    fn from_json(v: &Value) -> anyhow::Result<Self> {
        let s = |k: &str| v[k].as_str().map(str::to_string);
        let charge = &v["latest_charge"];
        Ok(Self {
            id: s("id").ok_or_else(|| anyhow::anyhow!("Stripe answered without an id: {v}"))?,
            client_secret: s("client_secret").unwrap_or_default(),
            status: s("status").unwrap_or_default(),
            amount: v["amount"].as_i64().unwrap_or(0),
            amount_received: v["amount_received"].as_i64().unwrap_or_else(|| {
                // Older API versions (and the local fake) say it on the charge.
                if charge["captured"].as_bool() == Some(true) {
                    charge["amount_captured"].as_i64().or(charge["amount"].as_i64()).unwrap_or(0)
                } else {
                    0
                }
            }),
            amount_refunded: charge["amount_refunded"].as_i64().unwrap_or(0),
            failure: v["last_payment_error"]["message"].as_str().map(str::to_string),
        })
    }

    /// The payment's standing by this intent.
    pub fn standing(&self) -> Standing {
        let (status, captured, failure) = match self.status.as_str() {
            "succeeded" => (refund_status(self.amount_received, self.amount_refunded), self.amount_received, None),
            "requires_capture" => ("authorized", 0, None),
            "canceled" => ("failed", 0, Some("the payment was cancelled".to_string())),
            "requires_payment_method" if self.failure.is_some() => ("failed", 0, self.failure.clone()),
            _ => ("pending", 0, None),
        };
        Standing {
            status,
            captured_cents: captured,
            refunded_cents: self.amount_refunded.min(captured),
            failure_reason: failure,
        }
    }
}

/// An error from Stripe: what it said (never the key).
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe refused: {0}")]
    Refused(String),
    #[error("Stripe did not answer: {0}")]
    Unreachable(String),
}

impl StripeApi {
    pub fn new(base: &str, secret_key: String) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(15)).build();
        Self { base: base.trim_end_matches('/').to_string(), secret_key, agent }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Value, StripeError> {
        let mut req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.secret_key));
        if let Some(key) = idempotency_key {
            req = req.set("Idempotency-Key", key);
        }
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = if method == "GET" { req.call() } else { req.send_form(&pairs) };
        match answer {
            Ok(res) => res
                .into_string()
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .ok_or_else(|| StripeError::Unreachable("an unreadable answer".into())),
            Err(ureq::Error::Status(code, res)) => {
                let body: Value =
                    res.into_string().ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
                let message = body["error"]["message"].as_str().unwrap_or("no message").to_string();
                Err(StripeError::Refused(format!("{code}: {message}")))
            }
            Err(e) => Err(StripeError::Unreachable(e.to_string())),
        }
    }

    /// Makes the PaymentIntent of an order. `idempotency_key` makes a repeat (after a crash) return
    /// the same intent at Stripe.
    pub fn create_intent(
        &self,
        amount_cents: i64,
        currency: &str,
        manual_capture: bool,
        metadata: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<Intent, StripeError> {
        let mut form = vec![
            ("amount", amount_cents.to_string()),
            ("currency", currency.to_ascii_lowercase()),
            ("capture_method", if manual_capture { "manual" } else { "automatic" }.to_string()),
        ];
        let keys: Vec<String> = metadata.iter().map(|(k, _)| format!("metadata[{k}]")).collect();
        for (key, (_, value)) in keys.iter().zip(metadata) {
            form.push((key.as_str(), value.clone()));
        }
        let v = self.call("POST", "/v1/payment_intents", &form, Some(idempotency_key))?;
        Intent::from_json(&v).map_err(|e| StripeError::Refused(e.to_string()))
    }

    pub fn retrieve(&self, id: &str) -> Result<Intent, StripeError> {
        let v = self.call("GET", &format!("/v1/payment_intents/{}?expand[]=latest_charge", encode(id)), &[], None)?;
        Intent::from_json(&v).map_err(|e| StripeError::Refused(e.to_string()))
    }

    pub fn capture(&self, id: &str, idempotency_key: &str) -> Result<Intent, StripeError> {
        self.call("POST", &format!("/v1/payment_intents/{}/capture", encode(id)), &[], Some(idempotency_key))?;
        self.retrieve(id)
    }

    /// Refunds part of a captured PaymentIntent; answers the refund's id.
    pub fn refund(
        &self,
        payment_intent: &str,
        amount_cents: i64,
        idempotency_key: &str,
    ) -> Result<String, StripeError> {
        let form = [("payment_intent", payment_intent.to_string()), ("amount", amount_cents.to_string())];
        let v = self.call("POST", "/v1/refunds", &form, Some(idempotency_key))?;
        v["id"].as_str().map(str::to_string).ok_or_else(|| StripeError::Refused(format!("a refund without an id: {v}")))
    }
}

/// Ids go into URL paths: Stripe's are `[A-Za-z0-9_]`; anything else is escaped.
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// How old a signed webhook may be (Stripe's default tolerance).
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;

/// Checks a `Stripe-Signature` header (`t=<unix>,v1=<hex>[,v1=…]`) over the raw body with the
/// shop's webhook secret: HMAC-SHA256 of `<t>.<body>`, compared in constant time, `t` within the
/// tolerance of `now`.
pub fn verify_signature(header: &str, body: &[u8], secret: &str, now: i64) -> Result<(), &'static str> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let t = timestamp.ok_or("no timestamp in Stripe-Signature")?;
    if (now - t).abs() > WEBHOOK_TOLERANCE_SECS {
        return Err("the signature's timestamp is too old or in the future");
    }
    for sig in signatures {
        let Some(expected) = (0..sig.len())
            .step_by(2)
            .map(|i| sig.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
        else {
            continue;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err("no valid v1 signature")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("t={t},v1={hex}")
    }

    #[test]
    fn signatures_are_checked_over_time_and_body() {
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_800_000_000;
        assert!(verify_signature(&sign("whsec_a", now, body), body, "whsec_a", now).is_ok());
        assert!(verify_signature(&format!("v1=00,{}", sign("whsec_a", now, body)), body, "whsec_a", now + 10).is_ok());
        assert!(verify_signature(&sign("whsec_b", now, body), body, "whsec_a", now).is_err(), "another secret");
        assert!(verify_signature(&sign("whsec_a", now, body), b"{}", "whsec_a", now).is_err(), "another body");
        assert!(verify_signature(&sign("whsec_a", now - 301, body), body, "whsec_a", now).is_err(), "too old");
        assert!(verify_signature("v1=abc", body, "whsec_a", now).is_err());
        assert_eq!(encode("pi_123"), "pi_123");
        assert_eq!(encode("pi/../x"), "pi%2F%2E%2E%2Fx");
    }

    #[test]
    fn intents_map_to_payment_standings() {
        let intent = |status: &str, received: i64, refunded: i64, failure: Option<&str>| Intent {
            id: "pi_1".into(),
            client_secret: String::new(),
            status: status.into(),
            amount: 1000,
            amount_received: received,
            amount_refunded: refunded,
            failure: failure.map(str::to_string),
        };
        assert_eq!(intent("requires_payment_method", 0, 0, None).standing().status, "pending");
        assert_eq!(intent("requires_capture", 0, 0, None).standing().status, "authorized");
        assert_eq!(intent("succeeded", 1000, 0, None).standing().status, "captured");
        assert_eq!(intent("succeeded", 1000, 300, None).standing().status, "partially_refunded");
        assert_eq!(intent("succeeded", 1000, 1000, None).standing().status, "refunded");
        let failed = intent("requires_payment_method", 0, 0, Some("Your card was declined.")).standing();
        assert_eq!((failed.status, failed.failure_reason.as_deref()), ("failed", Some("Your card was declined.")));
    }
}
