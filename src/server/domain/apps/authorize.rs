//! An authorization request (SPEC §11), as standard OAuth's `GET /oauth/authorize` and
//! Speckle's `/authn/verify/<app>/<challenge>` make it: checked the same way when the consent
//! page shows it and again when the person answers, and answered with the URL that sends
//! them back to the app (a code, or a refusal, in the words of the request's protocol).
//!
//! What is not safe to send back (an unknown app, a redirect URL it did not register) is
//! shown to the person instead (RFC 6749 §4.1.2.1); anything else wrong goes back to the app.

use super::grants::{approve, granted, Code, CodeRequest};
use super::pkce::{Challenge, Method};
use super::{author_name, find, redirect, resolve_redirect};
use crate::rules::error::AppResult;
use crate::rules::scopes::ScopeSet;
use crate::server::db::{models, DbConn, UserId};
use crate::server::domain::activity::Seen;

/// Which flow the request came through, and so how its answer is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `/oauth/authorize`: RFC 6749 with OAuth 2.1's rules (PKCE S256 required, `state`
    /// echoed, `iss` added).
    OAuth,
    /// `/authn/verify/<app>/<challenge>`: Speckle's plain challenge (or S256 when the
    /// request says so), `access_code` or `denied=true` on the app's redirect URL.
    Speckle,
}

/// The request as the browser brought it; every field is the client's.
#[derive(Clone, Copy, Debug)]
pub struct Asked<'a> {
    pub protocol: Protocol,
    pub client_id: &'a str,
    pub response_type: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub state: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
}

/// A request that may be put to the person.
#[derive(Debug)]
pub struct Checked {
    pub app: models::App,
    /// The name of the person who registered the app; none for the apps this server installs.
    pub author: Option<String>,
    /// Where the answer goes.
    pub return_to: String,
    /// What the app asks for, and what the person has granted it already.
    pub scopes: ScopeSet,
    pub granted: ScopeSet,
    protocol: Protocol,
    challenge: Challenge,
    /// The redirect URI the request named, which the code's exchange must repeat.
    named_redirect: Option<String>,
    state: Option<String>,
    issuer: String,
}

/// A request that cannot be put to the person.
#[derive(Debug, PartialEq, Eq)]
pub enum Unfit {
    /// Not safe to send back to the app: the page says this.
    Shown(String),
    /// Sent back to the app, at this URL (an OAuth error, with `state` and `iss`).
    Returned(String),
}

/// Checks `asked` for the signed-in `user_id`; `issuer` is this server's origin.
pub async fn check(
    conn: &mut DbConn,
    asked: Asked<'_>,
    user_id: &UserId,
    issuer: &str,
) -> AppResult<Result<Checked, Unfit>> {
    let Some(app) = find(conn, asked.client_id).await? else {
        return Ok(Err(Unfit::Shown("No app with this client ID is registered on this server.".into())));
    };
    let return_to = match return_to(&app, asked, issuer) {
        Ok(url) => url,
        Err(message) => return Ok(Err(Unfit::Shown(message.into()))),
    };
    let returned = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        pairs.extend(asked.state.map(|state| ("state", state)));
        pairs.push(("iss", issuer));
        Unfit::Returned(with_query(&return_to, &pairs))
    };
    let offered = ScopeSet::from_names(&app.scopes).unwrap_or_default();
    let challenge = match asked.protocol {
        Protocol::OAuth => {
            if asked.response_type != Some("code") {
                return Ok(Err(returned("unsupported_response_type", "response_type must be code")));
            }
            if asked.code_challenge_method != Some("S256") {
                return Ok(Err(returned(
                    "invalid_request",
                    "PKCE is required, with code_challenge_method=S256",
                )));
            }
            Challenge::new(Method::S256, asked.code_challenge.unwrap_or_default())
        }
        Protocol::Speckle => Method::parse(asked.code_challenge_method)
            .and_then(|method| Challenge::new(method, asked.code_challenge.unwrap_or_default())),
    };
    let challenge = match challenge {
        Ok(challenge) => challenge,
        Err(error) => return Ok(Err(returned("invalid_request", &error.to_string()))),
    };
    let scopes = match asked.scope.filter(|_| asked.protocol == Protocol::OAuth) {
        None => offered,
        Some(names) => match ScopeSet::from_names(names) {
            Ok(scopes) if scopes.is_within(offered) && !scopes.is_empty() => scopes,
            _ => {
                return Ok(Err(returned(
                    "invalid_scope",
                    "the app may ask only for the scopes it registered",
                )))
            }
        },
    };
    let author = author_name(conn, &app).await?;
    let granted = granted(conn, app.id.as_str(), user_id).await?.unwrap_or_default();
    Ok(Ok(Checked {
        author,
        return_to,
        scopes,
        granted,
        protocol: asked.protocol,
        challenge,
        named_redirect: asked.redirect_uri.filter(|_| asked.protocol == Protocol::OAuth).map(str::to_owned),
        state: asked.state.map(str::to_owned),
        issuer: issuer.to_owned(),
        app,
    }))
}

