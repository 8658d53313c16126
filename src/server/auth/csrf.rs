//! Cross-site request forgery: a browser's state-changing request to the pages and their
//! server functions must come from our own origin, scheme and port included. Browsers send
//! `Origin` on every POST; one without it is refused (a script without a browser has no
//! ambient cookie to abuse, and can send the header). `Sec-Fetch-Site`, when sent, must agree.
//! The bearer doors (`/graphql`, the object transport) are outside this layer: they never
//! read the session cookie.

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses unsafe requests that do not come from this server's own origin: `https://<Host>`
/// when cookies are marked `Secure` (the server is behind TLS), else `http://<Host>`.
pub async fn same_origin_only(secure: bool, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || is_same_origin(request.headers(), secure) {
        return next.run(request).await;
    }
    tracing::warn!(path = request.uri().path(), "cross-origin request refused");
    (StatusCode::FORBIDDEN, "Cross-origin requests are not allowed here.").into_response()
}

fn is_same_origin(headers: &HeaderMap, secure: bool) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    let (Some(origin), Some(host)) =
        (header_text(headers, header::ORIGIN), header_text(headers, header::HOST))
    else {
        return false;
    };
    let scheme = if secure { "https://" } else { "http://" };
    origin
        .get(..scheme.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
        .then(|| &origin[scheme.len()..])
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_our_own_scheme_host_and_port_pass() {
        let ours = headers(&[("host", "tokens.example:3000"), ("origin", "http://tokens.example:3000")]);
        assert!(is_same_origin(&ours, false));
        assert!(!is_same_origin(&ours, true), "http is another origin than https");
        let other_port =
            headers(&[("host", "tokens.example:3000"), ("origin", "http://tokens.example:4000")]);
        assert!(!is_same_origin(&other_port, false));
        let no_origin = headers(&[("host", "tokens.example:3000")]);
        assert!(!is_same_origin(&no_origin, false), "a browser always sends Origin on a POST");
        let null = headers(&[("host", "tokens.example"), ("origin", "null")]);
        assert!(!is_same_origin(&null, false));
        let cross = headers(&[
            ("host", "tokens.example"),
            ("origin", "http://tokens.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(!is_same_origin(&cross, false));
        let suffix = headers(&[("host", "tokens.example"), ("origin", "http://evil.tokens.example")]);
        assert!(!is_same_origin(&suffix, false));
    }
}
