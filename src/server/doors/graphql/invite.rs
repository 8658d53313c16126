//! Invitations (SPEC §10) in both vocabularies: `PendingStreamCollaborator`, the stream era's
//! `streamInvite*` fields and the project era's `projectInvite` and
//! `projectMutations.invites`, all over one domain ([`invites`]). The scopes are Speckle's:
//! `users:invite` to invite and cancel, what the schema asks of the invitee to answer.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::{
    caller, charge_read, db, limits, request, require, to_api, writer_who_reads, LimitedUser, Project,
};
use crate::rules::error::bad_input;
use crate::rules::scopes::Scope;
use crate::server::db::{models, StreamId, UserId};
use crate::server::domain::invites::{self, InviteInput, Invitee, MailTo, Pending, MAX_PENDING_LISTED};
use crate::server::domain::streams::{require_owner, Role};

/// A pending invitation to a stream.
#[derive(SimpleObject)]
pub struct PendingStreamCollaborator {
    pub(super) id: String,
    pub(super) invite_id: String,
    pub(super) project_id: String,
    pub(super) project_name: String,
    pub(super) stream_id: String,
    pub(super) stream_name: String,
    /// The invited address, or the invited user's name.
    pub(super) title: String,
    pub(super) role: String,
    pub(super) invited_by: LimitedUser,
    /// The invited user, if they have an account.
    pub(super) user: Option<LimitedUser>,
    /// What answers the invitation (`streamInviteUse`, `invites.use`): only the invitee's.
    pub(super) token: Option<String>,
}

impl PendingStreamCollaborator {
    /// The invitation as `viewer` sees it: its token only if it is theirs.
    fn of(invite: Pending, viewer: Option<&UserId>) -> PendingStreamCollaborator {
        let theirs = invite.invitee.as_ref().is_some_and(|user| Some(&user.id) == viewer);
        PendingStreamCollaborator {
            title: invite.title().to_owned(),
            token: theirs.then(|| invite.id.clone()),
            invite_id: invite.id.clone(),
            id: invite.id,
            project_id: invite.stream_id.to_string(),
            stream_id: invite.stream_id.to_string(),
            project_name: invite.stream_name.clone(),
            stream_name: invite.stream_name,
            role: invite.role,
            invited_by: LimitedUser::new(invite.inviter),
            user: invite.invitee.map(LimitedUser::new),
        }
    }

    fn list(invites: Vec<Pending>, viewer: Option<&UserId>) -> Vec<PendingStreamCollaborator> {
        invites.into_iter().map(|invite| PendingStreamCollaborator::of(invite, viewer)).collect()
    }
}

/// A stream's pending invitations: for its owners only (they name the invited addresses),
/// as Speckle's `pendingCollaborators` asks.
pub(super) async fn invited(
    ctx: &Context<'_>,
    stream: &models::Stream,
    role: Option<Role>,
) -> async_graphql::Result<Vec<PendingStreamCollaborator>> {
    let caller = caller(ctx)?;
    require_owner(role, "see who is invited").map_err(to_api)?;
    let pending = invites::pending_for_stream(&mut *db(ctx).await?, &stream.id).await.map_err(to_api)?;
    charge_read(ctx, pending.iter().map(pending_bytes).sum())?;
    Ok(PendingStreamCollaborator::list(pending, Some(&caller.user_id)))
}

/// What an invitation read to answer weighs.
fn pending_bytes(invite: &Pending) -> usize {
    limits::row_bytes([
        Some(invite.stream_name.as_str()),
        invite.email.as_deref(),
        Some(&invite.inviter.name),
    ])
}

/// The token's user's pending invitations (`streams:read`).
pub(super) async fn mine(ctx: &Context<'_>) -> async_graphql::Result<Vec<PendingStreamCollaborator>> {
    let caller = require(ctx, Scope::StreamsRead)?;
    let pending = invites::pending_for_user(&mut *db(ctx).await?, caller.actor()).await.map_err(to_api)?;
    charge_read(ctx, pending.iter().map(pending_bytes).sum())?;
    Ok(PendingStreamCollaborator::list(pending, Some(&caller.user_id)))
}

