//! Cross-instance fan-out over Redis pub/sub (`redis_url`).
//!
//! Every instance publishes "event X reached seq N" on one channel and forwards what the others
//! publish to its own `LiveHub`. Pub/sub is at-most-once, and that is enough: a notice carries
//! no data, subscribers read the durable change log and fill any gap from it. What must not
//! happen is a notice lost for good, so:
//! - while Redis is away, this instance's notices are kept (latest seq per event) and published
//!   once it is back;
//! - after every (re)connect, local feeds re-read the log (`Notice::Resync`), covering what the
//!   other instances published while this one was not listening;
//! - feeds also poll the log every `live_poll_ms`, covering an instance that died between its
//!   commit and its publish.

use crate::live::{Announcement, FanoutHealth, LiveHub, Notice, Outgoing};
use crate::telemetry::TraceRef;
use futures::StreamExt;
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The pub/sub channel all instances share.
pub const CHANNEL: &str = "podium:changes";
/// Longest wait for one Redis round trip before the connection counts as lost.
const ROUND_TRIP: Duration = Duration::from_secs(2);
/// How often an idle connection is checked.
const HEARTBEAT: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Starts the fan-out task; it runs, reconnecting as needed, until the process ends.
pub fn start(hub: LiveHub, url: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
    let outgoing = hub.outgoing();
    hub.set_health(FanoutHealth::Degraded {
        since: chrono::Utc::now(),
        error: "connecting".into(),
    });
    tokio::spawn(run(hub, client, outgoing));
    Ok(())
}

/// A message on the channel: `<instance> <event> <seq> <announced at, Unix ms>`, then the W3C
/// `traceparent` of the span that announced the step when traces are exported (so a push on
/// another instance joins the ingest's trace).
fn encode(instance: Uuid, a: &Announcement) -> String {
    let (event, seq, at_ms) = (a.event, a.seq, a.at_ms);
    match a.trace {
        Some(trace) => format!("{instance} {event} {seq} {at_ms} {}", trace.traceparent()),
        None => format!("{instance} {event} {seq} {at_ms}"),
    }
}

/// A message, or `None` when it is not one. An unreadable `traceparent` only loses the link.
fn decode(payload: &str) -> Option<(Uuid, Announcement)> {
    let mut parts = payload.split(' ');
    let instance = parts.next()?.parse().ok()?;
    let announcement = Announcement {
        event: parts.next()?.parse().ok()?,
        seq: parts.next()?.parse().ok()?,
        at_ms: parts.next()?.parse().ok()?,
        trace: parts.next().and_then(TraceRef::parse),
    };
    parts.next().is_none().then_some((instance, announcement))
}

async fn run(hub: LiveHub, client: redis::Client, outgoing: Arc<Outgoing>) {
    let instance = Uuid::new_v4();
    let mut backoff = BACKOFF_MIN;
    loop {
        let error = session(&hub, &client, &outgoing, instance, &mut backoff).await;
        tracing::warn!(error = %error, retry_in = ?backoff, "redis fan-out lost; serving local subscribers, other instances' changes arrive by polling");
        let since = match hub.health() {
            FanoutHealth::Degraded { since, .. } => since,
            _ => chrono::Utc::now(),
        };
        hub.set_health(FanoutHealth::Degraded {
            since,
            error: error.to_string(),
        });
        // Full jitter keeps a fleet of instances from reconnecting in lock step.
        let jitter = rand::random::<f64>() * backoff.as_secs_f64() / 2.0;
        tokio::time::sleep(backoff / 2 + Duration::from_secs_f64(jitter)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connected period: subscribe, then forward both ways until something fails.
async fn session(
    hub: &LiveHub,
    client: &redis::Client,
    outgoing: &Outgoing,
    instance: Uuid,
    backoff: &mut Duration,
) -> anyhow::Error {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(CHANNEL).await?;
        let publisher = client.get_multiplexed_async_connection().await?;
        Ok::<_, redis::RedisError>((pubsub, publisher))
    };
    let (pubsub, mut publisher) = match tokio::time::timeout(ROUND_TRIP, connect).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(e)) => return e.into(),
        Err(_) => return anyhow::anyhow!("connecting timed out"),
    };
    *backoff = BACKOFF_MIN;
    if hub.health() != FanoutHealth::Connected {
        tracing::info!("redis fan-out connected");
    }
    hub.set_health(FanoutHealth::Connected);
    // Whatever the other instances published while we were not listening.
    hub.receive(Notice::Resync);
    let mut messages = pubsub.into_on_message();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return anyhow::anyhow!("subscription connection closed");
                };
                let payload = String::from_utf8_lossy(message.get_payload_bytes());
                match decode(&payload) {
                    Some((from, a)) if from != instance => {
                        hub.receive(Notice::Advanced {
                            event: a.event,
                            seq: a.seq,
                            at_ms: a.at_ms,
                            trace: a.trace,
                        });
                    }
                    Some(_) => {}
                    None => tracing::warn!(%payload, "ignoring a malformed fan-out message"),
                }
            }
            batch = outgoing.take() => {
                for (i, announcement) in batch.iter().enumerate() {
                    let sent = tokio::time::timeout(
                        ROUND_TRIP,
                        publisher.publish::<_, _, usize>(CHANNEL, encode(instance, announcement)),
                    )
                    .await;
                    let error = match sent {
                        Ok(Ok(_)) => continue,
                        Ok(Err(e)) => anyhow::Error::from(e),
                        Err(_) => anyhow::anyhow!("publishing timed out"),
                    };
                    outgoing.restore(batch[i..].iter().copied());
                    return error;
                }
            }
            _ = heartbeat.tick() => {
                match tokio::time::timeout(ROUND_TRIP, redis::cmd("PING").query_async::<String>(&mut publisher)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return e.into(),
                    Err(_) => return anyhow::anyhow!("ping timed out"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut announcement = Announcement {
            event: b,
            seq: 42,
            at_ms: 1_764_000_000_000,
            trace: None,
        };
        assert_eq!(decode(&encode(a, &announcement)), Some((a, announcement)));
        announcement.trace =
            TraceRef::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert!(announcement.trace.is_some());
        assert_eq!(decode(&encode(a, &announcement)), Some((a, announcement)));
        // A notice whose trace cannot be read still announces the step.
        announcement.trace = None;
        assert_eq!(
            decode(&format!("{a} {b} 42 1764000000000 garbage")),
            Some((a, announcement))
        );
        assert_eq!(decode("x y 1 2"), None);
        assert_eq!(decode(&format!("{a} {b} 1")), None);
        assert_eq!(decode(&format!("{a} {b} 1 2 3 extra")), None);
    }
}
