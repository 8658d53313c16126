//! Who an API request is, read from its `Authorization: Bearer …` header. Both bearer front
//! doors (`/graphql` and the object transport) take [`BearerAuth`] as an extractor, so a token
//! is checked in one place and refused with one answer (SPEC §6's 401). crates.io's
//! `AuthCheck` is the model.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::{self, AUTHORIZATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::rules::error::{error_response, AppError, AppResult};
use crate::rules::scopes::Scope;
use crate::server::auth::throttle::{client_ip, retry_after_secs, LanePass};
use crate::server::db::Epochs;
use crate::server::domain::activity::Seen;
use crate::server::domain::tokens::{self, AnswerHeaders, Caller, PlainToken};
use crate::server::state::AppState;

/// What an API request says about who it is.
#[derive(Debug)]
pub enum Credentials {
    /// No `Authorization` header: an anonymous request.
    Anonymous,
    /// A well-formed token (prefix and checksum checked; not yet looked up).
    Token(PlainToken),
    /// A header that cannot hold a valid token: wrong scheme, bad bytes, bad checksum.
    Invalid,
}

/// Reads the header. The scheme is case-insensitive (RFC 7235); anything but exactly one
/// `Bearer <token>` header is invalid.
pub fn credentials(headers: &HeaderMap) -> Credentials {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Credentials::Anonymous };
    if values.next().is_some() {
        return Credentials::Invalid;
    }
    let Ok(value) = value.to_str() else { return Credentials::Invalid };
    credentials_in(value)
}

/// Reads one `Bearer <token>` value (a header's, or a WebSocket's `connection_init`).
pub fn credentials_in(value: &str) -> Credentials {
    let Some((scheme, token)) = value.trim().split_once(' ') else { return Credentials::Invalid };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credentials::Invalid;
    }
    match PlainToken::parse(token.trim()) {
        // A refresh token or a client secret is refused before any lookup.
        Ok(token) if token.kind().is_bearer() => Credentials::Token(token),
        _ => Credentials::Invalid,
    }
}

/// An API request's caller: a live token's, or nobody (no header at all: public data only).
/// A header with a missing, malformed, unknown, revoked or expired token never gets this
/// far: the extractor answers SPEC §6's 401 itself.
pub struct BearerAuth {
    caller: Option<Arc<Caller>>,
    /// The read cache's epochs as this request saw them when it started (token requests only).
    pub epochs: Option<Epochs>,
    /// Where the request came from, for the events it records.
    pub seen: Seen,
    /// The address of an anonymous request, whose database work takes its address's turn
    /// (see [`BearerAuth::anonymous_turn`]).
    address: Option<std::net::IpAddr>,
}

impl BearerAuth {
    /// The token's caller; `None` for an anonymous request.
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_deref()
    }

    /// The token's caller, shared (for the GraphQL request's data).
    pub fn shared_caller(&self) -> Option<Arc<Caller>> {
        self.caller.clone()
    }

    /// For an anonymous request, its turn in its address's lane, to hold while it reads the
    /// database: public data is for anyone, one request at a time per address, so a flood of
    /// costly anonymous reads waits for itself and leaves the server to everyone else. None
    /// for a token's request (or a test's router without throttles).
    pub async fn anonymous_turn(&self, state: &AppState) -> AppResult<Option<LanePass>> {
        match self.address {
            Some(address) => Ok(Some(state.throttles.anonymous.enter(address).await?)),
            None => Ok(None),
        }
    }

    /// The address of an anonymous request.
    pub fn anonymous_address(&self) -> Option<std::net::IpAddr> {
        self.address
    }

    /// The caller, if the token holds `scope`: else `SignedOut` (anonymous, 401) or
    /// `Forbidden` naming the scope (403).
    pub fn require(&self, scope: Scope) -> AppResult<&Caller> {
        let caller = self.caller.as_deref().ok_or(AppError::SignedOut)?;
        caller.require(scope)?;
        Ok(caller)
    }
}

/// Why a request was refused before it ran.
pub enum Rejection {
    /// SPEC §6: the token in the header is not valid.
    InvalidToken,
    /// Too many invalid tokens from this address; retry after this long.
    TooManyFailures(Duration),
    /// The database did not answer.
    Unavailable,
    Internal,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::InvalidToken => invalid_token(),
            Rejection::TooManyFailures(wait) => too_many_failures(wait),
            Rejection::Unavailable => AppError::Unavailable.into_response(),
            Rejection::Internal => AppError::Internal.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for BearerAuth {
    type Rejection = Rejection;

    /// Parses the header, then looks the token up ([`verify`]).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let credentials = credentials(&parts.headers);
        if matches!(credentials, Credentials::Anonymous) {
            let address = Some(client_ip(&parts.extensions));
            return Ok(BearerAuth { caller: None, epochs: None, seen: Seen::default(), address });
        }
        let seen = Seen::of(parts);
        let ip = client_ip(&parts.extensions);
        let (caller, epochs) = verify(state, credentials, ip, &seen).await?;
        if let Some(TokenHeaders(slot)) = parts.extensions.get::<TokenHeaders>() {
            *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(caller.headers.clone());
        }
        Ok(BearerAuth { caller: Some(caller), epochs: Some(epochs), seen, address: None })
    }
}

