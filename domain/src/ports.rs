//! Ports: what the race engine needs from storage. Adapters (in `persistence`) implement them;
//! the API holds them as `Arc<dyn RaceRepository>`.

use crate::corrections::{Correction, CorrectionAction};
use crate::course::TimingPointCode;
use crate::engine::{Adjustments, Timeline};
use crate::error::InvalidInput;
use crate::flags::{FlagKind, FlagStatus};
use crate::lineage::RawRead;
use crate::live::EventChange;
use crate::model::{Entry, Event, EventStatus, NewEntry, NewEvent, NewVenue, Venue, Wave};
use crate::standings::StandingRow;
use crate::timing::{Bib, Detection, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Failures of a repository, by business outcome. Database errors never leave the adapter
/// except as `Unexpected`.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("{0}")]
    Conflict(String),
    /// The request contradicts what is stored (checked under the event's lock).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The database cannot be reached (down, restarting, or no connection free in time); the
    /// same request may succeed later. Nothing was written.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Concurrent writes met in a lock conflict the database broke (a deadlock or a
    /// serialization failure) and retrying did not get through; the same request may succeed
    /// later. Nothing was written.
    #[error("the database is busy: {0}")]
    Busy(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A checked detection with its position in the caller's batch.
#[derive(Debug, Clone)]
pub struct IndexedDetection {
    pub index: usize,
    pub point_index: usize,
    pub detection: Detection,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// New reads stored.
    pub accepted: u64,
    /// Reads already known (same read id, or same bib, point and instant).
    pub duplicates: u64,
    /// Batch positions whose bib is not registered for the event.
    pub unknown_bibs: Vec<usize>,
    /// The event's `seq` after the ingest.
    pub seq: i64,
    /// Entries whose results changed.
    pub changed_entries: Vec<Uuid>,
}

/// Everything known about one entry, as needed to explain its result.
#[derive(Debug, Clone)]
pub struct EntryRecord {
    pub entry: Entry,
    pub timeline: Timeline,
    pub adjustments: Adjustments,
}

/// A correction to record.
#[derive(Debug, Clone)]
pub struct NewCorrection {
    pub bib: Bib,
    pub action: CorrectionAction,
    pub reason: String,
    pub author: String,
    /// Whether the author may amend official results (admins).
    pub may_amend: bool,
}

/// One step in a flag's review history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagChange {
    pub status: FlagStatus,
    /// The event `seq` at which it happened.
    pub seq: i64,
    pub at: Timestamp,
    /// `engine` for automatic changes, else the official's subject.
    pub by: String,
    pub note: String,
}

/// A flag as stored, with where it stands in review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFlag {
    pub id: Uuid,
    pub event_id: Uuid,
    pub entry_id: Uuid,
    pub bib: Bib,
    pub kind: FlagKind,
    pub point: TimingPointCode,
    pub at: Option<Timestamp>,
    pub related: Option<(TimingPointCode, Timestamp)>,
    pub detail: String,
    pub status: FlagStatus,
    pub raised_seq: i64,
    pub updated_seq: i64,
    pub history: Vec<FlagChange>,
}

#[derive(Debug, Clone, Default)]
pub struct FlagFilter {
    pub status: Option<FlagStatus>,
    pub kind: Option<FlagKind>,
    pub bib: Option<Bib>,
}

/// An official's decision on a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagReview {
    /// The read is fine as it is.
    Dismiss,
    /// Look again.
    Reopen,
}

