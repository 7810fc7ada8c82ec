//! In-process fan-out of "event X reached seq N" and the change follower that turns the
//! durable change log into an ordered, gap-free stream for one subscriber.
//!
//! The notification only says *that* something changed; what changed is always read from the
//! change log (`RaceRepository::changes`). So a subscriber that lags behind the broadcast
//! channel (`RecvError::Lagged`) loses nothing: it reads the log from its own cursor.

use podium_domain::live::EventChange;
use podium_domain::ports::RaceRepository;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Steps read from the change log per query while catching up.
const PAGE: u64 = 256;

#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<(Uuid, i64)>,
    /// Flips to `true` when the server shuts down: WebSocket connections close with 1001.
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    /// Open WebSocket connections, so shutdown can wait for their close frames.
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(1024).0,
            shutdown: Arc::new(tokio::sync::watch::channel(false).0),
            connections: Arc::default(),
        }
    }
}

/// Counts one open WebSocket connection while alive.
pub struct ConnectionGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl LiveHub {
    /// Tells every WebSocket connection to close (1001), then waits up to `grace` for them.
    pub async fn shut_down(&self, grace: std::time::Duration) {
        self.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + grace;
        while self.connections.load(std::sync::atomic::Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn connection(&self) -> ConnectionGuard {
        self.connections
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ConnectionGuard(self.connections.clone())
    }

    /// Announces that `event_id` reached `seq` (a no-op without subscribers).
    pub fn notify(&self, event_id: Uuid, seq: i64) {
        let _ = self.sender.send((event_id, seq));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<(Uuid, i64)> {
        self.sender.subscribe()
    }
}

/// Follows one event's change log from `cursor`, step by step, waiting on the hub when caught
/// up. Ends when the hub closes or the store fails (the client then resumes with `afterSeq`).
pub struct ChangeFollower {
    repo: Arc<dyn RaceRepository>,
    event_id: Uuid,
    cursor: i64,
    receiver: broadcast::Receiver<(Uuid, i64)>,
    pending: VecDeque<EventChange>,
}

impl ChangeFollower {
    /// `receiver` must be subscribed before the caller read the event's state at `cursor`, so
    /// no notification falls between the two.
    pub fn new(
        repo: Arc<dyn RaceRepository>,
        event_id: Uuid,
        cursor: i64,
        receiver: broadcast::Receiver<(Uuid, i64)>,
    ) -> Self {
        Self {
            repo,
            event_id,
            cursor,
            receiver,
            pending: VecDeque::new(),
        }
    }

    /// The next step after the cursor, in `seq` order.
    pub async fn next(&mut self) -> Option<EventChange> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                self.cursor = change.seq;
                return Some(change);
            }
            match self.repo.changes(self.event_id, self.cursor, PAGE).await {
                Ok(page) if !page.is_empty() => {
                    self.pending.extend(page);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(event_id = %self.event_id, error = %e, "change log read failed; ending subscription");
                    return None;
                }
            }
            loop {
                match self.receiver.recv().await {
                    Ok((event, seq)) if event == self.event_id && seq > self.cursor => break,
                    Ok(_) => continue,
                    // Missed notifications: the log has everything, read it.
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    }
}