/// The token's user's invitation to the stream that `token` names, or any of theirs to it
/// (`profile:read`, as Speckle asks).
async fn one_of_mine(
    ctx: &Context<'_>,
    stream_id: String,
    token: Option<String>,
) -> async_graphql::Result<Option<PendingStreamCollaborator>> {
    let caller = require(ctx, Scope::ProfileRead)?;
    let found =
        invites::find_for_user(&mut *db(ctx).await?, caller.actor(), &stream_id.into(), token.as_deref())
            .await
            .map_err(to_api)?;
    Ok(found.map(|invite| PendingStreamCollaborator::of(invite, Some(&caller.user_id))))
}

/// What a client sends to invite someone, in either era.
struct Invitation {
    email: Option<String>,
    user_id: Option<String>,
    role: Option<String>,
    message: Option<String>,
}

impl Invitation {
    /// The domain's input: a user id if given, else the email; the role if given.
    fn input(self) -> async_graphql::Result<InviteInput> {
        let invitee = match (self.user_id.filter(|id| !id.trim().is_empty()), self.email) {
            (Some(user_id), _) => Invitee::User(user_id.trim().into()),
            (None, Some(email)) if !email.trim().is_empty() => Invitee::Email(email),
            _ => return Err(to_api(bad_input("Give the email or the userId of whom to invite."))),
        };
        let role = self.role.map(|role| Role::parse(&role)).transpose().map_err(to_api)?;
        Ok(InviteInput { invitee, role, message: self.message })
    }
}

/// Sends invitations to the stream (its owners, with `users:invite`), all or none;
/// invitations to addresses are mailed when the server sends mail.
async fn invite(
    ctx: &Context<'_>,
    stream_id: &StreamId,
    invitations: Vec<Invitation>,
) -> async_graphql::Result<()> {
    let caller = require(ctx, Scope::UsersInvite)?;
    let inputs = invitations.into_iter().map(Invitation::input).collect::<async_graphql::Result<Vec<_>>>()?;
    let mailer = request(ctx)?.mailer.clone();
    let mail = mailer.as_ref().map(|mailer| MailTo { public_url: mailer.public_url() });
    invites::create(&mut *db(ctx).await?, caller.actor(), stream_id, inputs, mail).await.map_err(to_api)?;
    if let Some(mailer) = &mailer {
        mailer.send_soon(&request(ctx)?.db);
    }
    Ok(())
}

async fn cancel(ctx: &Context<'_>, stream_id: &StreamId, invite_id: &str) -> async_graphql::Result<()> {
    let caller = require(ctx, Scope::UsersInvite)?;
    invites::cancel(&mut *db(ctx).await?, caller.actor(), stream_id, invite_id).await.map_err(to_api)
}

async fn answer(
    ctx: &Context<'_>,
    stream_id: &StreamId,
    token: &str,
    accept: bool,
) -> async_graphql::Result<bool> {
    let caller = caller(ctx)?;
    invites::answer(&mut *db(ctx).await?, caller.actor(), stream_id, token, accept).await.map_err(to_api)?;
    Ok(true)
}

#[derive(InputObject)]
pub struct StreamInviteCreateInput {
    pub(super) email: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) stream_id: String,
    pub(super) message: Option<String>,
    /// `stream:contributor` when not given.
    pub(super) role: Option<String>,
    /// Server roles are not a feature here: accepted and ignored.
    pub(super) server_role: Option<String>,
}

impl StreamInviteCreateInput {
    fn split(self) -> (StreamId, Invitation) {
        let _ = self.server_role;
        let invitation =
            Invitation { email: self.email, user_id: self.user_id, role: self.role, message: self.message };
        (self.stream_id.into(), invitation)
    }
}

#[derive(InputObject)]
pub struct ProjectInviteCreateInput {
    /// This or `userId`.
    pub(super) email: Option<String>,
    /// This or `email`.
    pub(super) user_id: Option<String>,
    /// `stream:contributor` when not given.
    pub(super) role: Option<String>,
    /// Server roles are not a feature here: accepted and ignored.
    pub(super) server_role: Option<String>,
}

impl From<ProjectInviteCreateInput> for Invitation {
    fn from(input: ProjectInviteCreateInput) -> Invitation {
        let _ = input.server_role;
        Invitation { email: input.email, user_id: input.user_id, role: input.role, message: None }
    }
}

#[derive(InputObject)]
pub struct ProjectInviteUseInput {
    pub(super) project_id: ID,
    pub(super) token: String,
    pub(super) accept: bool,
}

/// The root query's invitation fields.
#[derive(Default)]
pub struct InviteQuery;