/// A domain event waiting in the outbox for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub event_id: Uuid,
    pub topic: String,
    /// A JSON object.
    pub payload: String,
    pub seq: i64,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait RaceRepository: Send + Sync + 'static {
    /// Succeeds when the store answers.
    async fn ping(&self) -> Result<(), RepoError>;

    async fn create_venue(&self, venue: NewVenue) -> Result<Venue, RepoError>;
    async fn venue(&self, id: Uuid) -> Result<Option<Venue>, RepoError>;

    async fn create_event(&self, event: NewEvent) -> Result<Event, RepoError>;
    /// Creates an event imported from `source` (a stable name of the source event); `Duplicate`
    /// when an event from that source exists already.
    async fn create_imported_event(
        &self,
        event: NewEvent,
        source: &str,
    ) -> Result<Event, RepoError>;
    /// The event imported from `source`, if any.
    async fn event_by_source(&self, source: &str) -> Result<Option<Event>, RepoError>;
    /// The event, or `None` when no event has that id.
    async fn event(&self, id: Uuid) -> Result<Option<Event>, RepoError>;
    /// Events ordered by start, most recent first, at most `limit`.
    async fn events(&self, limit: u64) -> Result<Vec<Event>, RepoError>;
    /// The current `seq` of an event: a cheap check whether cached standings are still fresh.
    async fn event_seq(&self, id: Uuid) -> Result<Option<i64>, RepoError>;
    /// Moves an event along its lifecycle (`EventStatus::transition`) and records the domain
    /// event in the outbox, in one transaction. A refused transition is `Invalid`.
    async fn transition_event(&self, id: Uuid, to: EventStatus) -> Result<Event, RepoError>;
    async fn waves(&self, event_id: Uuid) -> Result<Vec<Wave>, RepoError>;

    /// Registers entries, all or none. A bib already used in the event, or twice in the
    /// batch, fails with `Duplicate` naming it; an unknown `athlete_id` with `NotFound`.
    async fn add_entries(
        &self,
        event: &Event,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<Entry>, RepoError>;

    /// Stores new raw detections and recomputes the affected entries in one transaction.
    /// Duplicates (same read id, or same bib + point + instant, in the store or in the batch)
    /// are counted and change nothing; unknown bibs are reported, not stored. The event's
    /// `seq` increases when anything changed. Concurrent ingests into one event serialise.
    async fn ingest(
        &self,
        event: &Event,
        detections: Vec<IndexedDetection>,
    ) -> Result<IngestOutcome, RepoError>;

    /// Every entry of the event in a form ready for ranking.
    async fn standings(&self, event_id: Uuid) -> Result<Vec<StandingRow>, RepoError>;
    /// One entry of `event` with its timeline, or `None` when the bib is not registered.
    async fn entry_record(
        &self,
        event: &Event,
        bib: &Bib,
    ) -> Result<Option<EntryRecord>, RepoError>;

    /// Every entry of the event with its timeline and adjustments (exports).
    async fn entry_records(&self, event: &Event) -> Result<Vec<EntryRecord>, RepoError>;
    /// Every raw detection of one entry, oldest first.
    async fn detections(&self, event_id: Uuid, bib: &Bib) -> Result<Vec<Detection>, RepoError>;
    /// Every raw detection of one entry with its storage id, oldest first.
    async fn raw_reads(&self, event: &Event, bib: &Bib) -> Result<Vec<RawRead>, RepoError>;

    /// Records a correction and recomputes the entry (result, flags) in one transaction that
    /// bumps the event's `seq`. Refused with `Conflict` when the event no longer takes it
    /// (cancelled, or official and the author may not amend); with `Invalid` when the
    /// correction contradicts the record (undoing twice, ignoring a read that does not exist).
    /// An amendment to official results also writes `result.amended` to the outbox.
    async fn apply_correction(
        &self,
        event: &Event,
        correction: NewCorrection,
    ) -> Result<Correction, RepoError>;
    /// The corrections of an event (or of one entry), oldest first.
    async fn corrections(
        &self,
        event: &Event,
        bib: Option<&Bib>,
    ) -> Result<Vec<Correction>, RepoError>;

    /// The flags of an event, by entry then raising order.
    async fn flags(
        &self,
        event_id: Uuid,
        filter: &FlagFilter,
    ) -> Result<Vec<StoredFlag>, RepoError>;
    /// Dismisses or reopens a flag, appending to its history.
    async fn review_flag(
        &self,
        event_id: Uuid,
        flag_id: Uuid,
        review: FlagReview,
        by: &str,
        note: &str,
    ) -> Result<StoredFlag, RepoError>;

    /// The event's change log after `after_seq`, oldest first, at most `limit` steps. Every
    /// `seq` from 1 to the event's current one has exactly one step.
    async fn changes(
        &self,
        event_id: Uuid,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<EventChange>, RepoError>;
    /// The last `seq` the event had reached at `at` (0 before its first change).
    async fn seq_at(&self, event_id: Uuid, at: crate::timing::Timestamp) -> Result<i64, RepoError>;
    /// When step `seq` of the event's change log was written (`None` for a step it does not
    /// have). Reads and corrections of a step are received no later than this instant, and
    /// after the step before it: it is where the step divides them.
    async fn seq_time(
        &self,
        event_id: Uuid,
        seq: i64,
    ) -> Result<Option<crate::timing::Timestamp>, RepoError>;

    /// Domain events of an event not yet delivered, oldest first.
    async fn pending_outbox(&self, event_id: Uuid) -> Result<Vec<OutboxMessage>, RepoError>;
}

/// One of podium's own token-signing keys as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// The Ed25519 seed, hex.
    pub seed: String,
    pub created_at: Timestamp,
    /// Set when a newer key took over signing; tokens it signed stay valid until they expire.
    pub retired_at: Option<Timestamp>,
}

