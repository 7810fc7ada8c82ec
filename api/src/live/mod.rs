//! Live fan-out: from "event X reached seq N" to an ordered, gap-free stream of change-log steps
//! for every subscriber.
//!
//! Three layers, each allowed to lose messages because the one below never does:
//! - **Notices** (`Notice`): in-process broadcast of "event X reached seq N" from whoever wrote
//!   the change (ingest, corrections, lifecycle), and, with Redis, from other instances
//!   (`fanout`). A notice carries no data.
//! - **Feeds**: one task per event with subscribers on this instance. On a notice (or a
//!   `Resync`, or every `live_poll_ms` when nothing arrives) it reads the new steps from the
//!   durable change log *once*, keeps the last `live_recent_steps` in memory and wakes the followers they
//!   concern: all leaderboard followers, and only the followers of the bibs that changed. So
//!   10,000 subscribers cost one query per change, and a detection for one athlete wakes that
//!   athlete's followers, not everyone's.
//! - **Followers** (`ChangeFollower`): one per subscription, holding its own cursor. When the
//!   feed no longer (or not yet) holds the steps after its cursor, it reads the log itself from
//!   the cursor; so a slow subscriber only ever delays itself.

pub mod fanout;

use crate::metrics::Metrics;
use crate::telemetry::TraceRef;
use podium_domain::course::Course;
use podium_domain::live::EventChange;
use podium_domain::model::Event;
use podium_domain::ports::RaceRepository;
use podium_domain::timing::Bib;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};
use tracing::Instrument;
use uuid::Uuid;

/// Steps read from the change log per query while catching up.
const PAGE: u64 = 256;
/// Notices buffered per listener before it counts as lagging (and re-reads the log).
const NOTICE_CAPACITY: usize = 1024;

/// Something may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// `event` reached `seq`; `trace` is the span that announced it, when traces are exported.
    Advanced {
        event: Uuid,
        seq: i64,
        /// When it was announced (Unix ms, the announcing instance's clock).
        at_ms: i64,
        trace: Option<TraceRef>,
    },
    /// Notices may have been missed (e.g. Redis was away): every feed re-reads the log.
    Resync,
}

/// State of the cross-instance fan-out, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanoutHealth {
    /// No `redis_url`: a single instance; other instances' changes arrive by polling.
    Disabled,
    Connected,
    /// Redis is unreachable: local subscribers are still served; changes from other instances
    /// arrive by polling until it is back, then everything missed is re-read.
    Degraded {
        since: chrono::DateTime<chrono::Utc>,
        error: String,
    },
}

type Feeds = HashMap<Uuid, Arc<Feed>>;

#[derive(Clone)]
pub struct LiveHub {
    repo: Arc<dyn RaceRepository>,
    notices: broadcast::Sender<Notice>,
    feeds: Arc<Mutex<Feeds>>,
    /// The course of each event with a feed, shared by its subscriptions.
    courses: Arc<Mutex<HashMap<Uuid, Arc<Course>>>>,
    /// How long a feed waits for a notice before it checks the log anyway.
    poll: Duration,
    /// Steps a feed keeps for followers that fall behind; further back, they read the log.
    recent: usize,
    /// Latest seq per event announced here and not yet published to other instances.
    outgoing: Arc<Outgoing>,
    health: Arc<watch::Sender<FanoutHealth>>,
    /// Flips to `true` when the server shuts down: WebSocket connections close with 1001.
    shutdown: Arc<watch::Sender<bool>>,
    /// Open WebSocket connections, so shutdown can wait for their close frames.
    connections: Arc<AtomicUsize>,
    metrics: Option<Arc<Metrics>>,
}

/// Changes to publish to other instances, coalesced to the latest announcement per event, so
/// a Redis outage costs memory per event, not per change.
#[derive(Default)]
pub struct Outgoing {
    pending: Mutex<HashMap<Uuid, Announcement>>,
    ready: tokio::sync::Notify,
    enabled: std::sync::atomic::AtomicBool,
}

/// "`event` reached `seq`", when, and the span that said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    pub event: Uuid,
    pub seq: i64,
    pub at_ms: i64,
    pub trace: Option<TraceRef>,
}

impl Outgoing {
    fn push(&self, announcement: Announcement) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let latest = pending.entry(announcement.event).or_insert(announcement);
        if announcement.seq > latest.seq {
            *latest = announcement;
        }
        drop(pending);
        self.ready.notify_one();
    }

    /// Takes everything pending (waiting until there is something).
    pub async fn take(&self) -> Vec<Announcement> {
        loop {
            let batch: Vec<_> = self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain()
                .map(|(_, announcement)| announcement)
                .collect();
            if !batch.is_empty() {
                return batch;
            }
            self.ready.notified().await;
        }
    }

    /// Puts back what could not be published (keeping a newer seq that arrived meanwhile).
    pub fn restore(&self, batch: impl IntoIterator<Item = Announcement>) {
        for announcement in batch {
            self.push(announcement);
        }
    }
}

