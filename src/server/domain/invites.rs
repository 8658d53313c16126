//! Invitations to streams (SPEC §10), as Speckle shares projects: an owner invites a user (by
//! id, or by the email of an account) or an address without an account yet, with a role; the
//! invitee accepts (and is a collaborator with that role) or declines. An invitation to an
//! address is mailed with its secret, which is kept only as a digest; signing up with that
//! address accepts it. Invitations expire after 30 days, and an owner sends at most 100 a day.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::rules::error::{bad_input, not_found, AppError, AppResult};
use crate::rules::limits::MAX_EMAIL_CHARS;
use crate::server::db::schema::{mail_outbox, stream_acl, stream_invites, streams, users};
use crate::server::db::{models, new_id, DbConn, StreamId, Topic, UserId};
use crate::server::domain::history::Action;
use crate::server::domain::reach::Actor;
use crate::server::domain::streams::{readable, Role};
use crate::{db_run, db_tx};

/// An invitation may be answered for this long.
pub const INVITE_LIFETIME_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// The most invitations one person may send in a day (24 hours).
pub const MAX_INVITES_A_DAY: i64 = 100;
/// The most invitations one request may send (`batchCreate`).
pub const MAX_INVITES_AT_ONCE: usize = 100;
/// The longest message an invitation may carry.
pub const MAX_MESSAGE_CHARS: usize = 1000;
/// The most pending invitations a list answers (a stream's, or a user's).
pub const MAX_PENDING_LISTED: i64 = 100;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const PENDING: &str = "pending";

/// Who is invited.
#[derive(Clone, Debug)]
pub enum Invitee {
    /// An account, by its id.
    User(UserId),
    /// An address: an account's, or someone who has none yet.
    Email(String),
}

/// What an owner sends to invite someone.
#[derive(Clone, Debug)]
pub struct InviteInput {
    pub invitee: Invitee,
    /// `stream:contributor` when not given.
    pub role: Option<Role>,
    pub message: Option<String>,
}

/// How an invitation to an address is mailed: the site's address for its link, when known.
#[derive(Clone, Copy, Debug)]
pub struct MailTo<'a> {
    pub public_url: Option<&'a str>,
}

/// A pending invitation, as the API and the pages show it.
#[derive(Clone, Debug)]
pub struct Pending {
    pub id: String,
    pub stream_id: StreamId,
    pub stream_name: String,
    pub role: String,
    pub inviter: models::Profile,
    /// The invited account, if there is one.
    pub invitee: Option<models::Profile>,
    /// The invited address, for an invitation by email.
    pub email: Option<String>,
    pub created_at: i64,
}

impl Pending {
    /// Who is invited, as Speckle's `title` names them: their address, or their name.
    pub fn title(&self) -> &str {
        match (&self.email, &self.invitee) {
            (Some(email), _) => email,
            (None, Some(user)) => &user.name,
            (None, None) => "",
        }
    }
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new invitation secret: 160 bits from the operating system's generator.
fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Checks an address as sign-up does, and answers it normalised.
fn valid_email(email: &str) -> AppResult<String> {
    let email = crate::server::domain::users::normalize_email(email);
    let looks_like_email = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !email.chars().any(char::is_whitespace)
    });
    if !looks_like_email || email.chars().count() > MAX_EMAIL_CHARS {
        return Err(bad_input("email: enter a valid email address."));
    }
    Ok(email)
}

fn not_an_invitation() -> AppError {
    not_found("Invitation")
}

/// An invitation resolved before its transaction: whom, as what, with what message.
struct Resolved {
    invitee_id: Option<UserId>,
    email: Option<String>,
    role: Role,
    message: Option<String>,
}

