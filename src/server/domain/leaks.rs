//! When a token leaks (SPEC §9): revoke it at once, tell its owner (an alert on `/profile`
//! until dismissed, the event in its activity, an email when SMTP is configured).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db_run;
use crate::rules::error::{not_found, AppError, AppResult};
use crate::server::db::schema::{api_tokens, app_refresh_tokens, leak_alerts, mail_outbox};
use crate::server::db::{models, new_id, DbConn, GrantId, TokenId, UserId};
use crate::server::domain::activity::{Revoker, Seen};
use crate::server::domain::apps;
use crate::server::domain::tokens::{self, HashedToken};

/// Who found a token, and where.
#[derive(Clone, Debug)]
pub enum FoundBy {
    /// A secret scanning partner (GitHub), in public at `url`.
    Scanner { url: Option<String>, source: Option<String> },
    /// Someone who reported it through `/api/tokens/report`.
    Report,
}

impl FoundBy {
    fn name(&self) -> &'static str {
        match self {
            FoundBy::Scanner { .. } => "scanner",
            FoundBy::Report => "report",
        }
    }

    fn revoker(&self) -> Revoker {
        match self {
            FoundBy::Scanner { url, source } => {
                let place = url.clone().unwrap_or_else(|| "an unnamed place".to_owned());
                Revoker::Leaked(match source {
                    Some(source) => format!("{place} ({source})"),
                    None => place,
                })
            }
            FoundBy::Report => Revoker::Reported,
        }
    }

    /// "found in public at https://…", "reported by someone who found it".
    pub fn describe(&self) -> String {
        self.revoker().describe()
    }
}

/// The longest URL or source kept from a report, in characters.
const MAX_PLACE_CHARS: usize = 2_000;

/// Revokes every live token among `found` (with what it minted), and tells each owner.
/// Answers, in order, whether each digest is a token this server issued. One query finds
/// them all (two, with the apps' refresh tokens), so a batch of mostly false matches costs
/// little.
pub async fn revoke_found(
    conn: &mut DbConn,
    found: &[(HashedToken, FoundBy)],
    mail: bool,
) -> AppResult<Vec<bool>> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let digests: Vec<&[u8]> = found.iter().map(|(digest, _)| digest.as_bytes()).collect();
    // (id, user_id, name, digest, revoked_at, grant) of each token of ours among them: the
    // bearer tokens, and the apps' refresh tokens as the access token issued with each.
    let mut issued: Vec<Issued> = db_run!(conn, |c| {
        api_tokens::table
            .filter(api_tokens::token_digest.eq_any(&digests))
            .select((
                api_tokens::id,
                api_tokens::user_id,
                api_tokens::name,
                api_tokens::token_digest,
                api_tokens::revoked_at,
                api_tokens::grant_id,
            ))
            .load(c)
            .await
    })?;
    let refreshes: Vec<Issued> = db_run!(conn, |c| {
        app_refresh_tokens::table
            .inner_join(api_tokens::table.on(api_tokens::id.eq(app_refresh_tokens::access_token_id)))
            .filter(app_refresh_tokens::digest.eq_any(&digests))
            .select((
                api_tokens::id,
                api_tokens::user_id,
                api_tokens::name,
                app_refresh_tokens::digest,
                app_refresh_tokens::revoked_at,
                api_tokens::grant_id,
            ))
            .load(c)
            .await
    })?;
    issued.extend(refreshes);
    let mut answers = Vec::with_capacity(found.len());
    for (digest, found_by) in found {
        let row = issued.iter().find(|(_, _, _, stored, ..)| stored.as_slice() == digest.as_bytes());
        answers.push(row.is_some());
        let Some((token_id, user_id, name, _, None, grant)) = row else { continue };
        let found_by = clipped(found_by);
        let revoked = match grant {
            // An app's token: its grant ends, every token of it (SPEC §11).
            Some(grant) => apps::end_grant(conn, grant, found_by.revoker(), &Seen::default()).await?,
            None => match tokens::revoke(conn, user_id, token_id, found_by.revoker(), &Seen::default()).await
            {
                Ok(()) => true,
                Err(AppError::NotFound(_)) => false, // revoked meanwhile (the same leak twice)
                Err(error) => return Err(error),
            },
        };
        if !revoked {
            continue;
        }
        tracing::warn!(%token_id, %user_id, found_by = found_by.name(), "leaked token revoked");
        alert(conn, user_id, token_id, name, grant.is_some(), &found_by, mail).await?;
    }
    Ok(answers)
}

/// A token of ours found among the digests: (id, user, name, digest, revoked_at, grant).
type Issued = (TokenId, UserId, String, Vec<u8>, Option<i64>, Option<GrantId>);

