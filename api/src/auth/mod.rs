//! Who is calling and what they may do.
//!
//! Access tokens are JWTs (RFC 9068 `at+jwt`) signed with an asymmetric key: podium's
//! development key (`podium token`, development only), podium's own authorization-server keys
//! (client credentials, `/oauth/token`) or an external identity provider's JWKS. [`verify`]
//! checks them; [`policy`] says what a [`Principal`] may do.

mod keys;
pub mod policy;
mod remote;
pub mod sealing;
mod verify;

pub use keys::SigningKey;
pub use policy::{Scope, Tier};
pub use remote::RemoteJwks;
pub use verify::{Authenticator, OwnKeys, TokenError, LEEWAY_SECS};

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[clap(rename_all = "snake_case")]
pub enum Role {
    Athlete,
    Coach,
    VenueOperator,
    Admin,
    Integration,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Athlete => "athlete",
            Role::Coach => "coach",
            Role::VenueOperator => "venue_operator",
            Role::Admin => "admin",
            Role::Integration => "integration",
        }
    }
}

fn integration() -> Role {
    Role::Integration
}

/// The claims podium reads from an access token. A token without `role` is an integration's:
/// its `scope` is all it may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// One audience or several (RFC 7519 §4.1.3).
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub sub: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    #[serde(default = "integration")]
    pub role: Role,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub venue_ids: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athlete_id: Option<Uuid>,
    /// Space-separated scopes (RFC 8693 §4.2); absent: the role's full permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Rate-limit tier of an API client; others get their role's tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(a) => a,
    })
}

/// Claims for a development token of `role`.
pub fn dev_claims(
    role: Role,
    subject: Option<String>,
    venue_ids: Vec<Uuid>,
    athlete_id: Option<Uuid>,
) -> Claims {
    Claims {
        iss: String::new(),
        aud: Vec::new(),
        sub: subject.unwrap_or_else(|| format!("dev-{}", role.as_str())),
        exp: 0,
        iat: 0,
        role,
        venue_ids,
        athlete_id,
        scope: None,
        client_id: None,
        tier: None,
        jti: None,
    }
}

pub use policy::Principal;
