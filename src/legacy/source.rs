//! Reading the legacy MySQL/MariaDB database: whole tables (or one client's rows) as text, over
//! the text protocol, so every value arrives as the server prints it (DECIMAL digits, timestamps)
//! and is converted here exactly.

use std::collections::HashMap;

use mysql::prelude::Queryable as _;

use crate::error::AppError;

/// One table's rows as text, with its columns by name.
pub struct Rows {
    columns: HashMap<String, usize>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Rows {
    /// A cell by column name; `None` for NULL or a column the table lacks.
    pub fn get<'a>(&self, row: &'a [Option<String>], column: &str) -> Option<&'a str> {
        self.columns.get(column).and_then(|i| row.get(*i)).and_then(|v| v.as_deref())
    }

    pub fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }
}

fn source_error(e: mysql::Error) -> AppError {
    AppError::BadGateway { code: "source_failed", message: format!("the legacy database answered: {e}") }
}

pub fn connect(url: &str) -> Result<mysql::Conn, AppError> {
    let opts = mysql::Opts::from_url(url)
        .map_err(|e| AppError::unprocessable("invalid_source", format!("not a mysql:// URL: {e}")))?;
    mysql::Conn::new(opts).map_err(source_error)
}

/// Whether the source has this table.
pub fn has_table(conn: &mut mysql::Conn, table: &str) -> Result<bool, AppError> {
    let n: Option<i64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
            (table,),
        )
        .map_err(source_error)?;
    Ok(n.unwrap_or(0) > 0)
}

/// The rows of `table` (a name of ours, never input), those of one client when `client_id` is
/// given, in id order. A table the source lacks reads as empty.
pub fn rows(conn: &mut mysql::Conn, table: &str, client_id: Option<i64>) -> Result<Rows, AppError> {
    if !has_table(conn, table)? {
        return Ok(Rows { columns: HashMap::new(), rows: Vec::new() });
    }
    let filter = match client_id {
        Some(id) => format!(" WHERE client_id = {id}"),
        None => String::new(),
    };
    let mut result = conn.query_iter(format!("SELECT * FROM `{table}`{filter} ORDER BY id")).map_err(source_error)?;
    let columns: HashMap<String, usize> =
        result.columns().as_ref().iter().enumerate().map(|(i, c)| (c.name_str().into_owned(), i)).collect();
    let mut rows = Vec::new();
    for row in result.by_ref() {
        let row = row.map_err(source_error)?;
        rows.push(
            (0..row.len())
                .map(|i| match row.as_ref(i) {
                    Some(mysql::Value::NULL) | None => None,
                    Some(mysql::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                    Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string()),
                })
                .collect(),
        );
    }
    Ok(Rows { columns, rows })
}

/// Exact cents from DECIMAL text: `12.3` → 1230, `12.340` → 1234; `12.345` (a third decimal that
/// is not zero) and anything that is not a plain decimal are refused, never rounded.
pub fn cents(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 15
    {
        return Err(format!("'{text}' is not a decimal amount"));
    }
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return Err(format!("'{text}' has more than two decimals"));
    }
    let mut cents: i64 =
        if whole.is_empty() { 0 } else { whole.parse().map_err(|_| format!("'{text}' is too large"))? };
    let f = frac.as_bytes();
    for i in 0..2 {
        cents = cents * 10 + f.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    Ok(if negative { -cents } else { cents })
}

/// RFC 3339 UTC from a MySQL `TIMESTAMP`/`DATETIME` (`2024-03-01 12:00:00[.ffffff]`, taken as
/// UTC); `None` for a zero date or anything else.
pub fn time(text: Option<&str>) -> Option<String> {
    let t = text?.trim();
    let (date, clock) = t.split_once([' ', 'T'])?;
    let clock = clock.split('.').next()?.trim_end_matches('Z');
    let ok = date.len() == 10
        && clock.len() == 8
        && date.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() })
        && clock.bytes().enumerate().all(|(i, b)| if i == 2 || i == 5 { b == b':' } else { b.is_ascii_digit() });
    (ok && !date.starts_with("0000") && &date[5..7] != "00" && &date[8..10] != "00").then(|| format!("{date}T{clock}Z"))
}

/// A MySQL boolean (`TINYINT(1)`): `1`/`0`, also `true`/`false`.
pub fn flag(text: Option<&str>) -> Option<bool> {
    match text?.trim() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

pub fn int(text: Option<&str>) -> Option<i64> {
    text?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact() {
        assert_eq!(cents("12.30"), Ok(1230));
        assert_eq!(cents("12.340"), Ok(1234));
        assert_eq!(cents("0.07"), Ok(7));
        assert_eq!(cents("5"), Ok(500));
        assert_eq!(cents("-1.50"), Ok(-150));
        assert_eq!(cents("99999999.99"), Ok(9_999_999_999));
        assert!(cents("12.345").unwrap_err().contains("more than two decimals"));
        assert!(cents("1e3").is_err() && cents("").is_err() && cents("1.2.3").is_err());
    }

    #[test]
    fn timestamps_become_rfc3339() {
        assert_eq!(time(Some("2024-03-01 12:05:09")).as_deref(), Some("2024-03-01T12:05:09Z"));
        assert_eq!(time(Some("2024-03-01 12:05:09.123456")).as_deref(), Some("2024-03-01T12:05:09Z"));
        assert_eq!(time(Some("0000-00-00 00:00:00")), None);
        assert_eq!(time(None), None);
    }
}