fn clipped(found_by: &FoundBy) -> FoundBy {
    let clip = |text: &Option<String>| text.as_ref().map(|t| t.chars().take(MAX_PLACE_CHARS).collect());
    match found_by {
        FoundBy::Scanner { url, source } => FoundBy::Scanner { url: clip(url), source: clip(source) },
        FoundBy::Report => FoundBy::Report,
    }
}

/// The alert on `/profile`, and the email (once per token).
async fn alert(
    conn: &mut DbConn,
    user_id: &UserId,
    token_id: &TokenId,
    name: &str,
    of_app: bool,
    found_by: &FoundBy,
    mail: bool,
) -> AppResult<()> {
    let now = conn.now();
    let (url, source) = match found_by {
        FoundBy::Scanner { url, source } => (url.clone(), source.clone()),
        FoundBy::Report => (None, None),
    };
    let subject = match of_app {
        true => format!("A token of the app “{name}” was found, and the app's access revoked"),
        false => format!("Your token “{name}” was found and revoked"),
    };
    let mail_key = format!("leak:{token_id}");
    let body = if of_app {
        format!(
            "Hello,\n\nA token that the app “{name}” held for you was {}, so the app's access has \
             been revoked: it must ask you again before it can act for you. Authorize it again only \
             if you trust where it keeps its tokens.\n",
            found_by.describe()
        )
    } else {
        format!(
            "Hello,\n\nYour personal access token “{name}” was {}, so it has been revoked: scripts using it \
         now fail. Create a new token on your profile, and remove the old one from where it was found.\n\n\
         If you did not expect this, review your tokens and the security log on your profile, and \
         consider changing your password.\n",
            found_by.describe()
        )
    };
    let mail = mail.then(|| models::NewMail::due_at(now, user_id, mail_key, subject, body));
    db_run!(conn, |c| {
        async {
            diesel::insert_into(leak_alerts::table)
                .values((
                    leak_alerts::id.eq(new_id()),
                    leak_alerts::user_id.eq(user_id),
                    leak_alerts::token_id.eq(token_id),
                    leak_alerts::found_by.eq(found_by.name()),
                    leak_alerts::url.eq(&url),
                    leak_alerts::source.eq(&source),
                    leak_alerts::created_at.eq(now),
                ))
                .execute(c)
                .await?;
            if let Some(mail) = &mail {
                diesel::insert_into(mail_outbox::table)
                    .values(mail)
                    .on_conflict_do_nothing()
                    .execute(c)
                    .await?;
            }
            Ok::<_, diesel::result::Error>(())
        }
        .await
    })?;
    Ok(())
}

/// An alert not yet dismissed, with its token's name.
#[derive(Clone, Debug)]
pub struct Alert {
    pub id: String,
    pub token_id: TokenId,
    pub token_name: String,
    pub found_by: FoundBy,
    pub at: i64,
}

/// The user's alerts not yet dismissed, newest first.
pub async fn alerts(conn: &mut DbConn, user_id: &UserId) -> AppResult<Vec<Alert>> {
    type Row = (String, TokenId, String, String, Option<String>, Option<String>, i64);
    let rows: Vec<Row> = db_run!(conn, |c| {
        leak_alerts::table
            .inner_join(api_tokens::table)
            .filter(leak_alerts::user_id.eq(user_id))
            .filter(leak_alerts::dismissed_at.is_null())
            .order((leak_alerts::created_at.desc(), leak_alerts::id.desc()))
            .select((
                leak_alerts::id,
                leak_alerts::token_id,
                api_tokens::name,
                leak_alerts::found_by,
                leak_alerts::url,
                leak_alerts::source,
                leak_alerts::created_at,
            ))
            .limit(50)
            .load(c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(id, token_id, token_name, found_by, url, source, at)| Alert {
            id,
            token_id,
            token_name,
            found_by: if found_by == "report" { FoundBy::Report } else { FoundBy::Scanner { url, source } },
            at,
        })
        .collect())
}

/// Dismisses one of the user's alerts.
pub async fn dismiss(conn: &mut DbConn, user_id: &UserId, alert_id: &str) -> AppResult<()> {
    let now = conn.now();
    let dismissed = db_run!(conn, |c| {
        diesel::update(
            leak_alerts::table
                .filter(leak_alerts::id.eq(alert_id))
                .filter(leak_alerts::user_id.eq(user_id))
                .filter(leak_alerts::dismissed_at.is_null()),
        )
        .set(leak_alerts::dismissed_at.eq(now))
        .execute(c)
        .await
    })?;
    if dismissed == 0 {
        return Err(not_found("Alert"));
    }
    Ok(())
}