/// Finds whom `input` invites and checks what needs no lock.
async fn resolve(conn: &mut DbConn, inviter_id: &UserId, input: InviteInput) -> AppResult<Resolved> {
    let role = input.role.unwrap_or(Role::Contributor);
    let message = input.message.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
    if message.as_ref().is_some_and(|m| m.chars().count() > MAX_MESSAGE_CHARS) {
        return Err(bad_input(format!("message must be at most {MAX_MESSAGE_CHARS} characters.")));
    }
    let (invitee_id, email) = match input.invitee {
        Invitee::User(user_id) => {
            let exists: i64 =
                db_run!(conn, |c| users::table.filter(users::id.eq(&user_id)).count().get_result(c).await)?;
            if exists == 0 {
                return Err(not_found("User"));
            }
            (Some(user_id), None)
        }
        Invitee::Email(email) => {
            let email = valid_email(&email)?;
            let account: Option<UserId> = db_run!(conn, |c| {
                users::table.filter(users::email.eq(&email)).select(users::id).first(c).await.optional()
            })?;
            (account, Some(email))
        }
    };
    if invitee_id.as_ref() == Some(inviter_id) {
        return Err(bad_input("You cannot invite yourself."));
    }
    Ok(Resolved { invitee_id, email, role, message })
}

/// Invites people to the stream (its owners only), all or none; answers the invitations'
/// ids. With `mail`, an invitation to an address without an account is queued for mailing
/// with its secret.
pub async fn create(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    inputs: Vec<InviteInput>,
    mail: Option<MailTo<'_>>,
) -> AppResult<Vec<String>> {
    let inviter_id = actor.user_id;
    if inputs.is_empty() || inputs.len() > MAX_INVITES_AT_ONCE {
        return Err(bad_input(format!("input: 1 to {MAX_INVITES_AT_ONCE} invitations at once.")));
    }
    let access = readable(conn, stream_id, Some(actor)).await?;
    access.require_owner("invite others to it")?;
    let mut resolved = Vec::with_capacity(inputs.len());
    for input in inputs {
        resolved.push(resolve(conn, inviter_id, input).await?);
    }
    let inviter = crate::server::domain::users::profile(conn, inviter_id).await?;
    let now = conn.now();
    let mut ids = Vec::with_capacity(resolved.len());
    let mut mails = Vec::new();
    let mut rows = Vec::with_capacity(resolved.len());
    for invite in &resolved {
        let (id, secret) = (new_id(), new_secret());
        // Only an address with no account is mailed: an account sees its invitations on /streams.
        if let (Some(mail), Some(email), None) = (mail, &invite.email, &invite.invitee_id) {
            mails.push(invitation_mail(
                now,
                &inviter,
                email,
                &access.stream.name,
                invite.role,
                &secret,
                mail,
            ));
        }
        rows.push((
            stream_invites::id.eq(id.clone()),
            stream_invites::stream_id.eq(stream_id),
            stream_invites::inviter_id.eq(inviter_id),
            stream_invites::invitee_id.eq(invite.invitee_id.clone()),
            stream_invites::email.eq(invite.email.clone()),
            stream_invites::role.eq(invite.role.name()),
            stream_invites::message.eq(invite.message.clone()),
            stream_invites::secret_digest.eq(digest(&secret)),
            stream_invites::created_at.eq(now),
            stream_invites::expires_at.eq(now + INVITE_LIFETIME_MS),
            stream_invites::status.eq(PENDING),
        ));
        ids.push(id);
    }
    db_tx!(conn, |tx| {
        tx.still_owner(stream_id, inviter_id, "invite others to it").await?;
        // The inviter's row, locked: two batches of one inviter count one after the other.
        tx.lock_user(inviter_id).await?;
        let sent_today: i64 = stream_invites::table
            .filter(stream_invites::inviter_id.eq(inviter_id))
            .filter(stream_invites::created_at.gt(now - DAY_MS))
            .count()
            .get_result(tx.conn())
            .await?;
        if sent_today + resolved.len() as i64 > MAX_INVITES_A_DAY {
            return Err(bad_input(format!(
                "You may send {MAX_INVITES_A_DAY} invitations in 24 hours, and have sent {sent_today}: try again tomorrow."
            )));
        }
        for ((invite, row), id) in resolved.iter().zip(&rows).zip(&ids) {
            tx.may_be_invited(stream_id, invite, now).await?;
            diesel::insert_into(stream_invites::table).values(row.clone()).execute(tx.conn()).await?;
            // Who was invited by address is the owners' to know, not every reader's.
            let info = serde_json::json!({ "targetUser": invite.invitee_id, "role": invite.role.name() });
            let message = format!("Invitation sent ({})", invite.role.name());
            tx.record_on_stream(stream_id, inviter_id, Action::InviteSent, id, info, message).await?;
        }
        for mail in &mails {
            diesel::insert_into(mail_outbox::table).values(mail).execute(tx.conn()).await?;
        }
        Ok(())
    })?;
    Ok(ids)
}

