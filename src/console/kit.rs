//! What most console pages are made of: a table over an API list answer (`{data, meta}`) with
//! pages, and a form whose fields become the API's JSON body. The pages call the API's own
//! handlers, so validation, authorisation and side effects are the API's.

use std::collections::HashMap;

use maud::{Markup, html};
use serde_json::{Map, Value};

use super::views::csrf_field;
use crate::error::AppError;

/// A cell's text: null as a dash, booleans as yes/no, objects as compact JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::Bool(b) => (if *b { "yes" } else { "no" }).into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A table of `rows` with `(key, header)` columns and, per row, optional actions.
pub fn table(rows: &[Value], columns: &[(&str, &str)], actions: Option<&dyn Fn(&Value) -> Markup>) -> Markup {
    html! {
        @if rows.is_empty() { p.muted { "Nothing here yet." } }
        @else {
            div.table-wrap { table {
                thead { tr { @for (_, h) in columns { th { (h) } } @if actions.is_some() { th {} } } }
                tbody { @for r in rows {
                    tr {
                        @for (k, _) in columns { td { (cell(&r[*k])) } }
                        @if let Some(a) = actions { td { (a(r)) } }
                    }
                } }
            } }
        }
    }
}

/// A paginated list answer as a table with previous/next links that keep the other parameters.
pub fn listing(
    answer: &Value,
    columns: &[(&str, &str)],
    base: &str,
    query: &HashMap<String, String>,
    actions: Option<&dyn Fn(&Value) -> Markup>,
) -> Markup {
    let rows = answer["data"].as_array().cloned().unwrap_or_default();
    let (page, per_page, total) = (
        answer["meta"]["page"].as_i64().unwrap_or(1),
        answer["meta"]["per_page"].as_i64().unwrap_or(20),
        answer["meta"]["total"].as_i64().unwrap_or(rows.len() as i64),
    );
    let link = |p: i64| {
        let mut parts: Vec<String> = query
            .iter()
            .filter(|(k, v)| k.as_str() != "page" && !v.is_empty())
            .map(|(k, v)| format!("{}={}", super::super_admin::urlencoding(k), super::super_admin::urlencoding(v)))
            .collect();
        parts.sort();
        parts.push(format!("page={p}"));
        format!("{base}?{}", parts.join("&"))
    };
    html! {
        p.muted { (total) " in all" }
        (table(&rows, columns, actions))
        nav.pager aria-label="Pages" {
            @if page > 1 { a href=(link(page - 1)) { "← Previous" } }
            @if page * per_page < total { a href=(link(page + 1)) { "Next →" } }
        }
    }
}

/// A form field: its name in the body, its label, its kind.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
}

pub enum Kind {
    Text,
    LongText,
    Integer,
    Bool,
    Choice(&'static [&'static str]),
}

pub const fn field(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field { name, label, kind }
}

pub fn form(csrf: &str, action: &str, fields: &[Field], values: &Map<String, Value>, submit: &str) -> Markup {
    let v = |k: &str| values.get(k).map(cell).filter(|s| s != "–").unwrap_or_default();
    html! {
        form.stack method="post" action=(action) {
            (csrf_field(csrf))
            @for f in fields {
                label { (f.label)
                    @match f.kind {
                        Kind::Text => { input name=(f.name) value=(v(f.name)); }
                        Kind::LongText => { textarea name=(f.name) rows="5" { (v(f.name)) } }
                        Kind::Integer => { input type="number" name=(f.name) value=(v(f.name)); }
                        Kind::Bool => {
                            select name=(f.name) {
                                option value="" { "–" }
                                option value="true" selected[v(f.name) == "yes"] { "yes" }
                                option value="false" selected[v(f.name) == "no"] { "no" }
                            }
                        }
                        Kind::Choice(options) => {
                            select name=(f.name) {
                                @for o in options { option value=(o) selected[v(f.name) == *o] { (o) } }
                            }
                        }
                    }
                }
            }
            button type="submit" { (submit) }
        }
    }
}

/// The JSON body a form's fields make: typed by kind, empty fields left out.
pub fn body(form: &HashMap<String, String>, fields: &[Field]) -> Result<Value, AppError> {
    let mut body = Map::new();
    for f in fields {
        let Some(raw) = form.get(f.name) else { continue };
        let v = raw.trim();
        if v.is_empty() {
            continue;
        }
        let value = match f.kind {
            Kind::Integer => {
                Value::from(v.parse::<i64>().map_err(|_| AppError::invalid_field(f.name, "must be a whole number"))?)
            }
            Kind::Bool => Value::Bool(v == "true"),
            Kind::LongText => Value::String(raw.to_string()),
            Kind::Text | Kind::Choice(_) => Value::String(v.to_string()),
        };
        body.insert(f.name.to_string(), value);
    }
    Ok(Value::Object(body))
}

/// A JSON body as the API handler's body type (a field of the wrong shape is a 422).
pub fn parse<T: serde::de::DeserializeOwned>(body: Value) -> Result<crate::body::Body<T>, AppError> {
    serde_json::from_value(body)
        .map(crate::body::Body)
        .map_err(|e| AppError::unprocessable("validation_failed", e.to_string()))
}

/// An error the user can act on, as one line.
pub fn problem(e: &AppError) -> String {
    match e {
        AppError::Validation { fields, .. } => {
            fields.iter().map(|(f, p)| format!("{f} {p}")).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

/// A form's fields as the API handler's body, handed to `handler`; its answer is dropped (the
/// console shows the outcome as a flash message).
pub async fn submit<T, R, Fut>(
    form: &HashMap<String, String>,
    fields: &[Field],
    handler: impl FnOnce(crate::body::Body<T>) -> Fut,
) -> Result<(), AppError>
where
    T: serde::de::DeserializeOwned,
    Fut: std::future::Future<Output = Result<R, AppError>>,
{
    let body = parse(body(form, fields)?)?;
    handler(body).await.map(|_| ())
}

/// [`submit`] for a body already made.
pub async fn submit_value<T, R, Fut>(
    body: Value,
    handler: impl FnOnce(crate::body::Body<T>) -> Fut,
) -> Result<(), AppError>
where
    T: serde::de::DeserializeOwned,
    Fut: std::future::Future<Output = Result<R, AppError>>,
{
    handler(parse(body)?).await.map(|_| ())
}
