//! The scopes a personal access token can hold (SPEC §3), shared by the UI and the server.

use serde::{Deserialize, Serialize};

/// One permission a token may carry. Past the API edge scopes are this enum, never strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    StreamsRead,
    StreamsWrite,
    ProfileRead,
    ProfileEmail,
    UsersRead,
    TokensRead,
    TokensWrite,
    /// Added after the first seven, so that the bits of the others stay where they were.
    ProfileWrite,
    UsersInvite,
    /// Apps (SPEC §11), after the others for the same reason.
    AppsRead,
    AppsWrite,
}

impl Scope {
    /// Every scope, in the order the UI lists them.
    pub const ALL: [Scope; 11] = [
        Scope::StreamsRead,
        Scope::StreamsWrite,
        Scope::ProfileRead,
        Scope::ProfileWrite,
        Scope::ProfileEmail,
        Scope::UsersRead,
        Scope::UsersInvite,
        Scope::TokensRead,
        Scope::TokensWrite,
        Scope::AppsRead,
        Scope::AppsWrite,
    ];

    /// The scope's name on the wire and in the UI, e.g. `streams:read`.
    pub const fn name(self) -> &'static str {
        match self {
            Scope::StreamsRead => "streams:read",
            Scope::StreamsWrite => "streams:write",
            Scope::ProfileRead => "profile:read",
            Scope::ProfileWrite => "profile:write",
            Scope::ProfileEmail => "profile:email",
            Scope::UsersRead => "users:read",
            Scope::UsersInvite => "users:invite",
            Scope::TokensRead => "tokens:read",
            Scope::TokensWrite => "tokens:write",
            Scope::AppsRead => "apps:read",
            Scope::AppsWrite => "apps:write",
        }
    }

    /// What the scope allows, in the words shown beside its checkbox.
    pub fn description(self) -> &'static str {
        match self {
            Scope::StreamsRead => {
                "Read the streams you can access, with their commits and collaborators."
            }
            Scope::StreamsWrite => {
                "Create, update and delete streams, share them with other users, and create commits."
            }
            Scope::ProfileRead => "Read your profile.",
            Scope::ProfileWrite => "Update your name, bio, company and avatar.",
            Scope::ProfileEmail => "Read your email address.",
            Scope::UsersRead => "Read other users' public profiles.",
            Scope::UsersInvite => "Invite others to your projects.",
            Scope::TokensRead => "List your access tokens.",
            Scope::TokensWrite => {
                "Create and revoke your access tokens. A token with this scope can mint new tokens: give it only to code you trust as much as yourself."
            }
            Scope::AppsRead => "See the apps you created or authorized.",
            Scope::AppsWrite => "Register apps, and revoke the access of apps you authorized.",
        }
    }

    /// Parses a scope name; `None` for anything that is not one.
    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.name() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

/// A set of scopes, small enough to copy and check on every request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScopeSet(u16);

impl ScopeSet {
    /// The set of one scope.
    pub fn of(scope: Scope) -> ScopeSet {
        ScopeSet(scope.bit())
    }

    /// Its bits, for a counter kept in memory (what a token used, SPEC §12).
    pub fn bits(self) -> u16 {
        self.0
    }

    /// The scopes of these bits; a bit of no scope is left out.
    pub fn from_bits(bits: u16) -> ScopeSet {
        Scope::ALL.into_iter().filter(|scope| bits & scope.bit() != 0).fold(
            ScopeSet::default(),
            |mut set, scope| {
                set.insert(scope);
                set
            },
        )
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in either set.
    pub fn union(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 | other.0)
    }

    /// The scopes in both sets.
    pub fn intersection(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }

    /// The scopes of this set that `other` lacks.
    pub fn without(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & !other.0)
    }

    /// Whether every scope of this set is in `other`.
    pub fn is_within(self, other: ScopeSet) -> bool {
        self.without(other).is_empty()
    }

    /// The scopes in the set, in the order of [`Scope::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |scope| self.contains(*scope))
    }

    /// The names, space-separated: how the set is stored in the database.
    pub fn to_names(self) -> String {
        self.iter().map(Scope::name).collect::<Vec<_>>().join(" ")
    }

    /// Parses space-separated scope names; the first unknown name is the error.
    pub fn from_names(names: &str) -> Result<ScopeSet, String> {
        names.split_whitespace().map(str::to_owned).collect::<Vec<_>>().try_into()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::default();
        for scope in iter {
            set.insert(scope);
        }
        set
    }
}

impl TryFrom<Vec<String>> for ScopeSet {
    type Error = String;

    /// Parses scope names as a client sends them; the error is the first unknown name.
    fn try_from(names: Vec<String>) -> Result<Self, Self::Error> {
        names.iter().map(|name| Scope::from_name(name.trim()).ok_or_else(|| name.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::from_name(scope.name()), Some(scope));
        }
        let set: ScopeSet = [Scope::ProfileRead, Scope::StreamsRead].into_iter().collect();
        assert_eq!(set.to_names(), "streams:read profile:read");
        assert_eq!(ScopeSet::from_names(&set.to_names()), Ok(set));
        assert_eq!(ScopeSet::from_names("streams:read nope"), Err("nope".to_owned()));
    }
}
