//! The role × scope model of design.md, in one place: what each role may do at most, how a
//! token's `scope` narrows it, and the row-level rules (own venues, own athlete data).

use super::{Claims, Role};
use crate::error::ApiError;
use podium_domain::model::Event;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

pub use crate::scope::{Scope, ScopeSet};

/// Rate-limit tiers; their limits are settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Anonymous,
    Free,
    Pro,
    Enterprise,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Anonymous, Tier::Free, Tier::Pro, Tier::Enterprise];

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|tier| tier.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Anonymous => "anonymous",
            Tier::Free => "free",
            Tier::Pro => "pro",
            Tier::Enterprise => "enterprise",
        }
    }
}

/// The most a role may do; a token's `scope` can only narrow it. `None` is anonymous.
pub fn role_scopes(role: Option<Role>) -> &'static [Scope] {
    use Scope::*;
    match role {
        None => &[ResultsRead, LiveSubscribe],
        Some(Role::Athlete) => &[
            ResultsRead,
            LiveSubscribe,
            AnalyticsRead,
            TrainingRead,
            TrainingWrite,
        ],
        Some(Role::Coach) => &[ResultsRead, LiveSubscribe, AnalyticsRead, TrainingRead],
        Some(Role::VenueOperator) => &[
            ResultsRead,
            LiveSubscribe,
            TimingWrite,
            EventsManage,
            WebhooksManage,
        ],
        Some(Role::Admin) | Some(Role::Integration) => &Scope::ALL,
    }
}

/// Who is calling: anonymous, or the holder of a valid token, with the scopes in force.
/// Cheap to clone: every subscription holds one.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub claims: Option<Arc<Claims>>,
    scopes: ScopeSet,
}

impl Default for Principal {
    fn default() -> Self {
        Self::anonymous()
    }
}

impl Principal {
    pub fn anonymous() -> Self {
        Self {
            claims: None,
            scopes: role_scopes(None).iter().copied().collect(),
        }
    }

    /// The role's permissions narrowed by the token's `scope` (unknown scopes grant nothing).
    /// An integration without `scope` may do nothing.
    pub fn from_claims(claims: Claims) -> Self {
        let allowed = role_scopes(Some(claims.role));
        let scopes = match (&claims.scope, claims.role) {
            (Some(list), _) => list
                .split_ascii_whitespace()
                .filter_map(Scope::parse)
                .filter(|s| allowed.contains(s))
                .collect(),
            (None, Role::Integration) => ScopeSet::default(),
            (None, _) => allowed.iter().copied().collect(),
        };
        Self {
            claims: Some(Arc::new(claims)),
            scopes,
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.claims.as_ref().map(|c| c.role)
    }

    pub fn scopes(&self) -> ScopeSet {
        self.scopes
    }

    /// The token's subject, or `anonymous`.
    pub fn subject(&self) -> &str {
        self.claims.as_ref().map_or("anonymous", |c| c.sub.as_str())
    }

    pub fn athlete_id(&self) -> Option<Uuid> {
        self.claims.as_ref().and_then(|c| c.athlete_id)
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    /// What decides what this viewer may see and do, without who they are: the role, the
    /// scopes, the own athlete and venues. Viewers with the same visibility get the same
    /// answer to the same operation (live subscriptions share their execution by it).
    pub fn visibility(&self) -> String {
        let scopes = self.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>();
        match &self.claims {
            None => format!("anonymous {}", scopes.join(" ")),
            Some(c) => format!(
                "{} {} athlete={:?} venues={:?}",
                c.role.as_str(),
                scopes.join(" "),
                c.athlete_id,
                c.venue_ids
            ),
        }
    }

    /// The rate-limit tier: an API client's own, else by role.
    pub fn tier(&self) -> Tier {
        match &self.claims {
            None => Tier::Anonymous,
            Some(c) => c.tier.unwrap_or(match c.role {
                Role::Athlete | Role::Coach | Role::Integration => Tier::Free,
                Role::VenueOperator => Tier::Pro,
                Role::Admin => Tier::Enterprise,
            }),
        }
    }

    /// The key rate limits are counted under: the client or subject of a token, else the
    /// caller's address.
    pub fn limit_key(&self, peer: Option<std::net::IpAddr>) -> String {
        match &self.claims {
            Some(c) => match &c.client_id {
                Some(client) => format!("client:{client}"),
                None => format!("sub:{}:{}", c.iss, c.sub),
            },
            None => peer.map_or_else(|| "ip:unknown".to_owned(), |ip| format!("ip:{ip}")),
        }
    }

    /// Passes when the scope is in force; otherwise 401 for anonymous callers, 403
    /// `insufficient_scope` naming the scope for token holders.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(scope) {
            return Ok(());
        }
        match self.claims {
            None => Err(ApiError::Unauthenticated(format!(
                "this operation needs a bearer token with scope `{scope}`"
            ))),
            Some(_) => Err(ApiError::InsufficientScope(scope)),
        }
    }

