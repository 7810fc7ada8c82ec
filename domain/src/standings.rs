//! Rankings: competition ranking (1, 2, 2, 4) over rank keys, and an event's standings with
//! the rank of every entry in its division, gender and age group.

use crate::division::{AgeGroup, Category, Gender};
use crate::engine::{EntryStatus, RankKey};
use crate::live::EntryChange;
use crate::timing::Bib;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// Sorts `items` into standings order and gives each its competition rank: equal keys share a
/// rank and the next rank skips (1, 2, 2, 4). Unranked items (`key` is `None`) come last with no
/// rank. Ties and unranked items are ordered by `tiebreak` so the order is total.
pub fn rank_by<T, K: Ord + Copy, B: Ord>(
    items: &[T],
    key: impl Fn(&T) -> Option<K>,
    tiebreak: impl Fn(&T) -> B,
) -> Vec<(usize, Option<u32>)> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (key(&items[a]), key(&items[b]));
        // `None` sorts after every `Some`.
        (ka.is_none(), ka)
            .cmp(&(kb.is_none(), kb))
            .then_with(|| tiebreak(&items[a]).cmp(&tiebreak(&items[b])))
    });
    let mut ranker = CompetitionRanker::default();
    order
        .into_iter()
        .map(|index| (index, ranker.next(key(&items[index]))))
        .collect()
}

/// Gives ranks to items seen in standings order: equal keys share a rank, the next rank
/// skips (1, 2, 2, 4); an item without a key counts as seen but gets no rank.
#[derive(Debug)]
struct CompetitionRanker<K> {
    seen: u32,
    previous: Option<(K, u32)>,
}

impl<K> Default for CompetitionRanker<K> {
    fn default() -> Self {
        Self {
            seen: 0,
            previous: None,
        }
    }
}

impl<K: PartialEq + Copy> CompetitionRanker<K> {
    fn next(&mut self, key: Option<K>) -> Option<u32> {
        self.seen += 1;
        let key = key?;
        match self.previous {
            Some((k, rank)) if k == key => Some(rank),
            _ => {
                self.previous = Some((key, self.seen));
                Some(self.seen)
            }
        }
    }
}

/// One entry as the standings need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandingRow {
    pub entry_id: Uuid,
    pub bib: Bib,
    pub athlete_id: Uuid,
    pub athlete_name: String,
    pub athlete_private: bool,
    pub category: Category,
    pub gender: Gender,
    pub age_group: Option<AgeGroup>,
    pub status: EntryStatus,
    pub last_point: Option<usize>,
    pub elapsed_ms: Option<i64>,
    pub net_time_ms: Option<i64>,
    pub start_from_wave: bool,
    /// Where the entry was timed so far.
    pub profile: crate::live::Profile,
    /// When its wave starts.
    pub wave_start: crate::timing::Timestamp,
}

impl StandingRow {
    pub fn rank_key(&self) -> Option<RankKey> {
        crate::engine::rank_key(
            self.status,
            self.last_point,
            self.elapsed_ms,
            self.net_time_ms,
        )
    }
}

/// An entry's ranks: in its division (category × gender), among all entries of its gender,
/// and in its division's age group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranks {
    pub overall: Option<u32>,
    pub gender: Option<u32>,
    pub age_group: Option<u32>,
}

/// Which entries a leaderboard shows; `None` means all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LeaderboardFilter {
    pub category: Option<Category>,
    pub gender: Option<Gender>,
    pub age_group: Option<AgeGroup>,
}

impl LeaderboardFilter {
    pub fn matches(&self, row: &StandingRow) -> bool {
        self.admits(row.category, row.gender, row.age_group)
    }

    /// Whether an entry of this category, gender and age group is in the filter.
    pub fn admits(&self, category: Category, gender: Gender, age_group: Option<AgeGroup>) -> bool {
        self.category.is_none_or(|c| c == category)
            && self.gender.is_none_or(|g| g == gender)
            && self.age_group.is_none_or(|a| Some(a) == age_group)
    }
}

/// A page of a leaderboard.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderboardPage<'a> {
    /// `(position in the filtered board, rank, row)`.
    pub rows: Vec<(usize, Option<u32>, &'a StandingRow)>,
    pub total: usize,
    pub has_next: bool,
}