/// Where the app's answer goes: for OAuth the registered redirect the request named (or the
/// app's only one), for Speckle's flow the app's first.
fn return_to(app: &models::App, asked: Asked<'_>, issuer: &str) -> Result<String, &'static str> {
    let mut registered = app.redirects().map(|url| resolve_redirect(url, issuer));
    match (asked.protocol, asked.redirect_uri) {
        (Protocol::OAuth, Some(named)) => {
            if registered.any(|url| redirect::matches(&url, named)) {
                Ok(named.to_owned())
            } else {
                Err("This redirect URL is not one the app registered, so you are not sent back to it.")
            }
        }
        (Protocol::OAuth, None) => match (registered.next(), registered.next()) {
            (Some(only), None) => Ok(only),
            _ => Err("The app registered several redirect URLs and named none of them."),
        },
        (Protocol::Speckle, _) => registered.next().ok_or("The app has no redirect URL."),
    }
}

impl Checked {
    /// Whether the person has granted everything asked already: then no page is shown.
    pub fn is_granted(&self) -> bool {
        self.scopes.is_within(self.granted)
    }

    /// Whether the app sends the person to a program on their own computer.
    pub fn returns_to_this_computer(&self) -> bool {
        redirect::is_on_this_computer(&self.return_to)
    }

    /// The person's answer: approved, a grant and a code; either way the URL to go to.
    pub async fn answer(
        &self,
        conn: &mut DbConn,
        user_id: &UserId,
        approved: bool,
        seen: &Seen,
    ) -> AppResult<String> {
        if !approved {
            return Ok(match self.protocol {
                Protocol::OAuth => self.oauth_answer(("error", "access_denied")),
                Protocol::Speckle => with_query(&self.return_to, &[("denied", "true")]),
            });
        }
        let request = CodeRequest {
            scopes: self.scopes,
            challenge: self.challenge.clone(),
            redirect_uri: self.named_redirect.as_deref(),
        };
        let code: Code = approve(conn, &self.app, user_id, request, seen).await?;
        Ok(match self.protocol {
            Protocol::OAuth => self.oauth_answer(("code", code.expose_secret())),
            Protocol::Speckle => with_query(&self.return_to, &[("access_code", code.expose_secret())]),
        })
    }

    /// OAuth's answer: `first`, then `state` as sent and `iss` (RFC 9207).
    fn oauth_answer(&self, first: (&str, &str)) -> String {
        let mut pairs = vec![first];
        pairs.extend(self.state.as_deref().map(|state| ("state", state)));
        pairs.push(("iss", &self.issuer));
        with_query(&self.return_to, &pairs)
    }
}

/// `url` with `pairs` added to its query; a URL that does not parse is left as it is (the
/// registered ones all do).
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    super::with_query(url, pairs).unwrap_or_else(|| url.to_owned())
}
