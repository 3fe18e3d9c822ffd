//! Who may do what: the roles, and who is asking. Shared by the server (which decides) and the
//! pages (which show the signed-in user and leave out what their role may not do).

use serde::{Deserialize, Serialize};

/// What a person or token may do. Ordered: each role may do everything the roles before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads every page and figure; personal data is masked.
    Viewer,
    /// Also saves funnels, edits journeys, rules and webhooks; sees personal data.
    Analyst,
    /// Also manages users, sources and write keys, tokens, dead-letter replay and erasure.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Analyst, Role::Admin];

    /// The role's name as written in commands, the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// True when this role may do what `needed` may.
    pub fn includes(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a role; use viewer, analyst or admin")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == text.trim()).ok_or_else(|| UnknownRole(text.to_string()))
    }
}

/// How the one asking proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Credential {
    /// A signed-in person's session cookie.
    Session,
    /// An API token sent as `Authorization: Bearer …`.
    Token,
}

/// Who is asking: a signed-in user (by email) or an API token (by name), with their role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub via: Credential,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse_from_their_names() {
        assert!(Role::Admin.includes(Role::Analyst) && Role::Analyst.includes(Role::Viewer));
        assert!(!Role::Viewer.includes(Role::Analyst) && !Role::Analyst.includes(Role::Admin));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        let refused = "owner".parse::<Role>().unwrap_err();
        assert!(refused.to_string().contains("use viewer, analyst or admin"), "{refused}");
    }
}
