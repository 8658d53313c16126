//! Layers around the routes: every request runs to completion, signed-out visitors of
//! private pages go to `/login`, and a server function's undecodable arguments are a 400.

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use crate::rules::error::AppError;
use crate::rules::limits::MAX_BODY_BYTES;
use crate::server::auth::session::USER_ID_KEY;

/// Runs each request on a task of its own, so a client that hangs up cannot cancel it half
/// way: database work always finishes and returns its connection to the pool in a clean state
/// (diesel-async's SQLite wrapper panics on a connection whose query was cancelled), and
/// nothing acknowledged is half done. A panic becomes a 500 instead of a dropped connection.
pub async fn run_to_completion(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "request task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What a query value cannot carry as is; `/`, `?`, `=` and `:` stay, so `next=/profile` reads
/// as the path it is while an app's whole authorization request survives the trip.
const NEXT_ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Pages that need a signed-in user send a signed-out visitor to `/login`, server-side.
pub async fn require_sign_in(session: Session, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let protected = path == "/profile"
        || path.starts_with("/profile/")
        || path == "/streams"
        || path.starts_with("/streams/")
        || path == "/oauth/authorize"
        || path == "/device"
        || path.starts_with("/authn/verify/");
    if protected && request.method() == Method::GET {
        match session.get::<String>(USER_ID_KEY).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                // The whole request comes back after signing in: an app's authorization
                // request is all in its query.
                let back = request.uri().path_and_query().map_or(path, |whole| whole.as_str());
                let next = percent_encoding::utf8_percent_encode(back, NEXT_ESCAPED);
                return Redirect::to(&format!("/login?next={next}")).into_response();
            }
            Err(_) => return AppError::Unavailable.into_response(),
        }
    }
    next.run(request).await
}

/// Leptos answers 500 when a server function's arguments cannot be decoded (missing or
/// malformed form fields): that is the client's mistake, so it becomes a 400. Our own errors
/// already carry their status; a decoding failure is the only kind that is "Transport".
pub async fn client_errors_are_4xx(request: Request, next: Next) -> Response {
    let is_server_function = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if !is_server_function || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if bytes.starts_with(br#"{"Transport""#) {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