/// An integration registered to obtain tokens with client credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClientRecord {
    pub client_id: String,
    pub name: String,
    /// Argon2id PHC string of the client secret.
    pub secret_hash: String,
    /// Space-separated scopes granted.
    pub scopes: String,
    pub tier: String,
    /// When set, the client may only act at this venue.
    pub venue_id: Option<Uuid>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// Storage of podium's authorization-server state: signing keys and API clients.
#[async_trait]
pub trait AccessRepository: Send + Sync + 'static {
    /// Every stored signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, RepoError>;

    /// Stores `key` and retires every other unretired key at its creation time, atomically.
    async fn rotate_signing_key(&self, key: StoredSigningKey) -> Result<(), RepoError>;

    /// Deletes keys retired before `before` (no token they signed can still be valid).
    async fn prune_signing_keys(&self, before: Timestamp) -> Result<u64, RepoError>;

    async fn create_api_client(&self, client: ApiClientRecord) -> Result<(), RepoError>;

    async fn api_client(&self, client_id: &str) -> Result<Option<ApiClientRecord>, RepoError>;

    /// Every client, newest first.
    async fn api_clients(&self) -> Result<Vec<ApiClientRecord>, RepoError>;

    /// The ids of every revoked client.
    async fn revoked_clients(&self) -> Result<Vec<String>, RepoError>;

    /// Marks a client revoked at `at` (idempotent: an earlier revocation is kept).
    async fn revoke_api_client(
        &self,
        client_id: &str,
        at: Timestamp,
    ) -> Result<ApiClientRecord, RepoError>;
}

/// The name an athlete's entries keep once their data is erased.
pub const ERASED_NAME: &str = "Erased athlete";

/// An athlete's own record (names, privacy, personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthleteProfile {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub birth_year: Option<i32>,
    pub private: bool,
    pub gender: crate::division::Gender,
    pub nationality: Option<String>,
    /// `matching::name_key` of the name: the order athletes are listed in.
    pub name_key: String,
}

/// A page of `athletes(search)`: athletes whose name key holds every word (as a part of a
/// word), in name key order after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthleteSearch {
    pub words: Vec<String>,
    /// Private athletes are listed only to admins.
    pub include_private: bool,
    /// The last `(name key, id)` of the previous page.
    pub after: Option<(String, Uuid)>,
    pub limit: usize,
}

/// The audit record of a merge: `merged_id`'s entries moved to `kept_id`, and `merged_id` is
/// gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthleteMerge {
    pub id: Uuid,
    pub kept_id: Uuid,
    pub merged_id: Uuid,
    pub merged_name: String,
    pub entries_moved: u32,
    pub merged_by: String,
    pub merged_at: Timestamp,
}

/// A coach an athlete gave access to their analytics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoachGrant {
    pub athlete_id: Uuid,
    /// The coach's token subject.
    pub coach: String,
    pub granted_at: Timestamp,
}

