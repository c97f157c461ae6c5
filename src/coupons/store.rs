//! Coupon SQL and the rule that decides whether a coupon applies to a subtotal.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::{AppError, is_unique_violation};
use crate::pagination::Page;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Coupon {
    pub id: i64,
    pub code: String,
    #[schemars(with = "CouponKind")]
    pub kind: String,
    pub value: i64,
    pub min_subtotal_cents: Option<i64>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub expires_at: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// Validated fields; `None` keeps the current value (kind, code and value are required on create).
#[derive(Debug, Default, Clone)]
pub struct CouponFields {
    pub code: Option<String>,
    pub kind: Option<String>,
    pub value: Option<i64>,
    pub min_subtotal_cents: Option<Option<i64>>,
    pub max_uses: Option<Option<i64>>,
    pub expires_at: Option<Option<String>>,
    pub active: Option<bool>,
}

const COLUMNS: &str =
    "id, code, kind, value, min_subtotal_cents, max_uses, uses, expires_at, active, created_at, updated_at";

fn coupon(r: &Row<'_>) -> rusqlite::Result<Coupon> {
    Ok(Coupon {
        id: r.get(0)?,
        code: r.get(1)?,
        kind: r.get(2)?,
        value: r.get(3)?,
        min_subtotal_cents: r.get(4)?,
        max_uses: r.get(5)?,
        uses: r.get(6)?,
        expires_at: r.get(7)?,
        active: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

pub fn list(conn: &Connection, page: Page) -> rusqlite::Result<(Vec<Coupon>, i64)> {
    let total = conn.query_row("SELECT COUNT(*) FROM coupons", [], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM coupons ORDER BY id LIMIT ?1 OFFSET ?2"))?;
    let rows = stmt.query_map([page.limit(), page.offset()], coupon)?.collect::<Result<_, _>>()?;
    Ok((rows, total))
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<Coupon>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM coupons WHERE id = ?1"))?.query_row([id], coupon).optional()
}

pub fn find_by_code(conn: &Connection, code: &str) -> rusqlite::Result<Option<Coupon>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM coupons WHERE code = ?1"))?.query_row([code], coupon).optional()
}

fn code_conflict(e: rusqlite::Error) -> AppError {
    if is_unique_violation(&e, "code") {
        AppError::conflict("code_taken", "another coupon already has that code")
    } else if let rusqlite::Error::SqliteFailure(f, _) = &e
        && f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_CHECK
    {
        AppError::invalid_field("value", "a percent coupon is at most 100, and uses may not exceed max_uses")
    } else {
        e.into()
    }
}

pub fn insert(conn: &Connection, f: &CouponFields) -> Result<Coupon, AppError> {
    conn.execute(
        "INSERT INTO coupons (code, kind, value, min_subtotal_cents, max_uses, expires_at, active)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            f.code,
            f.kind,
            f.value,
            f.min_subtotal_cents.flatten(),
            f.max_uses.flatten(),
            f.expires_at.clone().flatten(),
            f.active.unwrap_or(true)
        ],
    )
    .map_err(code_conflict)?;
    Ok(find(conn, conn.last_insert_rowid())?.expect("just inserted"))
}

pub fn update(conn: &Connection, id: i64, f: &CouponFields) -> Result<Coupon, AppError> {
    find(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such coupon"))?;
    conn.execute(
        "UPDATE coupons SET code = COALESCE(?2, code), kind = COALESCE(?3, kind), value = COALESCE(?4, value),
                min_subtotal_cents = CASE WHEN ?5 THEN ?6 ELSE min_subtotal_cents END,
                max_uses = CASE WHEN ?7 THEN ?8 ELSE max_uses END,
                expires_at = CASE WHEN ?9 THEN ?10 ELSE expires_at END,
                active = COALESCE(?11, active), updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1",
        params![
            id,
            f.code,
            f.kind,
            f.value,
            f.min_subtotal_cents.is_some(),
            f.min_subtotal_cents.flatten(),
            f.max_uses.is_some(),
            f.max_uses.flatten(),
            f.expires_at.is_some(),
            f.expires_at.clone().flatten(),
            f.active
        ],
    )
    .map_err(code_conflict)?;
    Ok(find(conn, id)?.expect("exists"))
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), AppError> {
    match conn.execute("DELETE FROM coupons WHERE id = ?1", [id])? {
        0 => Err(AppError::not_found("not_found", "no such coupon")),
        _ => Ok(()),
    }
}

impl Coupon {
    /// The discount this coupon gives on `subtotal` at `now` (RFC 3339), or why it does not apply.
    pub fn discount_for(&self, subtotal: i64, now: &str) -> Result<i64, &'static str> {
        if !self.active {
            return Err("this coupon is not active");
        }
        if self.expires_at.as_deref().is_some_and(|e| e <= now) {
            return Err("this coupon has expired");
        }
        if self.max_uses.is_some_and(|max| self.uses >= max) {
            return Err("this coupon has been used up");
        }
        if self.min_subtotal_cents.is_some_and(|min| subtotal < min) {
            return Err("the cart's subtotal is below this coupon's minimum");
        }
        Ok(match self.kind.as_str() {
            "percent" => subtotal * self.value / 100,
            _ => self.value.min(subtotal),
        })
    }
}

/// Counts one use; refuses (returns false) if that would pass the limit.
pub fn count_use(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE coupons SET uses = uses + 1, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1 AND (max_uses IS NULL OR uses < max_uses)",
        [id],
    )?;
    Ok(n == 1)
}

/// Gives a use back (a cancelled order).
pub fn release_use(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE coupons SET uses = MAX(uses - 1, 0) WHERE id = ?1", [id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coupon(kind: &str, value: i64) -> Coupon {
        Coupon {
            id: 1,
            code: "X".into(),
            kind: kind.into(),
            value,
            min_subtotal_cents: Some(1000),
            max_uses: Some(2),
            uses: 1,
            expires_at: Some("2030-01-01T00:00:00Z".into()),
            active: true,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn discount_rules() {
        let now = "2029-01-01T00:00:00Z";
        assert_eq!(coupon("percent", 15).discount_for(2999, now), Ok(449));
        assert_eq!(coupon("fixed", 5000).discount_for(2000, now), Ok(2000));
        assert!(coupon("fixed", 100).discount_for(999, now).is_err());
        assert!(coupon("fixed", 100).discount_for(2000, "2030-01-01T00:00:00Z").is_err());
        let mut used = coupon("fixed", 100);
        used.uses = 2;
        assert!(used.discount_for(2000, now).is_err());
        let mut off = coupon("fixed", 100);
        off.active = false;
        assert!(off.discount_for(2000, now).is_err());
    }
}

/// A coupon's kind, as the API document lists it (stored as text): with `percent`, `value` is a
/// percentage of the subtotal (1–100); with `fixed`, an amount in cents.
#[derive(schemars::JsonSchema)]
#[schemars(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CouponKind {
    Percent,
    Fixed,
}