/// Which ranking population an entry belongs to, if any.
type GroupOf = dyn Fn(&StandingRow) -> Option<(Category, Option<Gender>, Option<AgeGroup>)>;

/// All entries of one event in standings order, with their ranks.
#[derive(Debug, Clone, Default)]
pub struct EventStandings {
    /// Rows sorted by rank key, then bib.
    rows: Vec<StandingRow>,
    ranks: Vec<Ranks>,
    by_bib: HashMap<Bib, usize>,
}

impl EventStandings {
    pub fn build(rows: Vec<StandingRow>) -> Self {
        let order = rank_by(&rows, StandingRow::rank_key, |r| r.bib.clone());
        let mut slots: Vec<Option<StandingRow>> = rows.into_iter().map(Some).collect();
        let rows: Vec<StandingRow> = order.iter().filter_map(|(i, _)| slots[*i].take()).collect();
        let mut ranks = vec![Ranks::default(); rows.len()];

        let mut assign = |group: &GroupOf, set: &dyn Fn(&mut Ranks, Option<u32>)| {
            let mut rankers: HashMap<_, CompetitionRanker<RankKey>> = HashMap::new();
            for (i, row) in rows.iter().enumerate() {
                let Some(g) = group(row) else { continue };
                let rank = rankers.entry(g).or_default().next(row.rank_key());
                set(&mut ranks[i], rank);
            }
        };
        assign(&|r| Some((r.category, Some(r.gender), None)), &|k, v| {
            k.overall = v
        });
        // Gender ranks span categories; the category slot is fixed so the key only varies by gender.
        assign(
            &|r| Some((Category::Open, Some(r.gender), None)),
            &|k, v| k.gender = v,
        );
        assign(
            &|r| r.age_group.map(|a| (r.category, Some(r.gender), Some(a))),
            &|k, v| k.age_group = v,
        );

        let by_bib = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.bib.clone(), i))
            .collect();
        Self {
            rows,
            ranks,
            by_bib,
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> &[StandingRow] {
        &self.rows
    }

    pub fn entry(&self, bib: &Bib) -> Option<(&StandingRow, Ranks)> {
        self.by_bib
            .get(bib)
            .map(|&i| (&self.rows[i], self.ranks[i]))
    }

    /// The filtered leaderboard from position `offset`, at most `limit` rows. Ranks are within
    /// the filtered population (the leaderboard's own ranking), competition style.
    pub fn leaderboard(
        &self,
        filter: LeaderboardFilter,
        offset: usize,
        limit: usize,
    ) -> LeaderboardPage<'_> {
        let mut rows = Vec::with_capacity(limit.min(256));
        let mut total = 0usize;
        let mut ranker = CompetitionRanker::default();
        for row in self.rows.iter().filter(|r| filter.matches(r)) {
            let position = total;
            total += 1;
            let rank = ranker.next(row.rank_key());
            if position >= offset && rows.len() < limit {
                rows.push((position, rank, row));
            }
        }
        let has_next = offset + rows.len() < total;
        LeaderboardPage {
            rows,
            total,
            has_next,
        }
    }

    /// These standings after `changes` (entries' new live state), without going back to the
    /// store; `None` when a changed entry is not in them (it was just added).
    pub fn apply(&self, changes: &[EntryChange]) -> Option<EventStandings> {
        let mut rows = self.rows.clone();
        for change in changes {
            let row = &mut rows[*self.by_bib.get(&change.bib)?];
            row.status = change.status;
            row.last_point = change.last_point;
            row.elapsed_ms = change.elapsed_ms;
            row.net_time_ms = change.net_time_ms;
            row.start_from_wave = change.start_from_wave;
            if let Some(profile) = &change.profile {
                row.profile.clone_from(profile);
            }
            if let Some(private) = change.athlete_private {
                row.athlete_private = private;
            }
            if let Some(name) = &change.athlete_name {
                row.athlete_name.clone_from(name);
            }
            if let Some(athlete) = change.athlete_id {
                row.athlete_id = athlete;
            }
        }
        Some(EventStandings::build(rows))
    }

    /// The standings as they stood after step `seq` of the change log: each entry in the state
    /// of the last step at or before `seq` that changed it; entries no such step mentions (not
    /// yet registered then) are left out. `current` gives who the entries are: names and
    /// privacy are today's, so a private or erased athlete stays so in the past too.
    /// `changes` are the log's steps in `seq` order; later ones are ignored.
    pub fn as_of<'a>(
        current: Vec<StandingRow>,
        changes: impl IntoIterator<Item = &'a crate::live::EventChange>,
        seq: i64,
    ) -> EventStandings {
        let mut state: HashMap<&Bib, &EntryChange> = HashMap::new();
        for change in changes.into_iter().take_while(|c| c.seq <= seq) {
            for entry in &change.entries {
                state.insert(&entry.bib, entry);
            }
        }
        let rows = current
            .into_iter()
            .filter_map(|mut row| {
                let then = state.remove(&row.bib)?;
                row.status = then.status;
                row.last_point = then.last_point;
                row.elapsed_ms = then.elapsed_ms;
                row.net_time_ms = then.net_time_ms;
                row.start_from_wave = then.start_from_wave;
                if let Some(profile) = &then.profile {
                    row.profile.clone_from(profile);
                }
                Some(row)
            })
            .collect();
        EventStandings::build(rows)
    }

    /// The rows of the filtered leaderboard that `wanted` picks, in leaderboard order, with
    /// their rank within the filter: what a live delta sends for the entries that changed.
    pub fn ranked_rows(
        &self,
        filter: LeaderboardFilter,
        wanted: impl Fn(&StandingRow) -> bool,
    ) -> Vec<(Option<u32>, &StandingRow)> {
        let mut ranker = CompetitionRanker::default();
        self.rows
            .iter()
            .filter(|r| filter.matches(r))
            .filter_map(|row| {
                let rank = ranker.next(row.rank_key());
                wanted(row).then_some((rank, row))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EntryStatus::*;

    fn row(
        bib: &str,
        gender: Gender,
        status: EntryStatus,
        point: Option<usize>,
        elapsed: Option<i64>,
        net: Option<i64>,
    ) -> StandingRow {
        StandingRow {
            entry_id: Uuid::new_v4(),
            bib: Bib::parse(bib).unwrap(),
            athlete_id: Uuid::new_v4(),
            athlete_name: format!("Athlete {bib}"),
            athlete_private: false,
            category: Category::Open,
            gender,
            age_group: AgeGroup::for_age(30),
            status,
            last_point: point,
            elapsed_ms: elapsed,
            net_time_ms: net,
            start_from_wave: false,
            profile: Default::default(),
            wave_start: crate::timing::Timestamp(0),
        }
    }

    #[test]
    fn a_tie_on_time_shares_the_rank() {
        let times = [10, 20, 20, 30];
        let ranked = rank_by(&times, |t| Some(*t), |t| *t);
        let ranks: Vec<_> = ranked.iter().map(|(_, r)| r.unwrap()).collect();
        assert_eq!(ranks, [1, 2, 2, 4]);
    }

    #[test]
    fn unranked_entries_come_last_without_a_rank() {
        let items = [Some(5), None, Some(1)];
        let ranked = rank_by(&items, |t| *t, |_| 0);
        assert_eq!(ranked, vec![(2, Some(1)), (0, Some(2)), (1, None)]);
    }

    #[test]
    fn standings_put_finished_first_then_racing_by_progress_and_leave_dnf_unranked() {
        let standings = EventStandings::build(vec![
            row("1", Gender::Men, Racing, Some(10), Some(1_000), None),
            row(
                "2",
                Gender::Men,
                Finished,
                Some(24),
                Some(4_000),
                Some(4_000),
            ),
            row("3", Gender::Men, Dnf, Some(12), Some(900), None),
            row("4", Gender::Men, Racing, Some(12), Some(2_000), None),
            row(
                "5",
                Gender::Men,
                Finished,
                Some(24),
                Some(3_000),
                Some(3_000),
            ),
            row("6", Gender::Men, Registered, None, None, None),
        ]);
        let page = standings.leaderboard(LeaderboardFilter::default(), 0, 10);
        let order: Vec<_> = page
            .rows
            .iter()
            .map(|(_, r, row)| (row.bib.as_str(), *r))
            .collect();
        assert_eq!(
            order,
            [
                ("5", Some(1)),
                ("2", Some(2)),
                ("4", Some(3)),
                ("1", Some(4)),
                ("3", None),
                ("6", None)
            ]
        );
        assert_eq!(page.total, 6);
        assert!(!page.has_next);
    }

    #[test]
    fn filtered_leaderboards_rank_within_the_filter_and_page() {
        let standings = EventStandings::build(vec![
            row("1", Gender::Men, Finished, Some(24), None, Some(100)),
            row("2", Gender::Women, Finished, Some(24), None, Some(200)),
            row("3", Gender::Women, Finished, Some(24), None, Some(300)),
            row("4", Gender::Women, Finished, Some(24), None, Some(300)),
        ]);
        let women = LeaderboardFilter {
            gender: Some(Gender::Women),
            ..Default::default()
        };
        let page = standings.leaderboard(women, 1, 1);
        assert_eq!(page.total, 3);
        assert_eq!(page.rows.len(), 1);
        assert_eq!(page.rows[0].1, Some(2));
        assert_eq!(page.rows[0].2.bib.as_str(), "3");
        assert!(page.has_next);
        let (_, ranks) = standings.entry(&Bib::parse("4").unwrap()).unwrap();
        assert_eq!(
            ranks,
            Ranks {
                overall: Some(2),
                gender: Some(2),
                age_group: Some(2)
            }
        );
    }

    #[test]
    fn ranked_rows_pick_rows_with_their_rank_within_the_filter() {
        let standings = EventStandings::build(vec![
            row("1", Gender::Men, Finished, Some(24), None, Some(100)),
            row("2", Gender::Women, Finished, Some(24), None, Some(200)),
            row("3", Gender::Women, Finished, Some(24), None, Some(300)),
            row("4", Gender::Women, Finished, Some(24), None, Some(300)),
        ]);
        let women = LeaderboardFilter {
            gender: Some(Gender::Women),
            ..Default::default()
        };
        let picked: Vec<_> = standings
            .ranked_rows(women, |r| ["1", "4"].contains(&r.bib.as_str()))
            .into_iter()
            .map(|(rank, row)| (rank, row.bib.as_str().to_owned()))
            .collect();
        // Bib 1 is a man (outside the filter); bib 4 ties with bib 3 for second.
        assert_eq!(picked, vec![(Some(2), "4".to_owned())]);
        let full = standings.leaderboard(women, 0, usize::MAX);
        let everyone = standings.ranked_rows(women, |_| true);
        assert_eq!(everyone.len(), full.total);
        assert!(everyone
            .iter()
            .zip(&full.rows)
            .all(|((rank, row), (_, r, frow))| rank == r && row.bib == frow.bib));
    }

    #[test]
    fn applying_changes_equals_building_from_the_changed_rows() {
        let rows = vec![
            row("1", Gender::Men, Finished, Some(24), None, Some(100)),
            row("2", Gender::Men, Racing, Some(10), Some(50), None),
            row("3", Gender::Men, Racing, Some(12), Some(60), None),
        ];
        let before = EventStandings::build(rows.clone());
        let change = EntryChange {
            athlete_id: None,
            entry_id: rows[1].entry_id,
            bib: Bib::parse("2").unwrap(),
            status: Finished,
            last_point: Some(24),
            elapsed_ms: Some(90),
            net_time_ms: Some(90),
            penalty_ms: 0,
            open_flags: 0,
            start_from_wave: true,
            athlete_private: Some(true),
            athlete_name: Some("Erased".into()),
            profile: Some(crate::live::Profile {
                start_ms: 1_000,
                passed: vec![(0, 0), (24, 90)],
            }),
        };
        let applied = before.apply(std::slice::from_ref(&change)).unwrap();
        let mut changed = rows;
        changed[1].status = Finished;
        changed[1].last_point = Some(24);
        changed[1].elapsed_ms = Some(90);
        changed[1].net_time_ms = Some(90);
        changed[1].start_from_wave = true;
        changed[1].athlete_private = true;
        changed[1].athlete_name = "Erased".into();
        changed[1].profile = change.profile.clone().unwrap();
        let rebuilt = EventStandings::build(changed);
        assert_eq!(applied.rows(), rebuilt.rows());
        let two = Bib::parse("2").unwrap();
        assert_eq!(applied.entry(&two), rebuilt.entry(&two));
        assert_eq!(applied.entry(&two).unwrap().1.overall, Some(1));

        let unknown = EntryChange {
            bib: Bib::parse("99").unwrap(),
            ..change
        };
        assert!(before.apply(&[unknown]).is_none());
    }
}