/// Athletes across events: profile, history, privacy and coach access.
#[async_trait]
pub trait AthleteRepository: Send + Sync + 'static {
    async fn athlete(&self, id: Uuid) -> Result<Option<AthleteProfile>, RepoError>;

    /// The profiles of those of `ids` that exist, in no particular order.
    async fn athletes_by_ids(&self, ids: &[Uuid]) -> Result<Vec<AthleteProfile>, RepoError>;

    /// The athletes whose name key is one of `name_keys`, as the matching rule sees them.
    async fn known_athletes(
        &self,
        name_keys: &[String],
    ) -> Result<Vec<crate::matching::Known>, RepoError>;

    /// One page of athletes by name (see `AthleteSearch`).
    async fn search_athletes(
        &self,
        search: &AthleteSearch,
    ) -> Result<Vec<AthleteProfile>, RepoError>;

    /// Moves every entry of `merge` to `keep` and removes `merge`: the kept athlete is private
    /// when either was, keeps only the coach grants both gave, and every event either entered
    /// takes a `PRIVACY` step carrying the entries' athlete, name and privacy. An audit record
    /// remains. Merging an athlete into themself is refused.
    async fn merge_athletes(
        &self,
        keep: Uuid,
        merge: Uuid,
        by: &str,
    ) -> Result<(AthleteMerge, Vec<EventChange>), RepoError>;

    /// Groups of athletes with the same name key and gender (people the matching rule could
    /// not join: a missing or differing nationality or birth year), at most `limit` groups
    /// in name key order.
    async fn possible_duplicates(
        &self,
        limit: usize,
    ) -> Result<Vec<Vec<AthleteProfile>>, RepoError>;

    /// Every entry of the athlete with its result, oldest race first.
    async fn athlete_results(
        &self,
        id: Uuid,
    ) -> Result<Vec<crate::analytics::AthleteResult>, RepoError>;

    /// Sets the athlete's privacy. When it changes, every event the athlete entered takes a
    /// `PRIVACY` step (returned) so standings, caches and live views everywhere follow.
    async fn set_athlete_privacy(
        &self,
        id: Uuid,
        private: bool,
    ) -> Result<Vec<EventChange>, RepoError>;

    /// Erases the athlete's personal data: the name becomes `ERASED_NAME`, the birth year
    /// goes, the athlete turns private and every coach grant is withdrawn. Results stay (they
    /// are part of the events' records), anonymised; every event entered takes a `PRIVACY`
    /// step (returned) carrying the new name, so every view follows.
    async fn erase_athlete(&self, id: Uuid) -> Result<Vec<EventChange>, RepoError>;

    /// Grants `coach` access (idempotent: an existing grant keeps its time).
    async fn grant_coach(&self, grant: CoachGrant) -> Result<CoachGrant, RepoError>;

    /// Revokes `coach`'s access; false when there was none.
    async fn revoke_coach(&self, athlete_id: Uuid, coach: &str) -> Result<bool, RepoError>;

    async fn coach_grants(&self, athlete_id: Uuid) -> Result<Vec<CoachGrant>, RepoError>;

    async fn coach_may_read(&self, athlete_id: Uuid, coach: &str) -> Result<bool, RepoError>;
}

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: Uuid,
    /// Events of this venue; `None`: every event.
    pub venue_id: Option<Uuid>,
    pub url: String,
    /// `whsec_<base64>` (Standard Webhooks).
    pub secret: String,
    /// Topics it receives; empty: all.
    pub topics: Vec<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    /// False: nothing is sent; deliveries wait (within their retry window) until it is
    /// enabled again.
    pub enabled: bool,
    /// Why it was disabled (by whom, or the answer that made podium disable it).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<Timestamp>,
    /// The secret before the last rotation (sealed like `secret`), still signing until
    /// `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<Timestamp>,
    /// The athlete its creator acted for (an integration token naming them): it receives that
    /// athlete's private notices (`athlete.fatigue_alert`).
    pub athlete_id: Option<Uuid>,
}

impl WebhookRecord {
    /// Whether `topic` is one the endpoint receives.
    pub fn receives(&self, topic: &str) -> bool {
        self.topics.is_empty() || self.topics.iter().any(|t| t == topic)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet, not given up: due, retrying, or held by a disabled endpoint.
    Pending,
    Delivered,
    /// Given up (the dead letters).
    Failed,
}

/// Which deliveries to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// These endpoints' deliveries.
    pub webhook_ids: Vec<Uuid>,
    pub state: Option<DeliveryState>,
    pub limit: u64,
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    /// The run of attempts it belongs to (the delivery's `run_started_at` when claimed): a
    /// redelivery or replay that started a new run meanwhile is not undone by it.
    pub run_started_at: Timestamp,
    pub at: Timestamp,
    /// The status answered; `None` when no answer came.
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// The start of the response body.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// One message on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The outbox message id (`webhook-id`), the same on every attempt.
    pub message_id: Uuid,
    pub topic: String,
    /// The JSON body sent.
    pub payload: String,
    pub attempts: i32,
    pub next_attempt_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    /// When the current run of attempts began (creation, or the latest redelivery/replay):
    /// the retry window counts from here, and `attempts` counts this run's attempts.
    pub run_started_at: Timestamp,
}

