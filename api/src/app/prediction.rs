//! Live finish predictions (`domain::prediction`) and the model's lifecycle: the active version
//! of the standard course's model held in memory (the simulator's prior until one is
//! trained), each event's predictions per step kept and moved on incrementally (only entries
//! with a new read are predicted again), training with a leave-one-event-out backtest, and
//! activation only when the new version beats the active one on results it never saw.

use crate::app::race;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use podium_domain::course::Course;
use podium_domain::division::Division;
use podium_domain::engine::EntryStatus;
use podium_domain::ports::{ModelActivation, StoredModel, TrainingEffort};
use podium_domain::prediction::{self, Basis, Finishers, Model, Observed, Prediction, Reference};
use podium_domain::standings::{EventStandings, StandingRow};
use podium_domain::timing::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use uuid::Uuid;

/// References a training's calibration, backtest and comparison predict at most (evenly
/// spread): a large history is sampled, so `trainPredictionModel` answers in seconds (`podium backtest`
/// predicts every one).
const BACKTEST_SAMPLE: usize = 1_000;

/// The simulator's prior, built once per process (it is the same every time).
static PRIOR: std::sync::LazyLock<Arc<ActiveModel>> = std::sync::LazyLock::new(|| {
    Arc::new(ActiveModel {
        version: 0,
        model: Model::prior(&Course::hyrox_standard()),
        repeat_changes: Vec::new(),
    })
});

/// The model predictions come from.
pub struct ActiveModel {
    /// The stored version; 0 for the built-in prior.
    pub version: i64,
    pub model: Model,
    /// Race-to-race changes of finish times, for pre-race intervals.
    pub repeat_changes: Vec<f64>,
}

/// A prediction with where it would place the entry in its division.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    pub prediction: Prediction,
    /// The predicted net time from the entry's start.
    pub finish_at: Timestamp,
    /// Among the division's finishers (by net time) and predicted entries (by prediction).
    pub projected_rank: Option<u32>,
    pub model_version: i64,
}

/// What an entry's prediction was made from: its last passed point and time there (racing),
/// or its athlete (registered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum MadeFrom {
    Racing(usize, i64),
    Registered,
    None,
}

/// Every entry's forecast at one step of an event, for one model version.
struct Board {
    seq: i64,
    version: i64,
    forecasts: HashMap<Uuid, (MadeFrom, Option<Forecast>)>,
    /// The event's finishers at this step, with how much the model missed each.
    finished: Arc<Finished>,
}

/// An event's finishers as the model saw them: by entry, the profile it finished with and
/// its residuals, and all of them together for the same-event offset.
#[derive(Default)]
struct Finished {
    by_entry: HashMap<Uuid, Arc<Finisher>>,
    all: Finishers,
}

/// One finisher: the profile it finished with (elapsed per point, start) and its residuals.
struct Finisher {
    passed: Vec<(usize, i64)>,
    start_ms: i64,
    residuals: Vec<(usize, f64)>,
}

impl Finisher {
    fn is(&self, row: &StandingRow) -> bool {
        self.passed == row.profile.passed && self.start_ms == row.profile.start_ms
    }
}

impl Finished {
    /// These finishers updated to `standings`: `previous` itself when no finish changed, else
    /// a new set where only new or changed finishers are predicted again.
    fn of(
        model: &Model,
        standings: &EventStandings,
        previous: Option<&Arc<Finished>>,
    ) -> Arc<Self> {
        let now: Vec<&StandingRow> = standings
            .rows()
            .iter()
            .filter(|r| r.status == EntryStatus::Finished && r.profile.passed.len() > 1)
            .collect();
        if let Some(previous) = previous {
            let same = previous.by_entry.len() == now.len()
                && now
                    .iter()
                    .all(|r| previous.by_entry.get(&r.entry_id).is_some_and(|f| f.is(r)));
            if same {
                return previous.clone();
            }
        }
        let mut finished = Finished::default();
        for row in now {
            let known = previous
                .and_then(|p| p.by_entry.get(&row.entry_id))
                .filter(|f| f.is(row))
                .cloned();
            let finisher = known.unwrap_or_else(|| {
                Arc::new(Finisher {
                    passed: row.profile.passed.clone(),
                    start_ms: row.profile.start_ms,
                    residuals: model.residuals(
                        Division {
                            category: row.category,
                            gender: row.gender,
                        },
                        &row.profile.passed,
                    ),
                })
            });
            let finish = row.profile.passed.last().map_or(0, |&(_, at)| at);
            finished
                .all
                .add(row.profile.start_ms + finish, &finisher.residuals);
            finished.by_entry.insert(row.entry_id, finisher);
        }
        Arc::new(finished)
    }
}

