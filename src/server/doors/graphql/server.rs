//! The server: `serverInfo` (scopes, roles, configuration) and `apps`.

use async_graphql::{Object, SimpleObject};

use crate::rules::scopes::Scope;
use crate::server::domain::objects;
use crate::server::domain::streams;

/// Every user's role on this server: there are no admins or guests here.
pub(super) const SERVER_ROLE: &str = "server:user";

pub struct ServerInfo;

#[Object]
impl ServerInfo {
    async fn name(&self) -> &str {
        "Speckle Tokens"
    }
    async fn company(&self) -> Option<&str> {
        None
    }
    async fn description(&self) -> Option<&str> {
        Some("A Speckle-style server whose heart is personal access tokens.")
    }
    async fn admin_contact(&self) -> Option<&str> {
        None
    }
    async fn canonical_url(&self) -> Option<&str> {
        None
    }
    async fn terms_of_service(&self) -> Option<&str> {
        None
    }
    /// The version of Speckle's server whose API this one speaks: Speckle's clients enable
    /// their methods by it (specklepy wants at least 2.6.4 for sharing).
    async fn version(&self) -> Option<&str> {
        Some(super::SPECKLE_API_VERSION)
    }
    async fn roles(&self) -> Vec<RoleInfo> {
        let stream_roles = [
            (streams::Role::Owner, "Owners have full access, including deletion rights and access control."),
            (streams::Role::Contributor, "Contributors can create new branches and commits, but cannot edit stream details or manage collaborators."),
            (streams::Role::Reviewer, "Reviewers can only view (read) the data from this stream."),
        ];
        std::iter::once(RoleInfo {
            name: SERVER_ROLE,
            description: "Has normal access to the server.",
            resource_target: "server",
        })
        .chain(stream_roles.into_iter().map(|(role, description)| RoleInfo {
            name: role.name(),
            description,
            resource_target: "streams",
        }))
        .collect()
    }
    async fn scopes(&self) -> Vec<ScopeInfo> {
        Scope::ALL
            .into_iter()
            .map(|scope| ScopeInfo { name: scope.name(), description: scope.description() })
            .collect()
    }
    async fn invite_only(&self) -> Option<bool> {
        Some(false)
    }
    async fn guest_mode_enabled(&self) -> bool {
        false
    }
    async fn server_roles(&self) -> Vec<ServerRoleItem> {
        vec![ServerRoleItem { id: SERVER_ROLE, title: "User" }]
    }
    async fn configuration(&self) -> ServerConfiguration {
        let batch = objects::MAX_BATCH_BYTES as i32;
        ServerConfiguration {
            object_size_limit_bytes: batch,
            object_multipart_upload_size_limit_bytes: batch,
            is_email_enabled: false,
            email_verification_timeout_minutes: 0,
        }
    }
    /// How people sign in: with an email and password, at `/login`.
    async fn auth_strategies(&self) -> Vec<AuthStrategy> {
        vec![AuthStrategy { id: "local", name: "Local", icon: "TODO", url: "/login", color: None }]
    }
    /// Workspaces are not enabled on this server (SPEC §10); today's clients ask before
    /// anything else.
    async fn workspaces(&self) -> ServerWorkspacesInfo {
        ServerWorkspacesInfo { workspaces_enabled: false }
    }
}

#[derive(SimpleObject)]
pub struct ServerWorkspacesInfo {
    /// Whether the workspaces feature set is on: never here.
    pub(super) workspaces_enabled: bool,
}

#[derive(SimpleObject)]
#[graphql(name = "Role")]
pub struct RoleInfo {
    pub(super) name: &'static str,
    pub(super) description: &'static str,
    pub(super) resource_target: &'static str,
}

#[derive(SimpleObject)]
#[graphql(name = "Scope")]
pub struct ScopeInfo {
    pub(super) name: &'static str,
    pub(super) description: &'static str,
}

#[derive(SimpleObject)]
pub struct ServerRoleItem {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
}

#[derive(SimpleObject)]
pub struct ServerConfiguration {
    pub(super) object_size_limit_bytes: i32,
    pub(super) object_multipart_upload_size_limit_bytes: i32,
    pub(super) is_email_enabled: bool,
    pub(super) email_verification_timeout_minutes: i32,
}

#[derive(SimpleObject)]
pub struct AuthStrategy {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) icon: &'static str,
    pub(super) url: &'static str,
    pub(super) color: Option<&'static str>,
}

/// The root query's server fields.
#[derive(Default)]
pub struct ServerQuery;

#[Object]
impl ServerQuery {
    /// This server and the scopes it knows; needs no token.
    async fn server_info(&self) -> ServerInfo {
        ServerInfo
    }
}