impl WebhookDelivery {
    pub fn state(&self) -> DeliveryState {
        if self.delivered_at.is_some() {
            DeliveryState::Delivered
        } else if self.failed_at.is_some() {
            DeliveryState::Failed
        } else {
            DeliveryState::Pending
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at `retry_at`, or give up when `None`.
    Failed {
        error: String,
        retry_at: Option<Timestamp>,
    },
}

/// Webhook endpoints and the outbox → delivery pipeline.
#[async_trait]
pub trait WebhookRepository: Send + Sync + 'static {
    async fn create_webhook(&self, webhook: WebhookRecord) -> Result<(), RepoError>;

    /// Every endpoint, newest first.
    async fn webhooks(&self) -> Result<Vec<WebhookRecord>, RepoError>;

    async fn webhook(&self, id: Uuid) -> Result<Option<WebhookRecord>, RepoError>;

    /// Deletes the endpoint and its pending deliveries; false when there was none.
    async fn delete_webhook(&self, id: Uuid) -> Result<bool, RepoError>;

    /// Turns up to `limit` undispatched outbox messages into one delivery per matching
    /// endpoint (its venue's or every event's, topic subscribed, registered before the
    /// message), due at once, and marks the messages dispatched — atomically, so each message
    /// is fanned out exactly once even with several instances. Does nothing while no endpoint
    /// exists. Returns the messages dispatched.
    async fn dispatch_outbox(&self, limit: u64, now: Timestamp) -> Result<usize, RepoError>;

    /// Claims up to `limit` due deliveries for `lease_until` (other instances skip them until
    /// then) and returns them with their endpoint.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u64,
    ) -> Result<Vec<(WebhookDelivery, WebhookRecord)>, RepoError>;

    /// Records an attempt (counting it in the delivery's run and keeping it in its history).
    async fn record_attempt(
        &self,
        attempt: WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> Result<(), RepoError>;

    /// The latest deliveries of some endpoints, newest first.
    async fn deliveries(&self, query: DeliveryQuery) -> Result<Vec<WebhookDelivery>, RepoError>;

    async fn delivery(&self, id: Uuid) -> Result<Option<WebhookDelivery>, RepoError>;

    /// The attempts of these deliveries, oldest first.
    async fn attempts(&self, delivery_ids: &[Uuid]) -> Result<Vec<WebhookAttempt>, RepoError>;

    /// Replaces the endpoint's URL, topics, state and secrets with `webhook`'s; false when
    /// there is no such endpoint.
    async fn update_webhook(&self, webhook: WebhookRecord) -> Result<bool, RepoError>;

    /// Disables an enabled endpoint for `reason` and, in the same transaction, tells its
    /// owner: a `webhook.endpoint_disabled` message (`data`) to each of the owner's other
    /// enabled endpoints that receive it (registered by the same subject, or for the same
    /// venue). False when it was already disabled (nothing is sent twice).
    async fn disable_webhook(
        &self,
        id: Uuid,
        reason: &str,
        at: Timestamp,
        data: serde_json::Value,
    ) -> Result<bool, RepoError>;

    /// Sends an athlete's private message: one delivery of `message_id` to each enabled
    /// endpoint receiving `topic` that acts for `athlete_id` or was registered by one of
    /// `coaches` (subjects). An endpoint that already has the message gets nothing more.
    /// Returns the deliveries made.
    async fn notify_athlete(
        &self,
        athlete_id: Uuid,
        coaches: &[String],
        message_id: Uuid,
        topic: &str,
        payload: String,
        at: Timestamp,
    ) -> Result<u64, RepoError>;

    /// When a delivery to the endpoint last succeeded.
    async fn last_delivered(&self, webhook_id: Uuid) -> Result<Option<Timestamp>, RepoError>;

    /// Starts a new run of attempts for a delivery: due `now`, counted from zero, the same
    /// message (the same `webhook-id`). `None` when there is no such delivery.
    async fn redeliver(
        &self,
        id: Uuid,
        now: Timestamp,
    ) -> Result<Option<WebhookDelivery>, RepoError>;

    /// Sends again every message written in `[since, until)` that the endpoint would receive
    /// (its venue; `topics`, or its own when empty): a new run for the deliveries it had, a
    /// delivery for those it had not. Messages keep their ids. Returns how many.
    async fn replay(
        &self,
        webhook_id: Uuid,
        since: Timestamp,
        until: Timestamp,
        topics: &[String],
        now: Timestamp,
    ) -> Result<u64, RepoError>;

    /// Deliveries neither delivered nor given up, and when the oldest of them was created.
    async fn backlog(&self) -> Result<(u64, Option<Timestamp>), RepoError>;
}

/// What recording a batch of wellness samples did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WellnessOutcome {
    pub accepted: u64,
    /// Samples already stored (the same kind, source id and time).
    pub duplicates: u64,
}

