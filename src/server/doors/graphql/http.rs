//! `/graphql` over HTTP: GraphiQL for a browser, and the bearer-authenticated API.

use async_graphql_axum::GraphQLRequest;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;

use super::limits;
use super::{Engine, RequestContext};
use crate::rules::error::AppError;
use crate::server::doors::bearer::BearerAuth;
use crate::server::media;
use crate::server::state::AppState;

/// `GET /graphql`: a WebSocket asking for live updates ([`super::ws`]), else [`graphiql`].
pub async fn explorer_or_live(
    State(state): State<AppState>,
    Extension(engine): Extension<Engine>,
    request: Request,
) -> Response {
    use axum::extract::FromRequestParts;
    let wants_socket = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    let (mut parts, _) = request.into_parts();
    if !wants_socket {
        return graphiql(parts.headers).await;
    }
    let protocol = match async_graphql_axum::GraphQLProtocol::from_request_parts(&mut parts, &state).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let seen = crate::server::domain::activity::Seen::of(&parts);
    let ip = crate::server::auth::throttle::client_ip(&parts.extensions);
    super::ws::upgrade(state, engine, protocol, upgrade, seen, ip).await
}

/// GraphiQL: its own pinned files from our origin (no CDN); React sets inline styles.
pub const GRAPHIQL_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// `GET /graphql`: the GraphiQL explorer for a browser; queries must be POSTed.
pub async fn graphiql(headers: HeaderMap) -> Response {
    let wants_html = !headers.contains_key(header::ACCEPT)
        || media::accepts(&headers, "text/html")
        || media::accepts(&headers, "*/*");
    if !wants_html {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "Send GraphQL queries with POST /graphql and Content-Type: application/json.",
        )
            .into_response();
    }
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Speckle Tokens API</title>
<link rel="stylesheet" href="/graphiql/graphiql-{GRAPHIQL_VERSION}.min.css">
<style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading the GraphQL explorer…</div>
<script src="/graphiql/react-{REACT_VERSION}.min.js"></script>
<script src="/graphiql/react-dom-{REACT_VERSION}.min.js"></script>
<script src="/graphiql/graphiql-{GRAPHIQL_VERSION}.min.js"></script>
<script src="/explorer.js"></script>
</body>
</html>
"#
    );
    ([(header::CONTENT_SECURITY_POLICY, GRAPHIQL_POLICY)], Html(html)).into_response()
}

/// The versions of GraphiQL and React served from `/graphiql` (pinned in
/// `scripts/graphiql/package.json`, copied there by the build).
pub const GRAPHIQL_VERSION: &str = "3.8.3";
pub const REACT_VERSION: &str = "18.3.1";

