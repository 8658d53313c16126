//! The one error type of the app, shared by server functions and the UI that shows it.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

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
    /// The thing does not exist, or is not the caller's to see.
    #[error("{0} not found.")]
    NotFound(String),
    /// Too many failed attempts; retry after this many seconds.
    #[error("Too many failed attempts. Please wait {0} seconds and try again.")]
    RateLimited(u64),
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

/// "Stream not found.", "User not found.", …: also said for what exists but is hidden.
pub fn not_found(what: &str) -> AppError {
    AppError::NotFound(what.to_owned())
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