crate::tx_steps! {
    /// Refuses to invite a collaborator of the stream, or someone with a pending invitation
    /// to it (this transaction's own included).
    async fn may_be_invited(&mut self, stream_id: &StreamId, invite: &Resolved, now: i64) -> AppResult<()> {
        if let Some(invitee_id) = &invite.invitee_id {
            let on_it: i64 = stream_acl::table
                .filter(stream_acl::stream_id.eq(stream_id))
                .filter(stream_acl::user_id.eq(invitee_id))
                .count()
                .get_result(self.conn())
                .await?;
            if on_it > 0 {
                return Err(bad_input("This user is already a collaborator of the stream."));
            }
        }
        let same_invitee = stream_invites::invitee_id
            .eq(invite.invitee_id.clone().unwrap_or_else(|| UserId::from("")))
            .or(stream_invites::email.eq(invite.email.clone().unwrap_or_default()));
        let already: i64 = stream_invites::table
            .filter(stream_invites::stream_id.eq(stream_id))
            .filter(stream_invites::status.eq(PENDING))
            .filter(stream_invites::expires_at.gt(now))
            .filter(same_invitee)
            .count()
            .get_result(self.conn())
            .await?;
        if already > 0 {
            return Err(bad_input("This person already has a pending invitation to the stream."));
        }
        Ok(())
    }
}

/// The message that carries an invitation to an address.
fn invitation_mail(
    now: i64,
    inviter: &models::Profile,
    email: &str,
    stream_name: &str,
    role: Role,
    secret: &str,
    mail: MailTo<'_>,
) -> models::NewMail {
    let (on_site, sign_up) = match mail.public_url {
        Some(url) => (format!(" on {url}"), format!("sign up at {url}/signup?invite={secret}")),
        None => (String::new(), format!("open /signup?invite={secret} on this Speckle server and sign up")),
    };
    let body = format!(
        "Hello,\n\n{} invited you to the stream “{stream_name}” as {}{on_site}.\n\n\
         To accept, {sign_up} with this address ({email}); with an account already, give \
         your client this invitation code: {secret}. It expires in 30 days.\n\n\
         If you did not expect this, ignore this message.\n",
        inviter.name,
        role.name()
    );
    let subject = format!("{} invited you to “{stream_name}”", inviter.name);
    let key = format!("invite:{}", hex::encode(digest(secret)));
    models::NewMail::due_at(now, &inviter.id, key, subject, body).to(email)
}

/// Whose pending invitations a list reads.
#[derive(Clone, Copy)]
enum Of<'a> {
    Stream(&'a StreamId),
    Invitee(&'a UserId),
}

/// (id, stream, its name, role, inviter, invitee, email, created)
type Row = (String, StreamId, String, String, UserId, Option<UserId>, Option<String>, i64);

/// The live pending invitations of a stream or of an invitee, newest first (at most
/// [`MAX_PENDING_LISTED`]), with who sent them and to whom.
async fn pending(conn: &mut DbConn, of: Of<'_>) -> AppResult<Vec<Pending>> {
    let now = conn.now();
    let rows: Vec<Row> = db_run!(conn, |c| {
        let live = stream_invites::table
            .inner_join(streams::table)
            .filter(stream_invites::status.eq(PENDING))
            .filter(stream_invites::expires_at.gt(now))
            .into_boxed();
        let kept = match of {
            Of::Stream(id) => live.filter(stream_invites::stream_id.eq(id)),
            Of::Invitee(id) => live.filter(stream_invites::invitee_id.eq(id)),
        };
        kept.order((stream_invites::created_at.desc(), stream_invites::id.desc()))
            .select((
                stream_invites::id,
                stream_invites::stream_id,
                streams::name,
                stream_invites::role,
                stream_invites::inviter_id,
                stream_invites::invitee_id,
                stream_invites::email,
                stream_invites::created_at,
            ))
            .limit(MAX_PENDING_LISTED)
            .load(c)
            .await
    })?;
    let mut ids: Vec<&UserId> =
        rows.iter().flat_map(|row| std::iter::once(&row.4).chain(row.5.iter())).collect();
    ids.sort_unstable();
    ids.dedup();
    let profiles = crate::server::domain::users::profiles(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, stream_id, stream_name, role, inviter_id, invitee_id, email, created_at)| {
            Some(Pending {
                id,
                stream_id,
                stream_name,
                role,
                inviter: profiles.get(&inviter_id)?.clone(),
                invitee: invitee_id.and_then(|invitee| profiles.get(&invitee).cloned()),
                email,
                created_at,
            })
        })
        .collect())
}