/// SPEC §8: the scopes that would have been accepted, when a field was refused for a missing
/// scope (as GitHub's `X-Accepted-OAuth-Scopes`).
fn accepted_scopes(response: &async_graphql::Response) -> Option<String> {
    let mut names: Vec<String> = Vec::new();
    for error in &response.errors {
        let Some(async_graphql::Value::List(required)) =
            error.extensions.as_ref().and_then(|extensions| extensions.get("requiredScopes"))
        else {
            continue;
        };
        for name in required {
            if let async_graphql::Value::String(name) = name {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
    }
    (!names.is_empty()).then(|| names.join(", "))
}

/// The content types `POST /graphql` reads.
fn is_graphql_content_type(headers: &HeaderMap) -> bool {
    matches!(media::content_type(headers).as_deref(), Some("application/json" | "application/graphql"))
}

/// `POST /graphql`: authenticated by bearer token only (never the session cookie), then run.
/// Every answer to a token carries its headers (SPEC §8), refusals too.
pub async fn graphql_api(
    State(state): State<AppState>,
    Extension(engine): Extension<Engine>,
    auth: BearerAuth,
    request: Request,
) -> Response {
    let answer_headers = auth.caller().map(|caller| caller.headers.clone());
    let mut response = answer(state, engine, auth, request).await;
    if let Some(headers) = answer_headers {
        headers.write(response.headers_mut());
    }
    response
}

async fn answer(state: AppState, engine: Engine, auth: BearerAuth, request: Request) -> Response {
    if !is_graphql_content_type(request.headers()) {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "POST /graphql takes Content-Type: application/json.")
            .into_response();
    }
    let query = match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(
        request, &state,
    )
    .await
    {
        Ok(query) => query.into_inner(),
        Err(rejection) => return rejection.into_response(),
    };
    let budget = match auth.anonymous_address() {
        Some(address) => limits::Budget::anonymous(engine.answers.clone(), state.throttles.clone(), address),
        None => limits::Budget::new(engine.answers.clone()),
    };
    let context = RequestContext {
        db: state.db.clone(),
        caller: auth.shared_caller(),
        epochs: auth.epochs,
        seen: auth.seen,
        budget: budget.clone(),
        mailer: state.mailer.clone(),
    };
    let mut response = engine.schema.execute(query.data(context)).await;
    let refusal = budget.refusal();
    if let (Some(refusal), false) = (&refusal, budget.mutates()) {
        // Over a limit: the answer is the refusal alone, whatever was resolved before it.
        return refusal.clone().into_response();
    }
    let verdict = super::code_engine_errors(&mut response);
    if let Some(refusal) = refusal {
        // What a mutation did is never hidden (nor turned into a "retry" that would do it
        // twice): its answer stays, with the refusal beside it.
        let mut error = async_graphql::ServerError::new(refusal.to_string(), None);
        error.extensions.get_or_insert_with(Default::default).set("code", refusal.code());
        response.errors.push(error);
    }
    let accepted = accepted_scopes(&response);
    let Ok(json) = serde_json::to_vec(&response) else { return AppError::Internal.into_response() };
    drop(response);
    // The answer as sent counts too, and its room is held until it has gone out.
    let charged = budget.charge_bytes(json.len());
    if let (Err(refusal), false) = (charged, budget.mutates()) {
        return refusal.into_response();
    }
    let body = Body::new(Holding::new(json.into(), budget));
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(accepted) = accepted.and_then(|accepted| HeaderValue::from_str(&accepted).ok()) {
        response.headers_mut().insert("x-accepted-oauth-scopes", accepted);
    }
    match verdict {
        super::Verdict::Answered => {}
        super::Verdict::Malformed => *response.status_mut() = StatusCode::BAD_REQUEST,
        super::Verdict::Unavailable => {
            let unavailable = AppError::Unavailable;
            *response.status_mut() = unavailable.status();
            let retry = unavailable.retry_after().unwrap_or(1);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry));
        }
    }
    response
}

/// An answer sent in frames of [`FRAME_BYTES`], keeping `_held` (the request's budget, and
/// with it the answer's room in the shared pool) until the last frame has been taken: hyper
/// asks for the next frame only once it has written the last, so the room is held while the
/// answer goes out. A client that reads for longer than [`SENDING_DEADLINE`] is cut off, so
/// a slow reader cannot keep that room.
struct Holding<T> {
    bytes: axum::body::Bytes,
    sent: usize,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    _held: T,
}

const FRAME_BYTES: usize = 64 * 1024;
const SENDING_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

impl<T> Holding<T> {
    fn new(bytes: axum::body::Bytes, held: T) -> Self {
        Holding { bytes, sent: 0, deadline: Box::pin(tokio::time::sleep(SENDING_DEADLINE)), _held: held }
    }
}

impl<T: Unpin + Send + 'static> axum::body::HttpBody for Holding<T> {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future;
        if self.sent >= self.bytes.len() {
            return std::task::Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let late = std::io::Error::new(std::io::ErrorKind::TimedOut, "the client read too slowly");
            return std::task::Poll::Ready(Some(Err(axum::Error::new(late))));
        }
        let end = (self.sent + FRAME_BYTES).min(self.bytes.len());
        let frame = self.bytes.slice(self.sent..end);
        self.sent = end;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.bytes.len()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact((self.bytes.len() - self.sent) as u64)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_versions_served_are_the_versions_pinned() {
        let pinned = include_str!("../../../../scripts/graphiql/package.json");
        assert!(pinned.contains(&format!(r#""graphiql": "{}""#, super::GRAPHIQL_VERSION)));
        assert!(pinned.contains(&format!(r#""react": "{}""#, super::REACT_VERSION)));
        assert!(pinned.contains(&format!(r#""react-dom": "{}""#, super::REACT_VERSION)));
    }
}
