//! The consent pages' door (SPEC §11): what an app asks of the signed-in person, and their
//! answer. On `/oauth/authorize` both read the same request, as the page carries it, and
//! check it the same way (`domain::apps::authorize`); on `/device` the request is the code
//! the person typed (`domain::apps::device`).

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

/// An app and what it asks of the person, as both consent pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Asking {
    pub app_name: String,
    pub description: String,
    /// Who registered the app; none for the apps this server installs.
    pub author: Option<String>,
    /// What it asks for that the person has not granted it yet, and what they have.
    pub asked: Vec<ScopeLine>,
    pub granted: Vec<ScopeLine>,
}

/// What the page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Consent {
    /// The question put to the person; `destination` is the site the answer goes to, or none
    /// for a program on this computer.
    Ask { asking: Asking, destination: Option<String> },
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
        Ok(Consent::Ask {
            destination: (!checked.returns_to_this_computer()).then(|| site_of(&checked.return_to)),
            asking: asking(checked.app, checked.author, checked.scopes, checked.granted),
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

/// What `/device` shows for the code typed (`user_code` in its query).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DeviceCode {
    /// Nothing typed yet.
    Empty,
    /// A device waits for this person's answer.
    Waiting(Asking),
    /// This person answered it.
    Answered { app_name: String, approved: bool },
    /// No device waits under this code.
    Unknown,
}

#[server(endpoint = "device_request")]
pub async fn device_request(user_code: String) -> Result<DeviceCode, AppError> {
    super::session::with_status(async move {
        use super::session::{signed_in, state, SignedIn};
        use crate::server::auth::throttle::retry_after_secs;
        use crate::server::domain::apps::{author_name, device, granted};
        if user_code.trim().is_empty() {
            return Ok(DeviceCode::Empty);
        }
        let SignedIn { user, mut conn, .. } = signed_in().await?;
        let state = state()?;
        let throttle = &state.throttles.device_code;
        throttle.begin(&[user.id.as_str()]).map_err(|wait| AppError::RateLimited(retry_after_secs(wait)))?;
        let looked = device::look_up(&mut conn, &user_code, &user.id).await?;
        if !matches!(looked, device::Looked::Unknown) {
            throttle.forgive(&[user.id.as_str()]);
        }
        Ok(match looked {
            device::Looked::Waiting { app, scopes } => {
                let author = author_name(&mut conn, &app).await?;
                let before = granted(&mut conn, app.id.as_str(), &user.id).await?.unwrap_or_default();
                DeviceCode::Waiting(asking(app, author, scopes, before))
            }
            device::Looked::Answered { app, approved } => {
                DeviceCode::Answered { app_name: app.name, approved }
            }
            device::Looked::Unknown => DeviceCode::Unknown,
        })
    })
    .await
}

/// The person's answer to the device showing `user_code` (`decision`: `authorize`, or
/// anything else, a refusal). A plain form post comes back to the page, which then says it.
#[server(endpoint = "device_answer")]
pub async fn answer_device(user_code: String, decision: String) -> Result<String, AppError> {
    super::session::with_status(async move {
        use super::session::{is_plain_form_post, signed_in, SignedIn};
        use crate::server::domain::apps::device;
        let SignedIn { user, mut conn, seen } = signed_in().await?;
        let approved = decision == "authorize";
        let Some(app) = device::answer(&mut conn, &user_code, &user.id, approved, &seen).await? else {
            return Err(crate::rules::error::bad_input(
                "No device waits for this code: it is unknown, expired or answered already.",
            ));
        };
        if is_plain_form_post() {
            let query =
                form_urlencoded::Serializer::new(String::new()).append_pair("user_code", &user_code).finish();
            leptos_axum::redirect(&format!("/device?{query}"));
        }
        Ok(if approved {
            format!("{} may now act for you. Go back to your device.", app.name)
        } else {
            format!("{} was refused.", app.name)
        })
    })
    .await
}

/// An app, its author, and the scopes it asks for apart from those already granted.
#[cfg(feature = "ssr")]
fn asking(
    app: crate::server::db::models::App,
    author: Option<String>,
    scopes: crate::rules::scopes::ScopeSet,
    granted: crate::rules::scopes::ScopeSet,
) -> Asking {
    let lines = |scopes: crate::rules::scopes::ScopeSet| {
        scopes
            .iter()
            .map(|scope| ScopeLine {
                name: scope.name().to_owned(),
                description: scope.description().to_owned(),
            })
            .collect()
    };
    Asking {
        app_name: app.name,
        description: app.description,
        author,
        asked: lines(scopes.without(granted)),
        granted: lines(scopes.intersection(granted)),
    }
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