/// An athlete's training and wellness samples (time series on `at`).
#[async_trait]
pub trait WellnessRepository: Send + Sync + 'static {
    /// Stores `athlete_id`'s samples; one already stored (its kind, source id and time) is a
    /// duplicate, not an error, so a source may send a batch again.
    async fn record_wellness(
        &self,
        athlete_id: Uuid,
        samples: Vec<crate::wellness::WellnessSample>,
    ) -> Result<WellnessOutcome, RepoError>;

    /// The athlete's samples of `kinds` (all when empty) measured in `[from, to)`, oldest first.
    async fn wellness(
        &self,
        athlete_id: Uuid,
        kinds: &[crate::wellness::SampleKind],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::wellness::WellnessSample>, RepoError>;

    /// The athlete's activity days measured in `[from, to)`, oldest first, from a daily rollup
    /// where the database keeps one (TimescaleDB's `wellness_daily`); `None` where it does not
    /// (the caller reads the raw samples).
    async fn activity_days(
        &self,
        _athlete_id: Uuid,
        _from: Timestamp,
        _to: Timestamp,
    ) -> Result<Option<Vec<crate::wellness::ActivityDay>>, RepoError> {
        Ok(None)
    }

    /// Deletes every sample of the athlete; how many there were.
    async fn erase_wellness(&self, athlete_id: Uuid) -> Result<u64, RepoError>;

    /// The version of the athlete's data: how many samples, and when the last was recorded.
    /// Any change (a sample recorded, the data erased) changes it.
    async fn wellness_version(&self, athlete_id: Uuid) -> Result<WellnessVersion, RepoError>;

    /// Up to `limit` athletes with samples of `kind`, most recently measured first, with when
    /// their last such sample was measured.
    async fn athletes_with_wellness(
        &self,
        kind: crate::wellness::SampleKind,
        limit: u64,
    ) -> Result<Vec<(Uuid, Timestamp)>, RepoError>;
}

/// See [`WellnessRepository::wellness_version`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct WellnessVersion {
    pub samples: u64,
    pub last_recorded: Option<Timestamp>,
}

/// Which measured segment times to read across events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EffortQuery {
    /// The segment's code on `course`.
    pub segment: String,
    /// The course template (`HYROX_STANDARD`).
    pub course: String,
    pub category: Option<crate::division::Category>,
    pub gender: Option<crate::division::Gender>,
    pub age_group: Option<crate::division::AgeGroup>,
    /// Only these events.
    pub event_ids: Vec<Uuid>,
}

/// An athlete's race with where it stood in its event's division (see `records::trend`).
#[derive(Debug, Clone, PartialEq)]
pub struct RaceStandings {
    pub event_id: Uuid,
    /// The net time among the division's finishers of that event.
    pub net: Option<crate::records::Standing>,
    /// Each measured segment among the division's measured times of that event, by code.
    pub segments: Vec<(String, crate::records::Standing)>,
}

/// What to count for competition statistics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompetitionQuery {
    pub event_ids: Vec<Uuid>,
    pub category: Option<crate::division::Category>,
    pub gender: Option<crate::division::Gender>,
}