    /// `scope` at a venue: venue operators at their own venues, integrations at the venue
    /// they are bound to (if any), admins everywhere.
    pub fn require_at_venue(&self, scope: Scope, venue_id: Option<Uuid>) -> Result<(), ApiError> {
        self.require(scope)?;
        let Some(c) = &self.claims else {
            return Err(ApiError::Unauthenticated(
                "this operation needs a bearer token".into(),
            ));
        };
        let bound = match c.role {
            Role::Admin => return Ok(()),
            Role::Integration if c.venue_ids.is_empty() => return Ok(()),
            Role::Integration | Role::VenueOperator => &c.venue_ids,
            role => {
                return Err(ApiError::Forbidden(format!(
                    "role {} may not manage events",
                    role.as_str()
                )))
            }
        };
        match venue_id {
            Some(v) if bound.contains(&v) => Ok(()),
            Some(v) => Err(ApiError::Forbidden(format!(
                "venue {v} is not one of your venues"
            ))),
            None => Err(ApiError::Forbidden(
                "only admins manage events without a venue".into(),
            )),
        }
    }

    /// Entries, lifecycle and corrections of an event: `events:manage` at its venue.
    pub fn may_manage_event(&self, event: &Event) -> Result<(), ApiError> {
        self.require_at_venue(Scope::EventsManage, event.venue_id)
    }

    /// Raw detections of an event: `timing:write` at its venue.
    pub fn may_write_timing(&self, event: &Event) -> Result<(), ApiError> {
        self.require_at_venue(Scope::TimingWrite, event.venue_id)
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role() {
            None => Err(ApiError::Unauthenticated(
                "this operation needs a bearer token".into(),
            )),
            Some(Role::Admin) => Ok(()),
            Some(_) => Err(ApiError::Forbidden("only admins may do this".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::dev_claims;

    fn with(role: Role, scope: Option<&str>, venues: Vec<Uuid>) -> Principal {
        let mut claims = dev_claims(role, None, venues, None);
        claims.scope = scope.map(str::to_owned);
        Principal::from_claims(claims)
    }

    #[test]
    fn scopes_narrow_a_role_and_never_widen_it() {
        let athlete = with(Role::Athlete, Some("results:read timing:write"), vec![]);
        assert!(athlete.require(Scope::ResultsRead).is_ok());
        assert!(matches!(
            athlete.require(Scope::TimingWrite),
            Err(ApiError::InsufficientScope(Scope::TimingWrite))
        ));
        let integration = with(Role::Integration, None, vec![]);
        assert!(integration.scopes().is_empty());
        let reader = with(Role::Integration, Some("results:read bogus"), vec![]);
        assert_eq!(reader.scopes().len(), 1);
        assert!(matches!(
            Principal::anonymous().require(Scope::TimingWrite),
            Err(ApiError::Unauthenticated(_))
        ));
    }

    #[test]
    fn venue_rules_bind_operators_and_bound_integrations() {
        let mine = Uuid::new_v4();
        let other = Some(Uuid::new_v4());
        let operator = with(Role::VenueOperator, None, vec![mine]);
        assert!(operator
            .require_at_venue(Scope::TimingWrite, Some(mine))
            .is_ok());
        assert!(matches!(
            operator.require_at_venue(Scope::TimingWrite, other),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            operator.require_at_venue(Scope::TimingWrite, None),
            Err(ApiError::Forbidden(_))
        ));
        let bound = with(Role::Integration, Some("timing:write"), vec![mine]);
        assert!(bound
            .require_at_venue(Scope::TimingWrite, Some(mine))
            .is_ok());
        assert!(bound.require_at_venue(Scope::TimingWrite, other).is_err());
        let org_wide = with(Role::Integration, Some("timing:write"), vec![]);
        assert!(org_wide.require_at_venue(Scope::TimingWrite, other).is_ok());
        let coach = with(Role::Coach, None, vec![]);
        assert!(matches!(
            coach.require_at_venue(Scope::ResultsRead, Some(mine)),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn tiers_follow_the_client_then_the_role() {
        assert_eq!(Principal::anonymous().tier(), Tier::Anonymous);
        assert_eq!(with(Role::Admin, None, vec![]).tier(), Tier::Enterprise);
        let mut claims = dev_claims(Role::Integration, None, vec![], None);
        claims.tier = Some(Tier::Pro);
        assert_eq!(Principal::from_claims(claims).tier(), Tier::Pro);
        for tier in Tier::ALL {
            assert_eq!(Tier::parse(tier.as_str()), Some(tier));
        }
        assert_eq!(Tier::parse("platinum"), None);
    }
}