/// Counts one open WebSocket connection while alive.
pub struct ConnectionGuard(Arc<AtomicUsize>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LiveHub {
    pub fn new(repo: Arc<dyn RaceRepository>, poll: Duration, recent: usize) -> Self {
        Self {
            repo,
            notices: broadcast::channel(NOTICE_CAPACITY).0,
            feeds: Arc::default(),
            courses: Arc::default(),
            poll,
            recent,
            outgoing: Arc::default(),
            health: Arc::new(watch::channel(FanoutHealth::Disabled).0),
            shutdown: Arc::new(watch::channel(false).0),
            connections: Arc::default(),
            metrics: None,
        }
    }

    /// Counts the feeds' reads and their lag behind the announcements in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Tells every WebSocket connection to close (1001), then waits up to `grace` for them.
    pub async fn shut_down(&self, grace: Duration) {
        self.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + grace;
        while self.connections.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn connection(&self) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard(self.connections.clone())
    }

    /// Announces that `event` reached `seq` here: to this instance's subscribers and, with
    /// Redis, to the other instances.
    pub fn notify(&self, event: Uuid, seq: i64) {
        let span = tracing::info_span!("live.notify", %event, seq);
        let trace = span.in_scope(TraceRef::current);
        let at_ms = chrono::Utc::now().timestamp_millis();
        self.receive(Notice::Advanced {
            event,
            seq,
            at_ms,
            trace,
        });
        self.outgoing.push(Announcement {
            event,
            seq,
            at_ms,
            trace,
        });
    }

    /// A notice from elsewhere (another instance, or a reconnect): this instance only.
    pub fn receive(&self, notice: Notice) {
        let _ = self.notices.send(notice);
    }

    pub fn health(&self) -> FanoutHealth {
        self.health.borrow().clone()
    }

    pub(crate) fn set_health(&self, health: FanoutHealth) {
        self.health.send_replace(health);
    }

    /// Turns on publishing to other instances; the fan-out task drains what `outgoing` holds.
    pub(crate) fn outgoing(&self) -> Arc<Outgoing> {
        self.outgoing.enabled.store(true, Ordering::Relaxed);
        self.outgoing.clone()
    }

    /// Follows `event` from `cursor`: every step, or with `bib` only the steps that change that
    /// entry. Call it *before* reading the state the cursor stands for (snapshot or `afterSeq`
    /// check), so no change can fall between the two.
    pub fn follow(&self, event: Uuid, cursor: i64, bib: Option<Bib>) -> ChangeFollower {
        let feed = {
            let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
            let feed = feeds.entry(event).or_insert_with(|| {
                let feed = Arc::new(Feed::new(self.recent));
                // Subscribed here, under the lock, so no notice after this call is missed.
                let notices = self.notices.subscribe();
                tokio::spawn(self.clone().run_feed(event, feed.clone(), notices));
                feed
            });
            feed.followers.fetch_add(1, Ordering::SeqCst);
            if bib.is_none() {
                feed.every_step.fetch_add(1, Ordering::Relaxed);
            }
            feed.clone()
        };
        let wake = bib.as_ref().map(|bib| feed.bib_signal(bib));
        ChangeFollower {
            repo: self.repo.clone(),
            event,
            cursor,
            feed,
            bib,
            wake,
            behind: true,
            pending: VecDeque::new(),
            seen: cursor,
        }
    }

    /// `event`'s course, one copy for all its subscriptions (a course never changes).
    pub fn course(&self, event: &Event) -> Arc<Course> {
        let mut courses = self.courses.lock().unwrap_or_else(|e| e.into_inner());
        courses
            .entry(event.id)
            .or_insert_with(|| Arc::new(event.course.clone()))
            .clone()
    }

    /// One event's feed: reads each new step once, keeps the recent ones and wakes the
    /// followers it concerns. Ends when the event has no follower left here.
    async fn run_feed(
        self,
        event: Uuid,
        feed: Arc<Feed>,
        mut notices: broadcast::Receiver<Notice>,
    ) {
        // Followers behind this point catch up from the log themselves (`Feed::after`).
        let mut last = match self.repo.event_seq(event).await {
            Ok(Some(seq)) => seq,
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(%event, error = %e, "live feed could not read the event's seq");
                0
            }
        };
        feed.start_at(last);
        let mut next_poll = tokio::time::Instant::now() + self.poll;
        loop {
            // A read prompted by a notice is traced, as a child of the span that announced the
            // step (here or on another instance); polls and resyncs are not.
            let (read, span, announced) = match tokio::time::timeout_at(next_poll, notices.recv())
                .await
            {
                Ok(Ok(Notice::Advanced {
                    event: e,
                    seq,
                    at_ms,
                    trace,
                })) => {
                    let read = e == event && seq > last;
                    let span = if read {
                        let span =
                            tracing::info_span!("live.feed_read", %event, after = last, upto = seq);
                        if let Some(trace) = trace {
                            trace.adopt(&span);
                        }
                        span
                    } else {
                        tracing::Span::none()
                    };
                    (read, span, Some((seq, at_ms)))
                }
                Ok(Ok(Notice::Resync)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    (true, tracing::Span::none(), None)
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
                Err(_elapsed) => (true, tracing::Span::none(), None),
            };
            if feed.followers.load(Ordering::SeqCst) == 0 {
                let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
                if feed.followers.load(Ordering::SeqCst) == 0 {
                    feeds.remove(&event);
                    drop(feeds);
                    self.courses
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&event);
                    return;
                }
            }
            if !read {
                continue;
            }
            next_poll = tokio::time::Instant::now() + self.poll;
            loop {
                match self
                    .repo
                    .changes(event, last, PAGE)
                    .instrument(span.clone())
                    .await
                {
                    Ok(page) => {
                        let full = page.len() as u64 == PAGE;
                        // Counted before anyone is woken, so a subscriber that got the step
                        // finds it counted.
                        if let Some(metrics) = &self.metrics {
                            let lag = announced
                                .filter(|&(seq, _)| page.iter().any(|c| c.seq == seq))
                                .and_then(|(_, at_ms)| {
                                    let ms = chrono::Utc::now().timestamp_millis() - at_ms;
                                    u64::try_from(ms).ok().map(Duration::from_millis)
                                });
                            metrics.live_feed_read(page.len() as u64, announced.is_some(), lag);
                        }
                        for change in page {
                            last = change.seq;
                            let push = tracing::info_span!(parent: &span, "live.push", seq = change.seq, frames = tracing::field::Empty);
                            let frames = push.in_scope(|| feed.publish(Arc::new(change)));
                            push.record("frames", frames);
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(e) => {
                        // The next notice or poll retries; followers stay where they are.
                        tracing::warn!(%event, error = %e, "live feed could not read the change log");
                        break;
                    }
                }
            }
        }
    }
}

/// One event's recent steps on this instance, shared by all its followers.
struct Feed {
    /// Steps `base + 1 ..= base + recent.len()`, without a gap; the last `keep` of them.
    recent: RwLock<(i64, VecDeque<Arc<EventChange>>)>,
    keep: usize,
    /// Woken on every step (leaderboards follow them all).
    any: Notify,
    /// Woken on the steps that change one bib, so following one athlete among thousands of
    /// subscribers wakes only that athlete's followers.
    bibs: Mutex<HashMap<Bib, Weak<Notify>>>,
    followers: AtomicUsize,
    /// Followers of every step (leaderboards); the others follow one bib.
    every_step: AtomicUsize,
}

/// What the feed holds after a follower's cursor.
enum After {
    /// The steps after the cursor that concern the follower, and the last step looked at.
    Steps(Vec<Arc<EventChange>>, i64),
    /// Some steps after the cursor are no longer (or not yet) held: read the log.
    Gap,
}

impl Feed {
    fn new(keep: usize) -> Self {
        Self {
            // Nothing known yet: every follower reads the log until the feed has started.
            recent: RwLock::new((i64::MAX, VecDeque::new())),
            keep,
            any: Notify::new(),
            bibs: Mutex::default(),
            followers: AtomicUsize::new(0),
            every_step: AtomicUsize::new(0),
        }
    }

    fn start_at(&self, seq: i64) {
        let mut recent = self.recent.write().unwrap_or_else(|e| e.into_inner());
        *recent = (seq, VecDeque::new());
    }

    /// Keeps `change` and wakes its followers; returns how many (each sends one frame).
    fn publish(&self, change: Arc<EventChange>) -> usize {
        {
            let mut recent = self.recent.write().unwrap_or_else(|e| e.into_inner());
            let (base, steps) = &mut *recent;
            steps.push_back(change.clone());
            if steps.len() > self.keep {
                if let Some(dropped) = steps.pop_front() {
                    *base = dropped.seq;
                }
            }
        }
        self.any.notify_waiters();
        let mut woken = self.every_step.load(Ordering::Relaxed);
        let bibs = self.bibs.lock().unwrap_or_else(|e| e.into_inner());
        for entry in &change.entries {
            if let Some(signal) = bibs.get(&entry.bib).and_then(Weak::upgrade) {
                signal.notify_waiters();
                // Every follower of the bib holds the signal; so does `signal` here.
                woken += Arc::strong_count(&signal) - 1;
            }
        }
        woken
    }

    /// The steps after `cursor` (of `bib`, when given).
    fn after(&self, cursor: i64, bib: Option<&Bib>) -> After {
        let recent = self.recent.read().unwrap_or_else(|e| e.into_inner());
        let (base, steps) = &*recent;
        if cursor < *base {
            return After::Gap;
        }
        let skip = usize::try_from(cursor - base).unwrap_or(usize::MAX);
        let upto = steps.back().map_or(cursor, |c| c.seq.max(cursor));
        After::Steps(
            steps
                .iter()
                .skip(skip)
                .filter(|c| bib.is_none_or(|bib| c.entries.iter().any(|e| &e.bib == bib)))
                .cloned()
                .collect(),
            upto,
        )
    }

    /// The signal of `bib`'s steps, shared by its followers.
    fn bib_signal(&self, bib: &Bib) -> Arc<Notify> {
        let mut bibs = self.bibs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(signal) = bibs.get(bib).and_then(Weak::upgrade) {
            return signal;
        }
        let signal = Arc::new(Notify::new());
        bibs.insert(bib.clone(), Arc::downgrade(&signal));
        signal
    }
}

/// Follows one event's change log from a cursor, step by step, in `seq` order, without gaps or
/// repeats (with a bib: the steps that change it). Ends when the store fails (the client then
/// resumes with `afterSeq`).
pub struct ChangeFollower {
    repo: Arc<dyn RaceRepository>,
    event: Uuid,
    /// The last step looked at.
    cursor: i64,
    feed: Arc<Feed>,
    bib: Option<Bib>,
    /// The bib's signal; `None`: the feed's signal for every step.
    wake: Option<Arc<Notify>>,
    /// The feed may not hold the steps after the cursor: read the log before listening again.
    behind: bool,
    pending: VecDeque<Arc<EventChange>>,
    /// Every step up to here has been looked at; the cursor moves here once `pending` is out.
    seen: i64,
}

impl Drop for ChangeFollower {
    fn drop(&mut self) {
        self.feed.followers.fetch_sub(1, Ordering::SeqCst);
        if self.bib.is_none() {
            self.feed.every_step.fetch_sub(1, Ordering::Relaxed);
        }
        if let (Some(bib), Some(wake)) = (&self.bib, self.wake.take()) {
            // Under the lock, so nobody picks up the signal while it goes away.
            let mut bibs = self.feed.bibs.lock().unwrap_or_else(|e| e.into_inner());
            drop(wake);
            if bibs.get(bib).is_some_and(|w| w.strong_count() == 0) {
                bibs.remove(bib);
            }
        }
    }
}

impl ChangeFollower {
    /// Moves the cursor to where the caller's snapshot stands (before the first `next`).
    pub fn start_at(&mut self, cursor: i64) {
        self.cursor = cursor;
        self.seen = cursor;
    }

    fn concerns(&self, change: &EventChange) -> bool {
        self.bib
            .as_ref()
            .is_none_or(|bib| change.entries.iter().any(|e| &e.bib == bib))
    }

    /// The next step after the cursor (that changes the bib, when following one).
    pub async fn next(&mut self) -> Option<Arc<EventChange>> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                if change.seq > self.cursor {
                    self.cursor = change.seq;
                    if self.concerns(&change) {
                        return Some(change);
                    }
                }
                continue;
            }
            self.cursor = self.cursor.max(self.seen);
            if self.behind {
                match self.repo.changes(self.event, self.cursor, PAGE).await {
                    Ok(page) => {
                        self.behind = page.len() as u64 == PAGE;
                        self.pending.extend(page.into_iter().map(Arc::new));
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(event = %self.event, error = %e, "change log read failed; ending subscription");
                        return None;
                    }
                }
            }
            let signal = self.wake.clone();
            let notified = match &signal {
                Some(signal) => signal.notified(),
                None => self.feed.any.notified(),
            };
            tokio::pin!(notified);
            // Registered before looking, so a step published in between still wakes us.
            notified.as_mut().enable();
            match self.feed.after(self.cursor, self.bib.as_ref()) {
                After::Gap => self.behind = true,
                After::Steps(steps, upto) => {
                    self.seen = upto;
                    if steps.is_empty() {
                        self.cursor = upto;
                        notified.await;
                    } else {
                        self.pending.extend(steps);
                    }
                }
            }
        }
    }
}
