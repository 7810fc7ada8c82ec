//! The database's availability as this instance sees it. Timing software retries what fails,
//! so it needs a fast, honest answer: once a request found the database unreachable (no
//! connection within `database_acquire_timeout_ms`, or a broken one), every request that needs
//! the database is answered 503 `DATABASE_UNAVAILABLE` with `Retry-After` at once, until a
//! probe reaches the database again.

use podium_domain::ports::RaceRepository;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Time between probes while the database is down (each also waits up to the acquire timeout).
const PROBE_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
pub struct DatabaseGate {
    down: AtomicBool,
}

impl DatabaseGate {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// A request found the database unreachable: answer the next ones at once, and probe
    /// until it answers again.
    pub fn report_down(self: &Arc<Self>, repo: Arc<dyn RaceRepository>) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!("database unreachable: answering 503 until it is back");
        let gate = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if repo.ping().await.is_ok() {
                    gate.down.store(false, Ordering::Release);
                    tracing::info!("database reachable again");
                    return;
                }
            }
        });
    }
}
