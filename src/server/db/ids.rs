//! The ids of our rows, each its own type: a token id cannot be passed where a user id is
//! wanted, and a function's signature says which id it takes. Each is the text the
//! database holds (`DieselNewType` binds and reads it as that text); one from a client
//! (a GraphQL `ID`, a path, a form) becomes one with `From<String>`, and an unknown id is
//! then simply not found.

use diesel_derive_newtype::DieselNewType;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id (see [`super::new_id`]).
            pub fn random() -> Self {
                $name(super::new_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

ids! {
    /// `users.id`.
    UserId;
    /// `api_tokens.id` (also a token's parent, family and the token it replaces).
    TokenId;
    /// `streams.id`.
    StreamId;
    /// `branches.id`.
    BranchId;
    /// `commits.id`.
    CommitId;
    /// `apps.id`: an app's client id (Speckle's `appId`).
    AppId;
    /// `app_grants.id`.
    GrantId;
}