/// Looks up a token from `ip` (after its prefix and checksum were checked, no database work
/// for a malformed one): its caller and the epochs it was checked in. Only failures count
/// against an address; once it has too many, its invalid tokens are told to wait (429),
/// while a valid token from it is always served.
pub async fn verify(
    state: &AppState,
    credentials: Credentials,
    ip: std::net::IpAddr,
    seen: &Seen,
) -> Result<(Arc<Caller>, Epochs), Rejection> {
    let ip = ip.to_string();
    let throttle = &state.throttles.bearer;
    let failed = || match throttle.blocked(&[&ip]) {
        Some(wait) => Rejection::TooManyFailures(wait),
        None => {
            throttle.record_failure(&[&ip]);
            Rejection::InvalidToken
        }
    };
    let Credentials::Token(token) = credentials else { return Err(failed()) };
    let verified = match state.db.epochs().await {
        Ok(epochs) => tokens::authenticate(&state.db, &token, &epochs, seen).await.map(|c| (c, epochs)),
        Err(error) => Err(error),
    };
    match verified {
        Ok((Some(caller), epochs)) => Ok((caller, epochs)),
        Ok((None, _)) => Err(failed()),
        Err(AppError::Unavailable) => Err(Rejection::Unavailable),
        Err(_) => Err(Rejection::Internal),
    }
}

/// The caller of a request's token as of now, for work that goes on after the request was
/// admitted (an upload's later batches): `None` if the token has died since (revoked,
/// expired) or the header holds none.
pub async fn still_valid(state: &AppState, headers: &HeaderMap) -> AppResult<Option<Arc<Caller>>> {
    let Credentials::Token(token) = credentials(headers) else { return Ok(None) };
    let epochs = state.db.epochs().await?;
    tokens::authenticate(&state.db, &token, &epochs, &Seen::default()).await
}

/// SPEC §6: the one answer for a missing, malformed, unknown, revoked or expired token.
pub fn invalid_token() -> Response {
    let mut response =
        error_response(StatusCode::UNAUTHORIZED, "Your token is not valid.", "UNAUTHENTICATED");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_token""#));
    response
}

fn too_many_failures(wait: Duration) -> Response {
    let seconds = retry_after_secs(wait);
    let message = format!("Too many invalid tokens from your address. Retry after {seconds} seconds.");
    let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, &message, "RATE_LIMITED");
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The layer of the object transport's routes that writes SPEC §8's headers of the token
/// ([`crate::server::domain::tokens::AnswerHeaders`]) on their answers: it puts an empty slot in the
/// request, [`BearerAuth`] fills it, the layer writes them. (`/graphql` writes them itself.)
pub async fn token_headers(mut request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let slot = TokenHeaders::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let filled = slot.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    if let Some(headers) = filled {
        headers.write(response.headers_mut());
    }
    response
}

/// The slot of [`token_headers`].
#[derive(Clone, Default)]
pub struct TokenHeaders(Arc<Mutex<Option<AnswerHeaders>>>);

/// The headers a script may read from another site's page (CORS).
pub const EXPOSED_HEADERS: [&str; 4] =
    ["token-expiration", "x-oauth-scopes", "x-accepted-oauth-scopes", "retry-after"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::domain::tokens::SecretKind;

    #[test]
    fn only_tokens_that_act_for_someone_are_bearer_credentials() {
        let bearer = |kind| format!("Bearer {}", PlainToken::generate_of(kind).expose_secret());
        assert!(matches!(credentials_in(&bearer(SecretKind::Personal)), Credentials::Token(_)));
        assert!(matches!(credentials_in(&bearer(SecretKind::AppAccess)), Credentials::Token(_)));
        assert!(matches!(credentials_in(&bearer(SecretKind::AppRefresh)), Credentials::Invalid));
        assert!(matches!(credentials_in(&bearer(SecretKind::ClientSecret)), Credentials::Invalid));
        assert!(matches!(credentials_in("Basic spk_x"), Credentials::Invalid));
    }
}
