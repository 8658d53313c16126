//! What happened to a user's tokens and account: the events of `/profile/tokens/<id>` and
//! `/profile/security`, and the addresses each token was used from (SPEC §8).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::rules::error::AppResult;
use crate::server::db::schema::{api_tokens, security_events, token_addresses};
use crate::server::db::{models, new_id, DbConn, TokenId, UserId};
use crate::{db_run, db_tx};

/// How many distinct addresses are kept per token.
pub const KEPT_ADDRESSES: i64 = 5;
/// Events are kept per token up to this many "used from a new address" (a token used from
/// ever-changing addresses must not grow without bound); the oldest of them go first.
const KEPT_ADDRESS_EVENTS: i64 = 50;
/// The longest user agent kept, in characters.
const MAX_USER_AGENT_CHARS: usize = 300;

/// Where a request came from, as an event records it.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

impl Seen {
    /// The request's settled client address (trusted proxies honoured) and its user agent.
    pub fn of(parts: &axum::http::request::Parts) -> Seen {
        use crate::server::auth::client::ClientAddress;
        let ip = ClientAddress::of(&parts.extensions).to_canonical();
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect());
        Seen { ip: (!ip.is_unspecified()).then_some(ip), user_agent }
    }
}

/// What happened. The names are stored; the labels are what the pages show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Created,
    FirstUsed,
    NewAddress,
    Regenerated,
    Revoked,
    Expired,
    SignedIn,
    /// A person authorized an app, or gave it more scopes (SPEC §11).
    AppAuthorized,
    /// An app's access ended: revoked, reused, leaked or deleted.
    AppAccessEnded,
}

impl EventKind {
    const ALL: [EventKind; 9] = [
        EventKind::Created,
        EventKind::FirstUsed,
        EventKind::NewAddress,
        EventKind::Regenerated,
        EventKind::Revoked,
        EventKind::Expired,
        EventKind::SignedIn,
        EventKind::AppAuthorized,
        EventKind::AppAccessEnded,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::FirstUsed => "first_used",
            EventKind::NewAddress => "new_address",
            EventKind::Regenerated => "regenerated",
            EventKind::Revoked => "revoked",
            EventKind::Expired => "expired",
            EventKind::SignedIn => "signed_in",
            EventKind::AppAuthorized => "app_authorized",
            EventKind::AppAccessEnded => "app_access_ended",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EventKind::Created => "Created",
            EventKind::FirstUsed => "First used",
            EventKind::NewAddress => "Used from a new address",
            EventKind::Regenerated => "Regenerated",
            EventKind::Revoked => "Revoked",
            EventKind::Expired => "Expired",
            EventKind::SignedIn => "Signed in",
            EventKind::AppAuthorized => "App authorized",
            EventKind::AppAccessEnded => "App access ended",
        }
    }

    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Who or what revoked a token, in the owner's words.
#[derive(Clone, Debug)]
pub enum Revoker {
    /// The owner, on the profile page.
    Owner,
    /// The owner, through the API with the token of this name.
    Token(String),
    /// Revoked with the token of this name, which had minted it.
    Parent(String),
    /// Its regenerated successor was first used, or regenerated with no grace period.
    Replaced,
    /// A regenerated (superseded) token of its family was presented again to be regenerated.
    FamilyReuse,
    /// Found in public by a secret scanner, at this URL.
    Leaked(String),
    /// Reported by someone who found it.
    Reported,
    /// The owner revoked every token at once.
    All,
    /// The owner revoked the access of the app it was issued to.
    AppAccess,
    /// Its app renewed it with its refresh token.
    Refreshed,
    /// Its app's refresh token was presented a second time.
    RefreshReuse,
    /// The authorization code it was issued for was presented a second time.
    CodeReplay,
    /// Its app signed out (Speckle's `/auth/logout`, or a revocation by the app).
    SignedOut,
    /// Its app was deleted by its author.
    AppDeleted,
    /// Its app's author took scopes away from the app.
    AppNarrowed,
    /// Its app's access went unused for 90 days.
    Unused,
}

