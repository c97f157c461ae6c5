//! Banners and pages: global ones in main.db (the super admin's), a shop's own in its file (its
//! admin's), the same shape in both. The storefront merges them: active banners of both in display
//! order, and a shop's page over a global one with the same slug. Page bodies are Markdown, kept as
//! written and served also as sanitised HTML.

pub mod routes;
pub mod store;

/// Markdown to HTML a browser can show safely: rendered by pulldown-cmark (raw HTML passes through
/// it), then cleaned by ammonia — no `<script>`, no event handlers, no `javascript:` or `data:`
/// URLs, links get `rel="noopener noreferrer"`.
pub fn render_markdown(body: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(body, pulldown_cmark::Options::ENABLE_TABLES);
    let mut html = String::with_capacity(body.len() * 2);
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::clean(&html)
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

    #[test]
    fn markdown_renders_and_anything_that_runs_is_removed() {
        let html = render_markdown("# Terms\n\nRead **this** and [that](https://example.com/t).");
        assert!(html.contains("<h1>Terms</h1>") && html.contains("<strong>this</strong>"), "{html}");
        assert!(html.contains(r#"href="https://example.com/t""#) && html.contains("noopener"), "{html}");
        for evil in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[click](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<svg onload=alert(1)>",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
        ] {
            let html = render_markdown(evil).to_lowercase();
            for bad in ["<script", "onerror", "onload", "javascript:", "<iframe", "data:text"] {
                assert!(!html.contains(bad), "{evil:?} → {html:?}");
            }
        }
    }
}
