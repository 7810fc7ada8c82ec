//! The OAuth scopes of podium: the vocabulary that tokens grant, the access policy checks and
//! errors name (`ApiError::InsufficientScope`). Its own module so that `auth` and `error` both
//! build on it without importing each other.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The OAuth scopes of podium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "results:read")]
    ResultsRead,
    #[serde(rename = "live:subscribe")]
    LiveSubscribe,
    #[serde(rename = "analytics:read")]
    AnalyticsRead,
    #[serde(rename = "timing:write")]
    TimingWrite,
    #[serde(rename = "events:manage")]
    EventsManage,
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
    /// An athlete's training and wellness data (never public).
    #[serde(rename = "training:read")]
    TrainingRead,
    #[serde(rename = "training:write")]
    TrainingWrite,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::ResultsRead,
        Scope::LiveSubscribe,
        Scope::AnalyticsRead,
        Scope::TimingWrite,
        Scope::EventsManage,
        Scope::WebhooksManage,
        Scope::TrainingRead,
        Scope::TrainingWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ResultsRead => "results:read",
            Scope::LiveSubscribe => "live:subscribe",
            Scope::AnalyticsRead => "analytics:read",
            Scope::TimingWrite => "timing:write",
            Scope::EventsManage => "events:manage",
            Scope::WebhooksManage => "webhooks:manage",
            Scope::TrainingRead => "training:read",
            Scope::TrainingWrite => "training:write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Parses a space-separated scope list; unknown scopes are named in the error.
    pub fn parse_list(list: &str) -> Result<BTreeSet<Scope>, String> {
        list.split_ascii_whitespace()
            .map(|s| Scope::parse(s).ok_or_else(|| format!("unknown scope `{s}`")))
            .collect()
    }

    pub fn render(scopes: &BTreeSet<Scope>) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, one bit each (a principal is cloned into every subscription).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeSet(u8);

impl ScopeSet {
    fn bit(scope: Scope) -> u8 {
        1 << Scope::ALL.iter().position(|s| *s == scope).unwrap_or(0)
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        Scope::ALL.into_iter().filter(|s| self.contains(*s))
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Self {
        ScopeSet(scopes.into_iter().fold(0, |bits, s| bits | Self::bit(s)))
    }
}
