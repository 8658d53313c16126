//! Cross-site request forgery: a browser's state-changing request must come from our own
//! origin. Browsers send `Origin` on every POST; `Sec-Fetch-Site` backs it up. Requests
//! without either (curl, scripts) carry no ambient browser credentials to abuse.

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses unsafe requests whose `Origin` is not this server. `/graphql` is exempt: it
/// authenticates by bearer token only, never by cookie.
pub async fn same_origin_only(request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || request.uri().path() == "/graphql" || is_same_origin(&request) {
        return next.run(request).await;
    }
    tracing::warn!(path = request.uri().path(), "cross-origin request refused");
    (StatusCode::FORBIDDEN, "Cross-origin requests are not allowed here.").into_response()
}

fn is_same_origin(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else { return false };
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    origin_host.eq_ignore_ascii_case(host)
}
