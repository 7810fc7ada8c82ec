//! Live fan-out: from "event X reached seq N" to an ordered, gap-free stream of change-log steps
//! for every subscriber.
//!
//! Three layers, each allowed to lose messages because the one below never does:
//! - **Notices** (`Notice`): in-process broadcast of "event X reached seq N" from whoever wrote
//!   the change (ingest, corrections, lifecycle), and, with Redis, from other instances
//!   (`fanout`). A notice carries no data.
//! - **Feeds**: one task per event with subscribers on this instance. On a notice (or a
//!   `Resync`, or every `live_poll_ms` when nothing arrives) it reads the new steps from the
//!   durable change log *once* and broadcasts them to that event's subscribers, so 10,000
//!   subscribers cost one query per change, not 10,000.
//! - **Followers** (`ChangeFollower`): one per subscription, holding its own cursor. A step
//!   that does not follow its cursor (a gap), or a lagging feed receiver, makes it read the log
//!   itself from the cursor; so a slow subscriber only ever delays itself.

use podium_domain::course::Course;
use podium_domain::live::EventChange;
use podium_domain::model::Event;
use podium_domain::ports::RaceRepository;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// Steps read from the change log per query while catching up.
const PAGE: u64 = 256;
/// Steps a feed buffers per subscriber before that subscriber counts as lagging.
const FEED_CAPACITY: usize = 1024;

/// Something may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// `event` reached `seq`.
    Advanced { event: Uuid, seq: i64 },
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

type Feeds = HashMap<Uuid, broadcast::Sender<Arc<EventChange>>>;

#[derive(Clone)]
pub struct LiveHub {
    repo: Arc<dyn RaceRepository>,
    notices: broadcast::Sender<Notice>,
    feeds: Arc<Mutex<Feeds>>,
    /// The course of each event with a feed, shared by its subscriptions.
    courses: Arc<Mutex<HashMap<Uuid, Arc<Course>>>>,
    /// How long a feed waits for a notice before it checks the log anyway.
    poll: Duration,
    /// Latest seq per event announced here and not yet published to other instances.
    outgoing: Arc<Outgoing>,
    health: Arc<watch::Sender<FanoutHealth>>,
    /// Flips to `true` when the server shuts down: WebSocket connections close with 1001.
    shutdown: Arc<watch::Sender<bool>>,
    /// Open WebSocket connections, so shutdown can wait for their close frames.
    connections: Arc<AtomicUsize>,
}

/// Changes to publish to other instances, coalesced to the latest seq per event, so a Redis
/// outage costs memory per event, not per change.
#[derive(Default)]
pub struct Outgoing {
    pending: Mutex<HashMap<Uuid, i64>>,
    ready: tokio::sync::Notify,
    enabled: std::sync::atomic::AtomicBool,
}

impl Outgoing {
    fn push(&self, event: Uuid, seq: i64) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let latest = pending.entry(event).or_insert(seq);
        *latest = (*latest).max(seq);
        drop(pending);
        self.ready.notify_one();
    }

    /// Takes everything pending (waiting until there is something).
    pub async fn take(&self) -> Vec<(Uuid, i64)> {
        loop {
            let batch: Vec<_> = self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain()
                .collect();
            if !batch.is_empty() {
                return batch;
            }
            self.ready.notified().await;
        }
    }

    /// Puts back what could not be published (keeping a newer seq that arrived meanwhile).
    pub fn restore(&self, batch: impl IntoIterator<Item = (Uuid, i64)>) {
        for (event, seq) in batch {
            self.push(event, seq);
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
    pub fn new(repo: Arc<dyn RaceRepository>, poll: Duration) -> Self {
        Self {
            repo,
            notices: broadcast::channel(FEED_CAPACITY).0,
            feeds: Arc::default(),
            courses: Arc::default(),
            poll,
            outgoing: Arc::default(),
            health: Arc::new(watch::channel(FanoutHealth::Disabled).0),
            shutdown: Arc::new(watch::channel(false).0),
            connections: Arc::default(),
        }
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
        self.receive(Notice::Advanced { event, seq });
        self.outgoing.push(event, seq);
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

    /// Follows `event` from `cursor`. Call it *before* reading the state the cursor stands for
    /// (snapshot or `afterSeq` check), so no change can fall between the two.
    pub fn follow(&self, event: Uuid, cursor: i64) -> ChangeFollower {
        let receiver = {
            let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
            match feeds.get(&event) {
                Some(sender) => sender.subscribe(),
                None => {
                    let sender = broadcast::channel(FEED_CAPACITY).0;
                    let receiver = sender.subscribe();
                    feeds.insert(event, sender.clone());
                    // Subscribed here, under the lock, so no notice after this call is missed.
                    let notices = self.notices.subscribe();
                    tokio::spawn(self.clone().run_feed(event, sender, notices));
                    receiver
                }
            }
        };
        ChangeFollower {
            repo: self.repo.clone(),
            event,
            cursor,
            feed: receiver,
            behind: true,
            pending: VecDeque::new(),
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

    /// Number of events with a feed on this instance.
    pub fn feeds(&self) -> usize {
        self.feeds.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// One event's feed: reads each new step once and broadcasts it. Ends when the event has
    /// no follower left here.
    async fn run_feed(
        self,
        event: Uuid,
        sender: broadcast::Sender<Arc<EventChange>>,
        mut notices: broadcast::Receiver<Notice>,
    ) {
        // Followers created before this read catch up from the log themselves; a step this
        // feed then skips shows up to them as a gap, which they fill from the log.
        let mut last = match self.repo.event_seq(event).await {
            Ok(Some(seq)) => seq,
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(%event, error = %e, "live feed could not read the event's seq");
                0
            }
        };
        let mut next_poll = tokio::time::Instant::now() + self.poll;
        loop {
            let read = match tokio::time::timeout_at(next_poll, notices.recv()).await {
                Ok(Ok(Notice::Advanced { event: e, seq })) => e == event && seq > last,
                Ok(Ok(Notice::Resync)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => true,
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
                Err(_elapsed) => true,
            };
            if sender.receiver_count() == 0 {
                let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
                if sender.receiver_count() == 0 {
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
                match self.repo.changes(event, last, PAGE).await {
                    Ok(page) => {
                        let full = page.len() as u64 == PAGE;
                        for change in page {
                            last = change.seq;
                            let _ = sender.send(Arc::new(change));
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

/// Follows one event's change log from a cursor, step by step, in `seq` order, without gaps or
/// repeats. Ends when the store fails (the client then resumes with `afterSeq`).
pub struct ChangeFollower {
    repo: Arc<dyn RaceRepository>,
    event: Uuid,
    cursor: i64,
    feed: broadcast::Receiver<Arc<EventChange>>,
    /// The feed may be ahead of the cursor: read the log before listening again.
    behind: bool,
    pending: VecDeque<Arc<EventChange>>,
}

impl ChangeFollower {
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Moves the cursor to where the caller's snapshot stands (before the first `next`).
    pub fn start_at(&mut self, cursor: i64) {
        self.cursor = cursor;
    }

    /// The step after the cursor.
    pub async fn next(&mut self) -> Option<Arc<EventChange>> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                if change.seq > self.cursor {
                    self.cursor = change.seq;
                    return Some(change);
                }
                continue;
            }
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
            match self.feed.recv().await {
                Ok(change) if change.seq <= self.cursor => {}
                Ok(change) if change.seq == self.cursor + 1 => {
                    self.cursor = change.seq;
                    return Some(change);
                }
                // A gap (the feed started after our catch-up read) or missed steps: the log has
                // everything.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.behind = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
