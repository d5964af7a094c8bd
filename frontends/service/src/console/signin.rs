//! The sign-in page: one field, a token of the admin token file.

use super::layout::{bare, html_response};
use crate::http::Response;
use maud::html;

/// The sign-in form, with `problem` said above it when a try failed.
pub fn page(status: u16, problem: Option<&str>) -> Response {
    let body = html! {
        h1 { "Sign in" }
        @if let Some(p) = problem {
            p.error role="alert" { (p) }
        }
        form.card.signin method="post" action="/ui/signin" {
            label for="token" { "Token" }
            input #token type="password" name="token" autocomplete="current-password"
                required autofocus;
            p.hint {
                "A token from the manager's admin token file (" code { "--admin-token-file" }
                "). An admin token may act; a viewer token may only look."
            }
            button type="submit" { "Sign in" }
        }
    };
    html_response(status, bare("Sign in", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_posts_a_password_field_and_escapes_the_problem() {
        let r = page(401, Some("<script>alert(\"x\")</script> & more"));
        assert_eq!(r.status, 401);
        let html = String::from_utf8(r.body).expect("utf-8");
        assert!(html.contains(r#"type="password""#), "{html}");
        assert!(html.contains(r#"action="/ui/signin""#), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more"));
    }
}
