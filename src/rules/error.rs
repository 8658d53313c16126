//! The one error type of the app, shared by server functions and the UI that shows it.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::rules::scopes::{Scope, ScopeSet};

/// What went wrong, in words the user can act on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The client sent something we refuse; the message says what to fix.
    #[error("{0}")]
    BadInput(String),
    /// The action needs a signed-in user.
    #[error("Please sign in first.")]
    SignedOut,
    /// The caller may see the thing but not do this to it; the message says why.
    #[error("{0}")]
    Forbidden(String),
    /// The token lacks a scope this needs (FORBIDDEN, with both scope lists beside it).
    #[error("Your token does not have the {} scope, which this needs.", needed.name())]
    MissingScope { needed: Scope, held: ScopeSet },
    /// The token's streams, or its level on one, refuse this, though its owner could do it
    /// (SPEC §12): FORBIDDEN, with `tokenLimit: true` beside the code.
    #[error("{0}")]
    TokenLimit(String),
    /// The thing does not exist, or is not the caller's to see.
    #[error("{0} not found.")]
    NotFound(String),
    /// A body or batch over a limit; the message says which.
    #[error("{0}")]
    TooLarge(String),
    /// Too many failed attempts; retry after this many seconds.
    #[error("Too many failed attempts. Please wait {0} seconds and try again.")]
    RateLimited(u64),
    /// The server has no room for this now (too many uploads at once…); retry shortly.
    #[error("The server is busy ({0}). Please retry in a moment.")]
    Busy(String),
    /// The database is not answering (restarting, overloaded); the client should retry.
    #[error("The database is not answering. Please try again in a moment.")]
    Unavailable,
    /// Our fault; the details are in the server log, never in the answer.
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// The request did not reach the function (network, decoding).
    #[error("{0}")]
    Transport(ServerFnErrorErr),
}

/// The result of every fallible app function.
pub type AppResult<T> = Result<T, AppError>;

/// Refuses an action the caller has no right to; the message says which right.
pub fn forbidden(message: impl Into<String>) -> AppError {
    AppError::Forbidden(message.into())
}

/// Refuses what the token's streams (or its level on one) do not allow (SPEC §12).
pub fn token_limit(message: impl Into<String>) -> AppError {
    AppError::TokenLimit(message.into())
}

/// "Stream not found.", "User not found.", …: also said for what exists but is hidden.
pub fn not_found(what: &str) -> AppError {
    AppError::NotFound(what.to_owned())
}

/// Refuses a body or batch over a limit (413); the message names the limit.
pub fn too_large(message: impl Into<String>) -> AppError {
    AppError::TooLarge(message.into())
}

/// Refuses client input with a message saying what is wrong.
pub fn bad_input(message: impl Into<String>) -> AppError {
    AppError::BadInput(message.into())
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value)
    }
}

impl AppError {
    /// SPEC §8's scope diagnostics: for a missing scope, the scopes it needs and the scopes
    /// the token holds, by name.
    pub fn scope_diagnostics(&self) -> Option<(Vec<&'static str>, Vec<&'static str>)> {
        match self {
            AppError::MissingScope { needed, held } => {
                Some((vec![needed.name()], held.iter().map(Scope::name).collect()))
            }
            _ => None,
        }
    }

    /// Whether the token's streams caused this refusal (`extensions.tokenLimit`, SPEC §12).
    pub fn is_token_limit(&self) -> bool {
        matches!(self, AppError::TokenLimit(_))
    }

    /// The `extensions.code` of this error in a GraphQL answer (Speckle's codes).
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadInput(_) | AppError::Transport(_) => "BAD_USER_INPUT",
            AppError::SignedOut => "UNAUTHENTICATED",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Forbidden(_) | AppError::MissingScope { .. } | AppError::TokenLimit(_) => "FORBIDDEN",
            AppError::TooLarge(_) => "PAYLOAD_TOO_LARGE",
            AppError::RateLimited(_) => "RATE_LIMITED",
            AppError::Unavailable | AppError::Busy(_) => "SERVICE_UNAVAILABLE",
            AppError::Internal => "INTERNAL_SERVER_ERROR",
        }
    }
}

#[cfg(feature = "ssr")]
pub use http::{error_body, error_response};

#[cfg(feature = "ssr")]
mod http {
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};

    use super::AppError;

    /// The body of every error answer outside GraphQL's own, in GraphQL's shape so that a
    /// client reads both alike: `{"errors":[{"message":…,"extensions":{"code":…}}]}`, with
    /// the scopes of a missing-scope refusal beside the code, and `tokenLimit: true` when the
    /// token's streams refused it.
    pub fn error_body(
        message: &str,
        code: &str,
        scopes: Option<(Vec<&str>, Vec<&str>)>,
        token_limit: bool,
    ) -> String {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            errors: [Entry<'a>; 1],
        }
        #[derive(serde::Serialize)]
        struct Entry<'a> {
            message: &'a str,
            extensions: Extensions<'a>,
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Extensions<'a> {
            code: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            required_scopes: Option<Vec<&'a str>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            token_scopes: Option<Vec<&'a str>>,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            token_limit: bool,
        }
        let (required_scopes, token_scopes) = scopes.map_or((None, None), |(r, t)| (Some(r), Some(t)));
        let body = Body {
            errors: [Entry {
                message,
                extensions: Extensions { code, required_scopes, token_scopes, token_limit },
            }],
        };
        serde_json::to_string(&body).unwrap_or_default()
    }

    /// An answer of `status` with [`error_body`].
    pub fn error_response(status: StatusCode, message: &str, code: &str) -> Response {
        (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            error_body(message, code, None, false),
        )
            .into_response()
    }

    impl AppError {
        /// The HTTP status of this error, wherever it is answered: the REST routes, the
        /// server functions, and a GraphQL answer that could not be run (503).
        pub fn status(&self) -> StatusCode {
            match self {
                AppError::BadInput(_) | AppError::Transport(_) => StatusCode::BAD_REQUEST,
                AppError::SignedOut => StatusCode::UNAUTHORIZED,
                AppError::NotFound(_) => StatusCode::NOT_FOUND,
                AppError::Forbidden(_) | AppError::MissingScope { .. } | AppError::TokenLimit(_) => {
                    StatusCode::FORBIDDEN
                }
                AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                AppError::Unavailable | AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
                AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            }
        }

        /// `Retry-After` for errors that pass: a rate limit, an unavailable database.
        pub fn retry_after(&self) -> Option<u64> {
            match self {
                AppError::RateLimited(seconds) => Some(*seconds),
                AppError::Unavailable => Some(1),
                AppError::Busy(_) => Some(5),
                _ => None,
            }
        }
    }

    impl IntoResponse for AppError {
        /// The REST routes' error: the status, and the body of a GraphQL error
        /// (`{"errors":[{"message","extensions":{"code"}}]}`), so a client reads both alike.
        fn into_response(self) -> Response {
            let accepted = self.scope_diagnostics().map(|(required, _)| required.join(", "));
            let body =
                error_body(&self.to_string(), self.code(), self.scope_diagnostics(), self.is_token_limit());
            let mut response =
                (self.status(), [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body)
                    .into_response();
            if let Some(accepted) = accepted.and_then(|a| HeaderValue::from_str(&a).ok()) {
                // SPEC §8, as GitHub names it: the scopes that would have been accepted.
                response.headers_mut().insert("x-accepted-oauth-scopes", accepted);
            }
            if let Some(seconds) = self.retry_after() {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            if matches!(self, AppError::SignedOut) {
                // RFC 6750: a request without credentials is told which scheme to use.
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    }
}
