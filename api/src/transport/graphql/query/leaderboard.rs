//! Leaderboards: live standings of an event as a Relay connection.

use crate::app::race;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::{
    category, gender, CategoryGql, GenderGql, LeaderboardConnection, LeaderboardEdge,
    LeaderboardNode, PageInfo,
};
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{Context, Object, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use podium_domain::division::AgeGroup;
use podium_domain::standings::LeaderboardFilter;
use podium_domain::timing::Timestamp;

#[derive(Default)]
pub struct LeaderboardQuery;

const CURSOR_PREFIX: &str = "lb:";
const DEFAULT_PAGE: i32 = 20;

pub(crate) fn encode_cursor(position: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{position}"))
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<usize, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(CURSOR_PREFIX).and_then(|n| n.parse().ok()))
        .ok_or_else(|| {
            ApiError::BadRequest(format!("after: `{cursor}` is not a leaderboard cursor"))
        })
}

#[Object]
impl LeaderboardQuery {
    /// Live standings: finished entries by net time, then entries still racing by the furthest
    /// timing point and the earliest time there; unranked entries (not started, DNF, DNS, DSQ)
    /// last. Ranks are within the filter; equal times share a rank.
    #[allow(clippy::too_many_arguments)]
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn leaderboard(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        category: Option<CategoryGql>,
        gender: Option<GenderGql>,
        #[graphql(desc = "An age group label: 16-24, 25-29, … 65-69, 70+.")] age_group: Option<
            String,
        >,
        #[graphql(
            desc = "Page size, 0 to 500; 20 when omitted.",
            default_with = "Some(20)",
            validator(minimum = 0, maximum = 500)
        )]
        first: Option<i32>,
        after: Option<String>,
        #[graphql(
            desc = "The standings as they stood after this step of the event's change log (what a spectator saw then, what was official before an amendment)."
        )]
        as_of_seq: Option<i64>,
        #[graphql(desc = "The standings as they stood at this instant.")] as_of: Option<
            chrono::DateTime<chrono::Utc>,
        >,
    ) -> GqlResult<LeaderboardConnection> {
        let state = app(ctx);
        let event_id = parse_id("eventId", &event_id)?;
        let age_group = age_group
            .as_deref()
            .map(str::parse::<AgeGroup>)
            .transpose()
            .gql()?;
        let offset = after
            .as_deref()
            .map(decode_cursor)
            .transpose()
            .gql()?
            .map_or(0, |p| p + 1);
        let event = race::load_event(state, event_id).await.gql()?;
        let seq = race::past_seq(state, &event, as_of_seq, as_of.map(Timestamp::from_chrono))
            .await
            .gql()?;
        let standings = race::standings_as_of(state, &event, seq).await.gql()?;
        let filter = LeaderboardFilter {
            category: category.map(self::category),
            gender: gender.map(self::gender),
            age_group,
        };
        let page = standings.leaderboard(filter, offset, first.unwrap_or(DEFAULT_PAGE) as usize);
        let viewer = principal(ctx);
        // Predictions are of the present: none in views of the past.
        let at = (seq >= event.seq).then_some((event.id, seq));
        let edges: Vec<LeaderboardEdge> = page
            .rows
            .iter()
            .map(|(position, rank, row)| LeaderboardEdge {
                cursor: encode_cursor(*position),
                node: LeaderboardNode::new(viewer, &event.course, *rank, row, at),
            })
            .collect();
        Ok(LeaderboardConnection {
            page_info: PageInfo {
                has_next_page: page.has_next,
                has_previous_page: offset > 0,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count: page.total as u64,
            seq,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(super::decode_cursor(&super::encode_cursor(41)).unwrap(), 41);
        assert!(super::decode_cursor("nonsense").is_err());
    }
}