#[Object]
impl InviteQuery {
    /// The token's user's invitations to streams (`streams:read`).
    #[graphql(complexity = "limits::at_most(MAX_PENDING_LISTED as usize, child_complexity)")]
    async fn stream_invites(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PendingStreamCollaborator>> {
        mine(ctx).await
    }

    /// The token's user's invitation to this stream (`profile:read`).
    async fn stream_invite(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        token: Option<String>,
    ) -> async_graphql::Result<Option<PendingStreamCollaborator>> {
        one_of_mine(ctx, stream_id, token).await
    }

    /// The token's user's invitation to this project (`profile:read`).
    async fn project_invite(
        &self,
        ctx: &Context<'_>,
        project_id: String,
        token: Option<String>,
    ) -> async_graphql::Result<Option<PendingStreamCollaborator>> {
        one_of_mine(ctx, project_id, token).await
    }
}

/// The root mutation's stream-era invitation fields.
#[derive(Default)]
pub struct InviteMutation;

#[Object]
impl InviteMutation {
    /// Invites a user or an address to a stream (owners; `users:invite`).
    async fn stream_invite_create(
        &self,
        ctx: &Context<'_>,
        input: StreamInviteCreateInput,
    ) -> async_graphql::Result<bool> {
        let (stream_id, invitation) = input.split();
        invite(ctx, &stream_id, vec![invitation]).await?;
        Ok(true)
    }

    /// Sends several invitations to one stream, all or none (owners; `users:invite`).
    async fn stream_invite_batch_create(
        &self,
        ctx: &Context<'_>,
        input: Vec<StreamInviteCreateInput>,
    ) -> async_graphql::Result<bool> {
        let mut invitations = Vec::with_capacity(input.len());
        let mut streams =
            input.into_iter().map(StreamInviteCreateInput::split).map(|(stream_id, invitation)| {
                invitations.push(invitation);
                stream_id
            });
        let Some(stream_id) = streams.next() else {
            return Err(to_api(bad_input("input: give at least one invitation.")));
        };
        if streams.any(|other| other != stream_id) {
            return Err(to_api(bad_input("input: a batch invites people to one stream.")));
        }
        invite(ctx, &stream_id, invitations).await?;
        Ok(true)
    }

    /// Cancels a pending invitation (owners; `users:invite`).
    async fn stream_invite_cancel(
        &self,
        ctx: &Context<'_>,
        stream_id: String,
        invite_id: String,
    ) -> async_graphql::Result<bool> {
        cancel(ctx, &stream_id.into(), &invite_id).await?;
        Ok(true)
    }

    /// Accepts or declines the token's user's invitation (`profile:write`, as Speckle asks).
    async fn stream_invite_use(
        &self,
        ctx: &Context<'_>,
        accept: bool,
        stream_id: String,
        token: String,
    ) -> async_graphql::Result<bool> {
        require(ctx, Scope::ProfileWrite)?;
        answer(ctx, &stream_id.into(), &token, accept).await
    }
}

/// `projectMutations.invites` (under `projectMutations`, so with `streams:write`).
pub struct ProjectInviteMutations;

#[Object]
impl ProjectInviteMutations {
    /// Invites a user or an address to the project (owners; `users:invite`).
    async fn create(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        input: ProjectInviteCreateInput,
    ) -> async_graphql::Result<Project> {
        writer_who_reads(ctx)?;
        let id = StreamId::from(project_id.0);
        invite(ctx, &id, vec![input.into()]).await?;
        Project::readable(ctx, &id).await
    }

    /// Sends several invitations, all or none (owners; `users:invite`).
    async fn batch_create(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        input: Vec<ProjectInviteCreateInput>,
    ) -> async_graphql::Result<Project> {
        writer_who_reads(ctx)?;
        let id = StreamId::from(project_id.0);
        invite(ctx, &id, input.into_iter().map(Invitation::from).collect()).await?;
        Project::readable(ctx, &id).await
    }

    /// Accepts or declines the token's user's invitation.
    #[graphql(name = "use")]
    async fn use_invite(
        &self,
        ctx: &Context<'_>,
        input: ProjectInviteUseInput,
    ) -> async_graphql::Result<bool> {
        answer(ctx, &input.project_id.0.into(), &input.token, input.accept).await
    }

    /// Cancels a pending invitation (owners; `users:invite`).
    async fn cancel(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        invite_id: String,
    ) -> async_graphql::Result<Project> {
        writer_who_reads(ctx)?;
        let id = StreamId::from(project_id.0);
        cancel(ctx, &id, &invite_id).await?;
        Project::readable(ctx, &id).await
    }
}
