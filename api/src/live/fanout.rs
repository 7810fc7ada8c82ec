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

use crate::live::{FanoutHealth, LiveHub, Notice, Outgoing};
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

/// A message on the channel: `<instance> <event> <seq>`.
fn encode(instance: Uuid, event: Uuid, seq: i64) -> String {
    format!("{instance} {event} {seq}")
}

fn decode(payload: &str) -> Option<(Uuid, Uuid, i64)> {
    let mut parts = payload.split(' ');
    let instance = parts.next()?.parse().ok()?;
    let event = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((instance, event, seq))
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
                    Some((from, event, seq)) if from != instance => {
                        hub.receive(Notice::Advanced { event, seq });
                    }
                    Some(_) => {}
                    None => tracing::warn!(%payload, "ignoring a malformed fan-out message"),
                }
            }
            batch = outgoing.take() => {
                for (i, &(event, seq)) in batch.iter().enumerate() {
                    let sent = tokio::time::timeout(
                        ROUND_TRIP,
                        publisher.publish::<_, _, usize>(CHANNEL, encode(instance, event, seq)),
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
        assert_eq!(decode(&encode(a, b, 42)), Some((a, b, 42)));
        assert_eq!(decode("x y 1"), None);
        assert_eq!(decode(&format!("{a} {b}")), None);
        assert_eq!(decode(&format!("{a} {b} 1 extra")), None);
    }
}