/// Cross-event analytics over the official splits (`result_splits`) and the entry states:
/// only finished entries' splits are there, each marked measured, merged or estimated.
#[async_trait]
pub trait AnalyticsRepository: Send + Sync + 'static {
    /// The id and `seq` of every official event on `course`: one cheap read that says whether
    /// anything official changed since the last time.
    async fn official_steps(&self, course: &str) -> Result<Vec<(Uuid, i64)>, RepoError>;

    /// Every measured time on `query.segment` of a finished entry of `query.event_ids`,
    /// narrowed by division and age group.
    async fn segment_efforts(
        &self,
        query: &EffortQuery,
    ) -> Result<Vec<crate::records::Effort>, RepoError>;

    /// For each event the athlete finished: the net time's and each measured segment's
    /// standing within that event's division (category × gender).
    async fn race_standings(&self, athlete_id: Uuid) -> Result<Vec<RaceStandings>, RepoError>;

    /// The entries, statuses, finish times and per-segment medians (measured times, linear
    /// interpolation) of the events, narrowed by division.
    async fn competition(
        &self,
        query: &CompetitionQuery,
    ) -> Result<crate::records::CompetitionFigures, RepoError>;
}

/// A finished effort of an official event, as prediction models learn from it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingEffort {
    pub event_id: Uuid,
    pub athlete_id: Uuid,
    pub division: crate::division::Division,
    /// Its start (Unix ms).
    pub started_ms: i64,
    /// Elapsed ms at each timing point of the course it was timed at.
    pub elapsed: Vec<Option<i64>>,
}

/// A prediction model version as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    pub version: i64,
    pub course: String,
    pub trained_at: crate::timing::Timestamp,
    /// The events its references come from.
    pub events: Vec<Uuid>,
    /// Its references (finished efforts).
    pub results: usize,
    /// Leave-one-event-out backtest, per timing point.
    pub metrics: Vec<crate::prediction::PointMetrics>,
    /// The interval's calibration per timing point.
    pub calibration: Vec<f64>,
    /// Race-to-race changes of athletes' finish times on the course (next / previous − 1),
    /// for pre-race intervals.
    pub repeat_changes: Vec<f64>,
    pub active: bool,
    /// Its references (`Reference::event` indexes `events`), kept with every version so it
    /// predicts the same whenever it is (re)activated, whatever is amended; `None` when not
    /// loaded (or dropped by a release before versions kept them).
    pub references: Option<Vec<crate::prediction::Reference>>,
}

/// Who made a version the active one, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelActivation {
    pub version: i64,
    pub at: crate::timing::Timestamp,
    /// The admin's subject, or `podium` for a training that beat the active version.
    pub actor: String,
    pub reason: String,
}

/// Prediction models and what they learn from.
#[async_trait]
pub trait PredictionRepository: Send + Sync + 'static {
    /// Every finished effort of an official event on `course`.
    async fn training_efforts(&self, course: &str) -> Result<Vec<TrainingEffort>, RepoError>;

    /// Every version, newest first, without references.
    async fn prediction_models(&self, course: &str) -> Result<Vec<StoredModel>, RepoError>;

    /// The active version with its references.
    async fn active_prediction_model(&self, course: &str)
        -> Result<Option<StoredModel>, RepoError>;

    /// Stores a new version with its references (its `version` is assigned) and, with an
    /// activation (its `version` ignored), makes it the active one and records who and why.
    /// Returns the version.
    async fn save_prediction_model(
        &self,
        model: &StoredModel,
        activation: Option<&ModelActivation>,
    ) -> Result<i64, RepoError>;

    /// Makes `activation.version` of `course` the active one and records the activation;
    /// returns that version with its references. `NotFound` for an unknown version,
    /// `Conflict` for one stored without its references.
    async fn activate_prediction_model(
        &self,
        course: &str,
        activation: &ModelActivation,
    ) -> Result<StoredModel, RepoError>;

    /// Every activation on `course`, newest first.
    async fn prediction_model_activations(
        &self,
        course: &str,
    ) -> Result<Vec<ModelActivation>, RepoError>;

    /// The finished net times on `course` of these athletes in official events, oldest first:
    /// `(athlete, event start, net ms)`.
    async fn athlete_finishes(
        &self,
        athlete_ids: &[Uuid],
        course: &str,
    ) -> Result<Vec<(Uuid, crate::timing::Timestamp, i64)>, RepoError>;
}