impl Revoker {
    pub fn describe(&self) -> String {
        match self {
            Revoker::Owner => "by you, on your profile page".to_owned(),
            Revoker::Token(name) => format!("by you, through the API with the token “{name}”"),
            Revoker::Parent(name) => format!("with the token “{name}”, which created it"),
            Revoker::Replaced => "replaced by its regenerated token".to_owned(),
            Revoker::FamilyReuse => {
                "an already regenerated token of its family was presented to be regenerated \
                                     again, which suggests a leak: the whole family was revoked"
                    .to_owned()
            }
            Revoker::Leaked(url) => format!("found in public at {url}"),
            Revoker::Reported => "reported as leaked by someone who found it".to_owned(),
            Revoker::All => "by you, with every other token".to_owned(),
            Revoker::AppAccess => "by you: you revoked the app's access".to_owned(),
            Revoker::Refreshed => "renewed by its app with its refresh token".to_owned(),
            Revoker::RefreshReuse => "its app's refresh token was used a second time, which suggests a \
                                      leak: the app's access was ended"
                .to_owned(),
            Revoker::CodeReplay => "the authorization code it came from was presented a second \
                                    time, which suggests a leak"
                .to_owned(),
            Revoker::SignedOut => "its app signed out".to_owned(),
            Revoker::AppDeleted => "its app was deleted".to_owned(),
            Revoker::AppNarrowed => "its app's author took scopes away from the app".to_owned(),
            Revoker::Unused => "its app's access went unused for 90 days".to_owned(),
        }
    }
}

/// A new event row, ready to insert.
pub fn event(
    user_id: &UserId,
    token_id: Option<&TokenId>,
    kind: EventKind,
    detail: Option<String>,
    seen: &Seen,
    at: i64,
) -> models::SecurityEvent {
    models::SecurityEvent {
        id: new_id(),
        user_id: user_id.to_owned(),
        token_id: token_id.cloned(),
        kind: kind.name().to_owned(),
        detail,
        ip: seen.ip.map(|ip| ip.to_string()),
        user_agent: seen.user_agent.clone(),
        at,
        once_key: None,
    }
}