/// The stream's pending invitations (for those who may see them: see the doors).
pub async fn pending_for_stream(conn: &mut DbConn, stream_id: &StreamId) -> AppResult<Vec<Pending>> {
    pending(conn, Of::Stream(stream_id)).await
}

/// The invitations waiting for the user's answer; none for a limited token, which cannot
/// answer them (they are to streams outside its streams: SPEC §12).
pub async fn pending_for_user(conn: &mut DbConn, actor: Actor<'_>) -> AppResult<Vec<Pending>> {
    if actor.limit.is_some() {
        return Ok(Vec::new());
    }
    pending(conn, Of::Invitee(actor.user_id)).await
}

/// The stream's live pending invitation that `token` names: its id (as the invitee sees it
/// in their list), or its mailed secret (then `by_secret`).
struct Named {
    id: String,
    by_secret: bool,
}

async fn named_by(conn: &mut DbConn, stream_id: &StreamId, token: &str) -> AppResult<Option<Named>> {
    let now = conn.now();
    let secret = digest(token);
    let found: Option<(String, Vec<u8>)> = db_run!(conn, |c| {
        stream_invites::table
            .filter(stream_invites::stream_id.eq(stream_id))
            .filter(stream_invites::status.eq(PENDING))
            .filter(stream_invites::expires_at.gt(now))
            .filter(stream_invites::id.eq(token).or(stream_invites::secret_digest.eq(&secret)))
            .select((stream_invites::id, stream_invites::secret_digest))
            .first(c)
            .await
            .optional()
    })?;
    Ok(found
        .map(|(id, stored)| Named { id, by_secret: bool::from(stored.as_slice().ct_eq(secret.as_slice())) }))
}

/// The user's pending invitation to the stream that `token` names, or, with no token, any of
/// theirs to it.
pub async fn find_for_user(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    token: Option<&str>,
) -> AppResult<Option<Pending>> {
    let named = match token {
        Some(token) => match named_by(conn, stream_id, token).await? {
            Some(named) => Some(named.id),
            None => return Ok(None),
        },
        None => None,
    };
    let mine = pending_for_user(conn, actor).await?;
    Ok(mine
        .into_iter()
        .find(|invite| &invite.stream_id == stream_id && named.as_ref().is_none_or(|id| &invite.id == id)))
}

/// The stronger of two roles: accepting an invitation never lowers a collaborator's role.
fn stronger(held: Option<Role>, invited: Role) -> Role {
    let rank = |role: Role| match role {
        Role::Owner => 2,
        Role::Contributor => 1,
        Role::Reviewer => 0,
    };
    match held {
        Some(held) if rank(held) > rank(invited) => held,
        _ => invited,
    }
}

