//! `?page=&per_page=` and the `{data, meta}` envelope every list answers with.

use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub const DEFAULT_PER_PAGE: i64 = 20;
pub const MAX_PER_PAGE: i64 = 100;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// A validated page request. `per_page` above the cap is clamped, not refused.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    pub fn from_query(q: &PageQuery) -> Result<Self, AppError> {
        Self::parse(q.page, q.per_page)
    }

    pub fn parse(page: Option<i64>, per_page: Option<i64>) -> Result<Self, AppError> {
        let page = page.unwrap_or(1);
        if !(1..=1_000_000).contains(&page) {
            return Err(AppError::invalid_field("page", "must be between 1 and 1000000"));
        }
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if per_page < 1 {
            return Err(AppError::invalid_field("per_page", "must be at least 1"));
        }
        Ok(Self { page, per_page: per_page.min(MAX_PER_PAGE) })
    }
    pub fn limit(&self) -> i64 {
        self.per_page
    }
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Meta {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub meta: Meta,
}

impl<T> Paginated<T> {
    pub fn new(data: Vec<T>, page: Page, total: i64) -> Self {
        Self { data, meta: Meta { page: page.page, per_page: page.per_page, total } }
    }
}