/// Pre-race predictions of an event's athletes with history, by athlete.
type PreRace = HashMap<Uuid, Prediction>;

/// A prediction and the instant it puts the finish at.
type Made = Option<(Prediction, Timestamp)>;

/// The active model, and the latest predictions per event.
pub struct Predictor {
    /// `None`: the prior.
    active: RwLock<Option<Arc<ActiveModel>>>,
    boards: Mutex<HashMap<Uuid, Arc<Board>>>,
    /// Pre-race predictions per (event, model version), by athlete.
    pre_race: Mutex<HashMap<(Uuid, i64), Arc<PreRace>>>,
    /// One training at a time.
    training: tokio::sync::Mutex<()>,
    /// One board build at a time per event: a step seen by thousands of subscribers at once
    /// is predicted once.
    building: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl Default for Predictor {
    fn default() -> Self {
        Self {
            active: RwLock::new(None),
            boards: Mutex::default(),
            pre_race: Mutex::default(),
            training: tokio::sync::Mutex::new(()),
            building: Mutex::default(),
        }
    }
}

impl Predictor {
    pub fn active(&self) -> Arc<ActiveModel> {
        let active = self
            .active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        active.unwrap_or_else(|| PRIOR.clone())
    }

    /// The stored version predictions come from; 0 for the prior.
    pub fn active_version(&self) -> i64 {
        let active = self.active.read().unwrap_or_else(|e| e.into_inner());
        active.as_ref().map_or(0, |a| a.version)
    }

    fn set_active(&self, model: ActiveModel) {
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(model));
        self.boards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.pre_race
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// The references of `efforts` (each `event` indexing the returned event ids, in order of
/// first appearance).
pub fn references(efforts: &[TrainingEffort], points: usize) -> (Vec<Uuid>, Vec<Reference>) {
    let mut events: Vec<Uuid> = Vec::new();
    let mut index: HashMap<Uuid, u32> = HashMap::new();
    let references = efforts
        .iter()
        .map(|e| {
            let event = *index.entry(e.event_id).or_insert_with(|| {
                events.push(e.event_id);
                (events.len() - 1) as u32
            });
            let mut elapsed = e.elapsed.clone();
            elapsed.resize(points, None);
            Reference {
                event,
                division: e.division,
                elapsed,
                started_ms: Some(e.started_ms),
            }
        })
        .collect();
    (events, references)
}

/// Race-to-race changes of the athletes with several finishes (next / previous − 1).
fn repeat_changes(efforts: &[TrainingEffort]) -> Vec<f64> {
    let mut by_athlete: HashMap<Uuid, Vec<(i64, i64)>> = HashMap::new();
    for e in efforts {
        if let Some(Some(finish)) = e.elapsed.last() {
            by_athlete
                .entry(e.athlete_id)
                .or_default()
                .push((e.started_ms, *finish));
        }
    }
    let mut changes = Vec::new();
    for mut races in by_athlete.into_values() {
        races.sort_unstable();
        for pair in races.windows(2) {
            changes.push(pair[1].1 as f64 / pair[0].1 as f64 - 1.0);
        }
    }
    changes
}

/// Loads the active version of the standard course's model (at start, and when another
/// instance trained one).
pub async fn load_active(state: &AppState) -> Result<(), ApiError> {
    let course = Course::hyrox_standard();
    let Some(mut stored) = state
        .predictions_repo
        .active_prediction_model(course.code())
        .await?
    else {
        return Ok(());
    };
    if stored.version == state.predictor.active_version() || stored.references.is_none() {
        return Ok(());
    }
    predict_from(state, &course, &mut stored);
    Ok(())
}

/// Makes a stored version the one this instance predicts from, taking its references.
fn predict_from(state: &AppState, course: &Course, stored: &mut StoredModel) {
    let model = Model::new(course, stored.references.take().unwrap_or_default())
        .with_calibration(stored.calibration.clone());
    state.predictor.set_active(ActiveModel {
        version: stored.version,
        model,
        repeat_changes: stored.repeat_changes.clone(),
    });
}

/// Trains a first version in the background when there is none yet (results imported by
/// `podium import` before the server started).
pub async fn train_if_missing(state: &AppState) -> Result<(), ApiError> {
    let course = Course::hyrox_standard();
    if !state.settings.prediction_retrain
        || !state
            .predictions_repo
            .prediction_models(course.code())
            .await?
            .is_empty()
        || state
            .analytics_repo
            .official_steps(course.code())
            .await?
            .is_empty()
    {
        return Ok(());
    }
    retrain_later(state.clone());
    Ok(())
}

/// Looks for a newer active version every `every` (a version trained on another instance).
pub fn start_refresh(state: AppState, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = load_active(&state).await {
                tracing::warn!(error = %e, "prediction model refresh failed");
            }
        }
    });
}