/// Accepts (the user becomes a collaborator with the invitation's role, or keeps a stronger
/// one) or declines the invitation to the stream that `token` names. It is the user's if it
/// names their account, or if it was sent to their address and `token` is its mailed
/// secret (an address is not proof of the account: emails are not verified here). It holds
/// only while its sender is still an owner of the stream.
pub async fn answer(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    token: &str,
    accept: bool,
) -> AppResult<()> {
    actor.refuse_if_limited("answer invitations")?;
    let user_id = actor.user_id;
    let named = named_by(conn, stream_id, token).await?.ok_or_else(not_an_invitation)?;
    let email = crate::server::domain::users::get(conn, user_id).await?.email;
    db_tx!(conn, |tx| {
        let now = tx.now;
        let current = tx.role_under_lock(stream_id, user_id).await?;
        let invite: Option<(Option<UserId>, Option<String>, String, UserId)> = stream_invites::table
            .find(&named.id)
            .filter(stream_invites::status.eq(PENDING))
            .filter(stream_invites::expires_at.gt(now))
            .select((
                stream_invites::invitee_id,
                stream_invites::email,
                stream_invites::role,
                stream_invites::inviter_id,
            ))
            .first(tx.conn())
            .await
            .optional()?;
        let Some((invitee, invited_email, role, inviter_id)) = invite else {
            return Err(not_an_invitation());
        };
        let theirs = match &invitee {
            Some(invitee) => invitee == user_id,
            None => named.by_secret && invited_email.as_deref() == Some(email.as_str()),
        };
        let inviter_role: Option<String> = stream_acl::table
            .find((stream_id, &inviter_id))
            .select(stream_acl::role)
            .first(tx.conn())
            .await
            .optional()?;
        let still_sent_by_an_owner = inviter_role.as_deref() == Some(Role::Owner.name());
        let role = Role::from_stored(&role);
        let (true, true, Some(role)) = (theirs, still_sent_by_an_owner, role) else {
            return Err(not_an_invitation());
        };
        if accept {
            tx.publish_joining(stream_id, user_id, Some(&inviter_id)).await?;
            let role = stronger(current, role).name();
            diesel::insert_into(stream_acl::table)
                .values((
                    stream_acl::stream_id.eq(stream_id),
                    stream_acl::user_id.eq(user_id),
                    stream_acl::role.eq(role),
                ))
                .on_conflict((stream_acl::stream_id, stream_acl::user_id))
                .do_update()
                .set(stream_acl::role.eq(role))
                .execute(tx.changing(Topic::Streams))
                .await?;
        }
        let status = if accept { "accepted" } else { "declined" };
        let (action, message) = match accept {
            true => (Action::InviteAccepted, format!("Invitation accepted ({})", role.name())),
            false => (Action::InviteDeclined, "Invitation declined".to_owned()),
        };
        let info = serde_json::json!({ "inviterUser": inviter_id, "role": role.name() });
        tx.record_on_stream(stream_id, user_id, action, &named.id, info, message).await?;
        diesel::update(stream_invites::table.find(&named.id))
            .set((
                stream_invites::status.eq(status),
                stream_invites::answered_at.eq(now),
                stream_invites::invitee_id.eq(user_id),
            ))
            .execute(tx.conn())
            .await?;
        Ok(())
    })
}

/// Cancels a pending invitation to the stream (its owners only).
pub async fn cancel(
    conn: &mut DbConn,
    actor: Actor<'_>,
    stream_id: &StreamId,
    invite_id: &str,
) -> AppResult<()> {
    let owner_id = actor.user_id;
    readable(conn, stream_id, Some(actor)).await?.require_owner("cancel its invitations")?;
    db_tx!(conn, |tx| {
        tx.still_owner(stream_id, owner_id, "cancel its invitations").await?;
        let now = tx.now;
        let cancelled = diesel::update(
            stream_invites::table
                .find(invite_id)
                .filter(stream_invites::stream_id.eq(stream_id))
                .filter(stream_invites::status.eq(PENDING)),
        )
        .set((stream_invites::status.eq("cancelled"), stream_invites::answered_at.eq(now)))
        .execute(tx.conn())
        .await?;
        if cancelled == 0 {
            return Err(not_an_invitation());
        }
        Ok(())
    })
}

/// Accepts, for a user who followed an invitation's link (its mailed secret), the
/// invitation that secret names, if it was sent to their address (see [`answer`]).
pub async fn accept_by_secret(conn: &mut DbConn, user_id: &UserId, secret: &str) -> AppResult<()> {
    let digest = digest(secret);
    let stream_id: Option<StreamId> = db_run!(conn, |c| {
        stream_invites::table
            .filter(stream_invites::secret_digest.eq(&digest))
            .select(stream_invites::stream_id)
            .first(c)
            .await
            .optional()
    })?;
    let stream_id = stream_id.ok_or_else(not_an_invitation)?;
    answer(conn, Actor::person(user_id), &stream_id, secret, true).await
}
