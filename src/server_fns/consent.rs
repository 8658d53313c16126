//! The consent page's door (SPEC §11): what an app asks of the signed-in person, and their
//! answer. Both read the same request, as the page carries it, and check it the same way
//! (`domain::apps::authorize`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rules::error::AppError;

/// An authorization request as its URL brings it: `/oauth/authorize?…`, or Speckle's
/// `/authn/verify/<client_id>/<code_challenge>[?code_challenge_method=S256]` (`speckle`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    #[serde(default)]
    pub speckle: bool,
    #[serde(default)]
    pub client_id: String,
    pub response_type: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A scope as the page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

/// What the page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Consent {
    /// The question put to the person.
    Ask {
        app_name: String,
        description: String,
        /// Who registered the app; none for the apps this server installs.
        author: Option<String>,
        /// The site the answer goes to, or none for a program on this computer.
        destination: Option<String>,
        asked: Vec<ScopeLine>,
        granted: Vec<ScopeLine>,
    },
    /// Nothing to ask: the request cannot be answered, and why.
    Refused(String),
    /// Nothing to ask: everything was granted before, and the browser goes on to this URL.
    Granted(String),
}

#[server(endpoint = "authorization")]
pub async fn authorization(request: AuthorizationRequest) -> Result<Consent, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, SignedIn};
        use crate::server::domain::apps::authorize::Unfit;
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        let checked = match check(&mut conn, &request, &user.id).await? {
            Ok(checked) => checked,
            Err(Unfit::Shown(why)) => return Ok(Consent::Refused(why)),
            Err(Unfit::Returned(url)) => return Ok(go_on(url)),
        };
        if checked.is_granted() {
            return Ok(go_on(checked.answer(&mut conn, &user.id, true, &seen).await?));
        }
        allow_form_target(&checked.return_to);
        let lines = |scopes: crate::rules::scopes::ScopeSet| {
            scopes
                .iter()
                .map(|scope| ScopeLine {
                    name: scope.name().to_owned(),
                    description: scope.description().to_owned(),
                })
                .collect()
        };
        Ok(Consent::Ask {
            destination: (!checked.returns_to_this_computer()).then(|| site_of(&checked.return_to)),
            asked: lines(checked.scopes.without(checked.granted)),
            granted: lines(checked.scopes.intersection(checked.granted)),
            app_name: checked.app.name,
            description: checked.app.description,
            author: checked.author,
        })
    })
    .await
}

/// The person's answer (`decision`: `authorize` or anything else, a refusal): the URL of
/// the app to go to, where a plain form post is redirected.
#[server(endpoint = "authorize")]
pub async fn decide(request: AuthorizationRequest, decision: String) -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::{is_plain_form_post, signed_in, SignedIn};
        use crate::server::domain::apps::authorize::Unfit;
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        let url = match check(&mut conn, &request, &user.id).await? {
            Ok(checked) => checked.answer(&mut conn, &user.id, decision == "authorize", &seen).await?,
            Err(Unfit::Returned(url)) => url,
            Err(Unfit::Shown(why)) => return Err(crate::rules::error::bad_input(why)),
        };
        if is_plain_form_post() {
            leptos_axum::redirect(&url);
        }
        Ok(url)
    })
    .await
}

#[cfg(feature = "ssr")]
async fn check(
    conn: &mut crate::server::db::DbConn,
    request: &AuthorizationRequest,
    user_id: &crate::server::db::UserId,
) -> crate::rules::error::AppResult<
    Result<crate::server::domain::apps::authorize::Checked, crate::server::domain::apps::authorize::Unfit>,
> {
    use crate::server::domain::apps::authorize::{self, Asked, Protocol};
    let headers = use_context::<axum::http::request::Parts>().map(|parts| parts.headers).unwrap_or_default();
    let issuer = super::session::state()?.origin(&headers);
    let asked = Asked {
        protocol: if request.speckle { Protocol::Speckle } else { Protocol::OAuth },
        client_id: &request.client_id,
        response_type: request.response_type.as_deref(),
        redirect_uri: request.redirect_uri.as_deref(),
        scope: request.scope.as_deref(),
        state: request.state.as_deref(),
        code_challenge: request.code_challenge.as_deref(),
        code_challenge_method: request.code_challenge_method.as_deref(),
    };
    authorize::check(conn, asked, user_id, &issuer).await
}

/// Sends the browser on to `url` now (the page is not shown).
#[cfg(feature = "ssr")]
fn go_on(url: String) -> Consent {
    leptos_axum::redirect(&url);
    Consent::Granted(url)
}

/// `https://host[:port]` of a URL, as the page names the site it sends the person to.
#[cfg(feature = "ssr")]
fn site_of(url: &str) -> String {
    url::Url::parse(url).map(|url| url.origin().ascii_serialization()).unwrap_or_else(|_| url.to_owned())
}

/// Lets this page's form lead to `url`: browsers hold the redirect that answers a form post
/// to the page's `form-action`, which is otherwise `'self'`.
#[cfg(feature = "ssr")]
fn allow_form_target(url: &str) {
    let Ok(url) = url::Url::parse(url) else { return };
    let source = match url.origin() {
        origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else { return };
    let header = axum::http::header::CONTENT_SECURITY_POLICY;
    let policy = match response.0.read() {
        Ok(parts) => parts.headers.get(&header).and_then(|value| value.to_str().ok()).map(str::to_owned),
        Err(_) => None,
    };
    let Some(policy) = policy else { return };
    let widened = policy.replace("form-action 'self'", &format!("form-action 'self' {source}"));
    if let Ok(value) = axum::http::HeaderValue::from_str(&widened) {
        response.insert_header(header, value);
    }
}