crate::tx_steps! {
    /// Records events in a write's transaction; those with a `once_key` already recorded are
    /// skipped.
    pub async fn record(&mut self, events: &[models::SecurityEvent]) -> AppResult<()> {
        // One statement each: few at a time, and SQLite takes no batch with a conflict clause.
        for event in events {
            diesel::insert_into(security_events::table)
                .values(event)
                .on_conflict_do_nothing()
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }
}

/// Records one event on its own (outside any other write).
pub async fn record(conn: &mut DbConn, event: models::SecurityEvent) -> AppResult<()> {
    db_tx!(conn, |tx| { tx.record(std::slice::from_ref(&event)).await })
}

/// A token's use from `ip` that the caller has not noted recently. Answers whether the address
/// is new to the token (it is then kept, the oldest beyond [`KEPT_ADDRESSES`] let go, and a
/// "Used from a new address" event recorded unless `first_use`, whose own event says where).
/// A known address costs a read, and a write only when its time is a minute old.
pub async fn note_address(
    conn: &mut DbConn,
    user_id: &UserId,
    token_id: &TokenId,
    seen: &Seen,
    first_use: bool,
    now: i64,
    resolution_ms: i64,
) -> AppResult<bool> {
    let Some(ip) = seen.ip.map(|ip| ip.to_string()) else { return Ok(false) };
    let ip = ip.as_str();
    let last_seen: Option<i64> = db_run!(conn, |c| {
        token_addresses::table
            .find((token_id, ip))
            .select(token_addresses::last_seen)
            .first(c)
            .await
            .optional()
    })?;
    if let Some(last_seen) = last_seen {
        if now - last_seen >= resolution_ms {
            db_run!(conn, |c| {
                diesel::update(token_addresses::table.find((token_id, ip)))
                    .filter(token_addresses::last_seen.lt(now))
                    .set(token_addresses::last_seen.eq(now))
                    .execute(c)
                    .await
            })?;
        }
        return Ok(false);
    }
    let event = (!first_use).then(|| event(user_id, Some(token_id), EventKind::NewAddress, None, seen, now));
    db_tx!(conn, |tx| {
        let added = diesel::insert_into(token_addresses::table)
            .values((
                token_addresses::token_id.eq(token_id),
                token_addresses::ip.eq(ip),
                token_addresses::last_seen.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(tx.conn())
            .await?;
        if added == 0 {
            return Ok(false);
        }
        // Keep the newest few: the rest are let go, oldest first.
        let kept: Vec<String> = token_addresses::table
            .filter(token_addresses::token_id.eq(token_id))
            .order((token_addresses::last_seen.desc(), token_addresses::ip))
            .select(token_addresses::ip)
            .load(tx.conn())
            .await?;
        let dropped: Vec<&String> = kept.iter().skip(KEPT_ADDRESSES as usize).collect();
        if !dropped.is_empty() {
            diesel::delete(
                token_addresses::table
                    .filter(token_addresses::token_id.eq(token_id))
                    .filter(token_addresses::ip.eq_any(dropped)),
            )
            .execute(tx.conn())
            .await?;
        }
        if let Some(event) = &event {
            tx.record(std::slice::from_ref(event)).await?;
            let beyond: Vec<String> = security_events::table
                .filter(security_events::token_id.eq(token_id))
                .filter(security_events::kind.eq(EventKind::NewAddress.name()))
                .order((security_events::at.desc(), security_events::id.desc()))
                .offset(KEPT_ADDRESS_EVENTS)
                .select(security_events::id)
                .load(tx.conn())
                .await?;
            if !beyond.is_empty() {
                diesel::delete(security_events::table.filter(security_events::id.eq_any(&beyond)))
                    .execute(tx.conn())
                    .await?;
            }
        }
        Ok(true)
    })
}

/// The addresses a token was used from, most recent first.
pub async fn addresses(conn: &mut DbConn, token_id: &TokenId) -> AppResult<Vec<(String, i64)>> {
    Ok(db_run!(conn, |c| {
        token_addresses::table
            .filter(token_addresses::token_id.eq(token_id))
            .order((token_addresses::last_seen.desc(), token_addresses::ip))
            .limit(KEPT_ADDRESSES)
            .select((token_addresses::ip, token_addresses::last_seen))
            .load(c)
            .await
    })?)
}

/// An event as the pages and the API show it, with its token's name.
#[derive(Clone, Debug)]
pub struct ShownEvent {
    pub event: models::SecurityEvent,
    pub kind: Option<EventKind>,
    pub token_name: Option<String>,
}

/// One page of a user's events, newest first: of one token, or of all (`token_id` none).
/// `before` is the (time, id) of the last event of the previous page.
pub async fn page(
    conn: &mut DbConn,
    user_id: &UserId,
    token_id: Option<&TokenId>,
    before: Option<(i64, String)>,
    limit: i64,
) -> AppResult<Vec<ShownEvent>> {
    let rows: Vec<(models::SecurityEvent, Option<String>)> = db_run!(conn, |c| {
        let mut query = security_events::table
            .left_join(api_tokens::table.on(security_events::token_id.eq(api_tokens::id.nullable())))
            .filter(security_events::user_id.eq(user_id))
            .into_boxed();
        if let Some(token_id) = token_id {
            query = query.filter(security_events::token_id.eq(token_id));
        }
        if let Some((at, id)) = &before {
            query = query.filter(
                security_events::at
                    .lt(*at)
                    .or(security_events::at.eq(*at).and(security_events::id.lt(id.clone()))),
            );
        }
        query
            .order((security_events::at.desc(), security_events::id.desc()))
            .limit(limit)
            .select((models::SecurityEvent::as_select(), api_tokens::name.nullable()))
            .load(c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(event, token_name)| ShownEvent { kind: EventKind::from_name(&event.kind), event, token_name })
        .collect())
}
