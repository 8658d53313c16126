//! The doors through which leaked tokens come back (SPEC §9): GitHub's secret scanning
//! partner protocol (`POST /api/secret-scanning/verify`) and a public report endpoint
//! (`POST /api/tokens/report`). crates.io's `controllers/github/secret_scanning.rs` is the
//! model; unlike it, an unknown key id refetches the key list at most once a minute.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::Signature;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_http::limit::RequestBodyLimitLayer;

use crate::rules::error::{bad_input, AppError, AppResult};
use crate::server::auth::throttle::{client_ip, retry_after_secs};
use crate::server::domain::leaks::{self, FoundBy};
use crate::server::domain::tokens::{PlainToken, SecretKind};
use crate::server::state::AppState;

/// A batch's body: 1,000 matches with long URLs fit.
const MAX_BATCH_BYTES: usize = 2 * 1024 * 1024;
/// Entries per batch.
const MAX_BATCH_ENTRIES: usize = 10_000;
/// A report's body.
const MAX_REPORT_BYTES: usize = 8 * 1024;

/// The routes, outside the pages (no session, no CSRF: these are machine doors).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/secret-scanning/verify", post(verify).layer(RequestBodyLimitLayer::new(MAX_BATCH_BYTES)))
        .route("/api/tokens/report", post(report).layer(RequestBodyLimitLayer::new(MAX_REPORT_BYTES)))
}

/// One match GitHub found.
#[derive(Deserialize)]
struct Match {
    token: String,
    #[serde(rename = "type")]
    _kind: Option<String>,
    url: Option<String>,
    source: Option<String>,
}

/// Our answer per match.
#[derive(Serialize)]
struct Label {
    token_hash: String,
    token_type: &'static str,
    label: &'static str,
}

/// `POST /api/secret-scanning/verify`: the signature over the raw body first, then the
/// batch; every valid token of ours is revoked at once.
async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let body = match admitted(&state.throttles.scanning, request, MAX_BATCH_BYTES, "The batch is over 2 MB.")
        .await
    {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    if !signed(&state, &headers, &body).await {
        return unauthenticated("The signature is missing or not valid.");
    }
    let matches: Vec<Match> = match serde_json::from_slice(&body) {
        Ok(matches) => matches,
        Err(error) => {
            return bad_input(format!("The body is not a JSON array of matches: {error}")).into_response()
        }
    };
    if matches.len() > MAX_BATCH_ENTRIES {
        return bad_input(format!("At most {MAX_BATCH_ENTRIES} matches per batch.")).into_response();
    }
    // The checksum turns away false matches with no database work.
    let mut found = Vec::new();
    let mut ours = Vec::with_capacity(matches.len());
    for m in &matches {
        match PlainToken::parse(m.token.trim()) {
            Ok(token) => {
                ours.push(Some((found.len(), token.kind())));
                found.push((
                    token.hashed(),
                    FoundBy::Scanner { url: m.url.clone(), source: m.source.clone() },
                ));
            }
            Err(_) => ours.push(None),
        }
    }
    let issued = match revoke_and_tell(&state, &found).await {
        Ok(issued) => issued,
        Err(error) => return error.into_response(),
    };
    let labels: Vec<Label> = matches
        .iter()
        .zip(ours)
        .map(|(m, index)| Label {
            token_hash: hex::encode(Sha256::digest(m.token.as_bytes())),
            token_type: index.map_or(SecretKind::Personal, |(_, kind)| kind).token_type(),
            label: if index.is_some_and(|(i, _)| issued[i]) { "true_positive" } else { "false_positive" },
        })
        .collect();
    Json(labels).into_response()
}

/// Whether the body is signed by a key of the list, as the headers say.
async fn signed(state: &AppState, headers: &HeaderMap, body: &Bytes) -> bool {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    let (Some(key_id), Some(signature)) =
        (header("github-public-key-identifier"), header("github-public-key-signature"))
    else {
        return false;
    };
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature) else { return false };
    let Ok(signature) = Signature::from_der(&der) else { return false };
    let Some(key) = state.scanning_keys.key(key_id, state.db.now()).await else {
        tracing::warn!(key_id, "secret scanning alert signed with an unknown key");
        return false;
    };
    key.verify(body, &signature).is_ok()
}

fn unauthenticated(message: &str) -> Response {
    crate::rules::error::error_response(StatusCode::UNAUTHORIZED, message, "UNAUTHENTICATED")
}

/// The body of a request its address may still send (`throttle` counts every one), at most
/// `max` bytes; else the refusal (429, or 413 saying `too_large`).
async fn admitted(
    throttle: &crate::server::auth::throttle::FailureThrottle,
    request: axum::extract::Request,
    max: usize,
    too_large: &str,
) -> Result<Bytes, Response> {
    let ip = client_ip(request.extensions()).to_string();
    if let Err(wait) = throttle.begin(&[&ip]) {
        return Err(AppError::RateLimited(retry_after_secs(wait)).into_response());
    }
    axum::body::to_bytes(request.into_body(), max)
        .await
        .map_err(|_| crate::rules::error::too_large(too_large).into_response())
}

/// Revokes the live tokens among `found` and tells their owners, the mail sent at once;
/// answers which of them this server issued (see [`leaks::revoke_found`]).
async fn revoke_and_tell(
    state: &AppState,
    found: &[(crate::server::domain::tokens::HashedToken, FoundBy)],
) -> AppResult<Vec<bool>> {
    let issued = leaks::revoke_found(&mut state.db.get().await?, found, state.mailer.is_some()).await?;
    send_mail_soon(state);
    Ok(issued)
}

/// Sends the alerts' mail now rather than at the next background pass.
fn send_mail_soon(state: &AppState) {
    if let Some(mailer) = &state.mailer {
        mailer.send_soon(&state.db);
    }
}

#[derive(Deserialize)]
struct Report {
    token: String,
}

/// `POST /api/tokens/report` `{"token": "…"}`: anyone may report a token they found. A live
/// one is revoked; the answer is the same `202` whatever the token was.
async fn report(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let body = match admitted(&state.throttles.report, request, MAX_REPORT_BYTES, "A report is at most 8 kB.")
        .await
    {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let Ok(report) = serde_json::from_slice::<Report>(&body) else {
        return bad_input(r#"Send {"token": "<the token you found>"} as JSON."#).into_response();
    };
    if let Ok(token) = PlainToken::parse(report.token.trim()) {
        if let Err(error) = revoke_and_tell(&state, &[(token.hashed(), FoundBy::Report)]).await {
            // Not acknowledged unless done; an outage says nothing about the token.
            return error.into_response();
        }
    }
    let body = serde_json::json!({
        "message": "Thank you. If this is a live token of this server, it has been revoked and its owner told.",
    });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}