/// A trained version and whether it became the active one.
pub struct Trained {
    pub model: StoredModel,
    pub activated: bool,
    /// Mean absolute error (% of the finish) of the new and of the active version on the
    /// results the active one never saw (its own events left out for the new one).
    pub new_error: Option<f64>,
    pub active_error: Option<f64>,
}

/// Trains a new version on every finished result of an official event of the standard
/// course, backtests it (leave one event out), stores it, and activates it when it predicts
/// the results the active version never saw (all of them for the prior) better than it does.
pub async fn train(state: &AppState, actor: &str) -> Result<Trained, ApiError> {
    let _one = state.predictor.training.lock().await;
    let course = Course::hyrox_standard();
    let efforts = state
        .predictions_repo
        .training_efforts(course.code())
        .await?;
    if efforts.is_empty() {
        return Err(ApiError::BadRequest(
            "no finished results of official events on the course to train on".into(),
        ));
    }
    let active = state.predictor.active();
    let active_version = active.version;
    let seen: HashSet<Uuid> = if active.version == 0 {
        HashSet::new()
    } else {
        state
            .predictions_repo
            .prediction_models(course.code())
            .await?
            .into_iter()
            .find(|m| m.version == active.version)
            .map(|m| m.events.into_iter().collect())
            .unwrap_or_default()
    };
    let (fit, (new_error, active_error)) = tokio::task::spawn_blocking(move || {
        let points = course.points().len();
        let (events, references) = references(&efforts, points);
        let changes = repeat_changes(&efforts);
        let model = Model::new(&course, references);
        let every = model.references().len().div_ceil(BACKTEST_SAMPLE).max(1);
        let (model, metrics) = prediction::calibrated_with_backtest(model, every);
        let fresh: Vec<Reference> = model
            .references()
            .iter()
            .filter(|r| !seen.contains(&events[r.event as usize]))
            .cloned()
            .collect();
        let every = fresh.len().div_ceil(BACKTEST_SAMPLE).max(1);
        let errors = (
            prediction::mean_error(&model, &fresh, true, every),
            prediction::mean_error(&active.model, &fresh, false, every),
        );
        ((events, model, metrics, changes), errors)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let (events, model, metrics, changes) = fit;
    let activated = match (new_error, active_error) {
        (Some(new), Some(old)) => new <= old,
        (Some(_), None) => true,
        _ => false,
    };
    let mut stored = StoredModel {
        version: 0,
        course: Course::hyrox_standard().code().to_owned(),
        trained_at: Timestamp::from_chrono(chrono::Utc::now()),
        results: model.references().len(),
        events,
        metrics,
        calibration: model.calibration().to_vec(),
        repeat_changes: changes.clone(),
        active: activated,
        references: Some(model.references().to_vec()),
    };
    let activation = activated.then(|| ModelActivation {
        version: 0,
        at: stored.trained_at,
        actor: actor.to_owned(),
        reason: match (new_error, active_error, active_version) {
            (Some(new), _, 0) => format!(
                "trained: the first version ({new:.2} % mean error on its held-out results, against the built-in prior)"
            ),
            (Some(new), Some(old), v) => format!(
                "trained: {new:.2} % mean error on the results version {v} never saw, against its {old:.2} %"
            ),
            _ => "trained".to_owned(),
        },
    });
    stored.version = state
        .predictions_repo
        .save_prediction_model(&stored, activation.as_ref())
        .await?;
    if activated {
        state.predictor.set_active(ActiveModel {
            version: stored.version,
            model,
            repeat_changes: changes,
        });
    }
    stored.references = None;
    Ok(Trained {
        model: stored,
        activated,
        new_error,
        active_error,
    })
}

/// `trainPredictionModel`: admins.
pub async fn train_as(state: &AppState, principal: &Principal) -> Result<Trained, ApiError> {
    if !principal.is_admin() {
        return Err(ApiError::Forbidden(
            "only an admin can train a prediction model".into(),
        ));
    }
    train(state, principal.subject()).await
}

/// `activatePredictionModel`: admins promote a version or roll back to an earlier one, saying
/// why; recorded with who and when. Predictions come from it at once on this instance, and
/// within the refresh interval on the others.
pub async fn activate_as(
    state: &AppState,
    principal: &Principal,
    version: i64,
    reason: &str,
) -> Result<StoredModel, ApiError> {
    if !principal.is_admin() {
        return Err(ApiError::Forbidden(
            "only an admin can activate a prediction model".into(),
        ));
    }
    let reason = podium_domain::corrections::parse_reason(reason)?;
    let course = Course::hyrox_standard();
    let _one = state.predictor.training.lock().await;
    let mut stored = state
        .predictions_repo
        .activate_prediction_model(
            course.code(),
            &ModelActivation {
                version,
                at: Timestamp::from_chrono(chrono::Utc::now()),
                actor: principal.subject().to_owned(),
                reason,
            },
        )
        .await?;
    predict_from(state, &course, &mut stored);
    Ok(stored)
}

/// Every activation of the standard course's model, newest first (who, when, why).
pub async fn activations(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<ModelActivation>, ApiError> {
    crate::app::records::may_read_competition(principal)?;
    Ok(state
        .predictions_repo
        .prediction_model_activations(Course::hyrox_standard().code())
        .await?)
}

/// Retrains in the background (an event became official: new history to learn from).
pub fn retrain_later(state: AppState) {
    tokio::spawn(async move {
        match train(&state, "podium").await {
            Ok(t) => tracing::info!(
                version = t.model.version,
                activated = t.activated,
                "prediction model retrained"
            ),
            Err(e) => tracing::warn!(error = %e, "prediction model retraining failed"),
        }
    });
}

/// `predictionModels`: admins and integrations with `analytics:read`.
pub async fn models(state: &AppState, principal: &Principal) -> Result<Vec<StoredModel>, ApiError> {
    crate::app::records::may_read_competition(principal)?;
    Ok(state
        .predictions_repo
        .prediction_models(Course::hyrox_standard().code())
        .await?)
}

/// The forecast of the entry `entry_id` of `event_id` as of step `seq` (or newer).
pub async fn forecast(
    state: &AppState,
    event_id: Uuid,
    seq: i64,
    entry_id: Uuid,
) -> Result<Option<Forecast>, ApiError> {
    let board = board(state, event_id, seq).await?;
    Ok(board.forecasts.get(&entry_id).and_then(|(_, f)| *f))
}

/// The event's latest board, when it is at `seq` or later and from `version`.
fn current_board(state: &AppState, event_id: Uuid, seq: i64, version: i64) -> Option<Arc<Board>> {
    let boards = state
        .predictor
        .boards
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    boards
        .get(&event_id)
        .filter(|b| b.seq >= seq && b.version == version)
        .cloned()
}

/// The event's forecasts at `seq` (or the newest standings after it).
async fn board(state: &AppState, event_id: Uuid, seq: i64) -> Result<Arc<Board>, ApiError> {
    let active = state.predictor.active();
    if let Some(board) = current_board(state, event_id, seq, active.version) {
        return Ok(board);
    }
    let lock = {
        let mut building = state
            .predictor
            .building
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        building.entry(event_id).or_default().clone()
    };
    let _building = lock.lock().await;
    if let Some(board) = current_board(state, event_id, seq, active.version) {
        return Ok(board);
    }
    let latest = {
        let boards = state
            .predictor
            .boards
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        boards.get(&event_id).cloned()
    };
    let (standings_seq, standings) = match state.standings.at_least(event_id, seq) {
        Some(cached) => cached,
        None => {
            let event = race::load_event(state, event_id).await?;
            (event.seq, race::standings(state, &event).await?)
        }
    };
    let pre_race = pre_race(state, event_id, &active, &standings).await?;
    let previous = latest.filter(|b| b.version == active.version);
    let timer = state.metrics.prediction_timer();
    let built = Arc::new(build(
        &active,
        &standings,
        standings_seq,
        previous.as_deref(),
        &pre_race,
    ));
    drop(timer);
    let mut boards = state
        .predictor
        .boards
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let keep = boards
        .get(&event_id)
        .is_none_or(|b| b.seq < built.seq || b.version != built.version);
    if keep {
        boards.insert(event_id, built.clone());
    }
    Ok(built)
}

/// Pre-race predictions of the event's registered athletes from their own finishes.
async fn pre_race(
    state: &AppState,
    event_id: Uuid,
    active: &ActiveModel,
    standings: &EventStandings,
) -> Result<Arc<PreRace>, ApiError> {
    let key = (event_id, active.version);
    if let Some(known) = state
        .predictor
        .pre_race
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
    {
        return Ok(known.clone());
    }
    let athletes: Vec<Uuid> = standings.rows().iter().map(|r| r.athlete_id).collect();
    let finishes = state
        .predictions_repo
        .athlete_finishes(&athletes, Course::hyrox_standard().code())
        .await?;
    let mut own: HashMap<Uuid, Vec<i64>> = HashMap::new();
    for (athlete, _, net) in finishes {
        own.entry(athlete).or_default().push(net);
    }
    let predictions: HashMap<Uuid, Prediction> = own
        .into_iter()
        .filter_map(|(athlete, nets)| {
            Some((
                athlete,
                prediction::pre_race(&nets, &active.repeat_changes)?,
            ))
        })
        .collect();
    let predictions = Arc::new(predictions);
    let mut map = state
        .predictor
        .pre_race
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if map.len() > 64 {
        map.clear();
    }
    map.insert(key, predictions.clone());
    Ok(predictions)
}

fn basis_of(row: &StandingRow) -> MadeFrom {
    match row.status {
        EntryStatus::Racing => match row.profile.passed.last() {
            Some(&(point, elapsed)) => MadeFrom::Racing(point, elapsed),
            None => MadeFrom::None,
        },
        EntryStatus::Registered => MadeFrom::Registered,
        _ => MadeFrom::None,
    }
}

/// Every entry's forecast: predictions carried over from `previous` where the entry has no
/// new read, projected ranks over each division.
fn build(
    active: &ActiveModel,
    standings: &EventStandings,
    seq: i64,
    previous: Option<&Board>,
    pre_race: &HashMap<Uuid, Prediction>,
) -> Board {
    let finished = Finished::of(&active.model, standings, previous.map(|b| &b.finished));
    let mut predicted: Vec<(&StandingRow, MadeFrom, Made)> = standings
        .rows()
        .iter()
        .map(|row| {
            let basis = basis_of(row);
            let carried = previous
                .and_then(|b| b.forecasts.get(&row.entry_id))
                .filter(|(b, _)| *b == basis)
                .map(|(_, f)| f.map(|f| (f.prediction, f.finish_at)));
            let made = carried.unwrap_or_else(|| match basis {
                MadeFrom::Racing(..) => active
                    .model
                    .predict_in_event(
                        &Observed {
                            division: Division {
                                category: row.category,
                                gender: row.gender,
                            },
                            passed: row.profile.passed.clone(),
                        },
                        row.profile.start_ms,
                        &finished.all,
                    )
                    .map(|p| (p, Timestamp(row.profile.start_ms + p.finish_ms))),
                MadeFrom::Registered => pre_race
                    .get(&row.athlete_id)
                    .map(|p| (*p, Timestamp(row.wave_start.0 + p.finish_ms))),
                MadeFrom::None => None,
            });
            (row, basis, made)
        })
        .collect();
    // Projected ranks: finishers by net time and predicted entries by prediction, per
    // division, competition style.
    let mut by_division: HashMap<Division, Vec<i64>> = HashMap::new();
    for (row, _, made) in &predicted {
        let time = match (row.status, made) {
            (EntryStatus::Finished, _) => row.net_time_ms,
            (_, Some((p, _))) => Some(p.finish_ms),
            _ => None,
        };
        if let Some(t) = time {
            by_division
                .entry(Division {
                    category: row.category,
                    gender: row.gender,
                })
                .or_default()
                .push(t);
        }
    }
    for times in by_division.values_mut() {
        times.sort_unstable();
    }
    let forecasts = predicted
        .drain(..)
        .map(|(row, basis, made)| {
            let forecast = made.map(|(prediction, finish_at)| {
                let division = Division {
                    category: row.category,
                    gender: row.gender,
                };
                let projected_rank = by_division
                    .get(&division)
                    .map(|times| times.partition_point(|&t| t < prediction.finish_ms) as u32 + 1);
                Forecast {
                    prediction,
                    finish_at,
                    projected_rank,
                    model_version: active.version,
                }
            });
            (row.entry_id, (basis, forecast))
        })
        .collect();
    Board {
        seq,
        version: active.version,
        forecasts,
        finished,
    }
}

/// How `basis` reads in the API: the number of comparable efforts, or `PRIOR`.
pub fn basis_label(basis: Basis) -> String {
    match basis {
        Basis::Efforts(n) => n.to_string(),
        Basis::Prior => "PRIOR".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podium_domain::division::{Category, Gender};
    use podium_domain::live::Profile;
    use podium_domain::timing::Bib;

    /// A row on the course's median profile scaled by `level`, timed up to `upto`.
    fn row(n: u32, level: f64, upto: usize, status: EntryStatus) -> StandingRow {
        let profile = podium_domain::simulation::standard_medians_s();
        let mut passed = vec![(0, 0)];
        let mut t = 0i64;
        for (i, s) in profile.iter().enumerate().take(upto) {
            t += (s * level * 1000.0).round() as i64;
            passed.push((i + 1, t));
        }
        StandingRow {
            entry_id: Uuid::from_u128(u128::from(n)),
            bib: Bib::parse(&n.to_string()).unwrap(),
            athlete_id: Uuid::from_u128(1_000 + u128::from(n)),
            athlete_name: format!("Athlete {n}"),
            athlete_private: false,
            category: Category::Open,
            gender: Gender::Men,
            age_group: None,
            status,
            last_point: Some(upto),
            elapsed_ms: Some(t),
            net_time_ms: (status == EntryStatus::Finished).then_some(t),
            start_from_wave: false,
            profile: Profile {
                start_ms: i64::from(n) * 1_000,
                passed,
            },
            wave_start: Timestamp(0),
        }
    }

    #[test]
    fn finishers_are_kept_while_unchanged_and_follow_every_change_of_a_finish() {
        let model = Model::prior(&Course::hyrox_standard());
        let finish = Course::hyrox_standard().finish_index();
        let racing = row(3, 1.0, 12, EntryStatus::Racing);
        let standings = EventStandings::build(vec![
            row(1, 0.9, finish, EntryStatus::Finished),
            row(2, 1.1, finish, EntryStatus::Finished),
            racing.clone(),
        ]);
        let first = Finished::of(&model, &standings, None);
        assert_eq!(first.by_entry.len(), 2);
        // Each finisher's residuals are the model's own misses of its finish.
        let one = &first.by_entry[&Uuid::from_u128(1)];
        let expected = model.residuals(
            Division {
                category: Category::Open,
                gender: Gender::Men,
            },
            &one.passed,
        );
        assert_eq!(one.residuals, expected);
        assert!(!one.residuals.is_empty());
        // A step that changes no finish keeps the very same set.
        assert!(Arc::ptr_eq(
            &first,
            &Finished::of(&model, &standings, Some(&first))
        ));
        // A finish set aside (the entry racing again) leaves the set; others are reused.
        let standings = EventStandings::build(vec![
            row(1, 0.9, finish, EntryStatus::Finished),
            row(2, 1.1, 20, EntryStatus::Racing),
            racing,
        ]);
        let second = Finished::of(&model, &standings, Some(&first));
        assert_eq!(second.by_entry.len(), 1);
        assert!(Arc::ptr_eq(
            &first.by_entry[&Uuid::from_u128(1)],
            &second.by_entry[&Uuid::from_u128(1)]
        ));
        // The offset is taken over the remaining finisher alone.
        let finished_at = 1_000 + one.passed.last().unwrap().1;
        let (point, residual) = one.residuals[5];
        let alone = residual / 11.0;
        assert!((second.all.offset(point, finished_at + 1) - alone).abs() < 1e-12);
        assert_eq!(second.all.offset(point, finished_at), 0.0);
    }
}
