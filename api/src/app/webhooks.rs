//! Webhooks after the Standard Webhooks spec: each outbox message (lifecycle, amendments) goes
//! to every matching endpoint as `POST {"type", "timestamp", "data"}` with `webhook-id` (the
//! message id, the same on every retry), `webhook-timestamp` and `webhook-signature`
//! (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the endpoint's `whsec_` secret).
//! A dispatcher task per instance fans new messages out into deliveries and sends the due
//! ones; a failed attempt is retried after 5 s, 30 s, 3 min, 18 min … (at most 10 h apart)
//! until `webhook_max_attempts`, then given up (visible in `webhookDeliveries`).

use crate::app::AppState;
use crate::auth::{Principal, Scope};
use crate::config::{Mode, Settings};
use crate::error::ApiError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use podium_domain::model::{
    TOPIC_ATHLETE_PERSONAL_BEST, TOPIC_EVENT_ANALYTICS_READY, TOPIC_EVENT_CANCELLED,
    TOPIC_EVENT_LIVE, TOPIC_EVENT_OFFICIAL, TOPIC_EVENT_PROVISIONAL, TOPIC_RESULT_AMENDED,
};
use podium_domain::ports::{AttemptOutcome, WebhookDelivery, WebhookRecord};
use podium_domain::timing::Timestamp;
use rand::RngCore;
use std::net::IpAddr;
use std::time::Duration;
use uuid::Uuid;

/// Every topic an endpoint can subscribe to.
pub const TOPICS: [&str; 7] = [
    TOPIC_EVENT_LIVE,
    TOPIC_EVENT_PROVISIONAL,
    TOPIC_EVENT_OFFICIAL,
    TOPIC_EVENT_CANCELLED,
    TOPIC_RESULT_AMENDED,
    TOPIC_ATHLETE_PERSONAL_BEST,
    TOPIC_EVENT_ANALYTICS_READY,
];

/// Deliveries sent at the same time by one instance.
const CONCURRENT_DELIVERIES: usize = 8;
/// Longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10 * 3600);

/// A new signing secret: `whsec_` + 24 random bytes in base64.
pub fn new_secret() -> String {
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("whsec_{}", STANDARD.encode(raw))
}

/// The `webhook-signature` value for a message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> anyhow::Result<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret))?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key)?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Wait before the next attempt after `attempts` failed ones.
pub fn retry_delay(attempts: u32, base: Duration) -> Duration {
    let factor = 6u32.saturating_pow(attempts.saturating_sub(1));
    base.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

/// An endpoint URL podium may call: http(s) with a host; in production https only and never
/// a loopback, private or link-local address (no requests into podium's own network).
pub fn check_url(raw: &str, mode: Mode) -> Result<reqwest::Url, ApiError> {
    let bad = |why: &str| ApiError::BadRequest(format!("url: `{raw}` {why}"));
    let url = reqwest::Url::parse(raw).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if mode == Mode::Development => {}
        "http" => return Err(bad("must be https in production")),
        _ => return Err(bad("must be an http(s) URL")),
    }
    let host = url.host_str().ok_or_else(|| bad("has no host"))?;
    if mode == Mode::Production {
        let internal = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => {
                ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
            }
            Ok(IpAddr::V6(ip)) => {
                ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00
            }
            Err(_) => host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost"),
        };
        if internal {
            return Err(bad("points into a private network"));
        }
    }
    Ok(url)
}

/// Topics named by an endpoint registration, checked.
pub fn check_topics(topics: &[String]) -> Result<Vec<String>, ApiError> {
    let mut checked: Vec<String> = Vec::new();
    for topic in topics {
        let topic = topic.trim();
        if !TOPICS.contains(&topic) {
            return Err(ApiError::BadRequest(format!(
                "topics: `{topic}` is not one of {}",
                TOPICS.join(", ")
            )));
        }
        if !checked.iter().any(|t| t == topic) {
            checked.push(topic.to_owned());
        }
    }
    Ok(checked)
}

/// Starts the dispatcher: until the process ends, every `webhook_poll_ms` it fans new outbox
/// messages out and sends the due deliveries.
pub fn start(state: AppState) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(state.settings.webhook_timeout_ms))
        // A redirect could lead anywhere, including into podium's own network.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("podium-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(state.settings.webhook_poll_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut measured: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            if let Err(e) = round(&state, &client).await {
                tracing::warn!(error = %e, "webhook dispatcher");
            }
            if measured.is_none_or(|at| at.elapsed() >= BACKLOG_EVERY) {
                measured = Some(std::time::Instant::now());
                if let Err(e) = measure_backlog(&state).await {
                    tracing::warn!(error = %e, "webhook backlog");
                }
            }
        }
    });
    Ok(())
}

/// How often the dispatcher counts the backlog for `/metrics` (a scan of the deliveries not
/// done yet).
const BACKLOG_EVERY: Duration = Duration::from_secs(10);

async fn measure_backlog(state: &AppState) -> anyhow::Result<()> {
    let (waiting, oldest) = state.webhooks.backlog().await?;
    let age = oldest.map_or(0.0, |t| {
        ((chrono::Utc::now().timestamp_millis() - t.0).max(0) as f64) / 1000.0
    });
    state.metrics.webhook_backlog(waiting, age);
    Ok(())
}

/// One round: dispatch everything new, then send what is due (in batches).
async fn round(state: &AppState, client: &reqwest::Client) -> anyhow::Result<()> {
    let now = || Timestamp::from_chrono(chrono::Utc::now());
    while state.webhooks.dispatch_outbox(100, now()).await? == 100 {}
    let lease = Duration::from_millis(state.settings.webhook_timeout_ms) + Duration::from_secs(30);
    loop {
        let claimed_at = now();
        let lease_until = Timestamp(claimed_at.0 + lease.as_millis() as i64);
        let due = state
            .webhooks
            .claim_deliveries(claimed_at, lease_until, 32)
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENT_DELIVERIES, |(delivery, endpoint)| async move {
                let started = std::time::Instant::now();
                let outcome = attempt(state, client, &delivery, &endpoint).await;
                let label = match &outcome {
                    AttemptOutcome::Delivered => "delivered",
                    AttemptOutcome::Failed { retry_at: Some(_), .. } => "failed",
                    AttemptOutcome::Failed { retry_at: None, .. } => "gave_up",
                };
                state
                    .metrics
                    .webhook_attempt(label, started.elapsed().as_secs_f64());
                if let Err(e) = state
                    .webhooks
                    .record_attempt(delivery.id, now(), outcome)
                    .await
                {
                    tracing::warn!(error = %e, delivery = %delivery.id, "recording a webhook attempt");
                }
            })
            .await;
    }
}

async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    delivery: &WebhookDelivery,
    endpoint: &WebhookRecord,
) -> AttemptOutcome {
    let settings: &Settings = &state.settings;
    let failed = |error: String| {
        let attempts = delivery.attempts as u32 + 1;
        let retry_at = (attempts < settings.webhook_max_attempts).then(|| {
            let delay = retry_delay(
                attempts,
                Duration::from_millis(settings.webhook_retry_base_ms),
            );
            Timestamp(chrono::Utc::now().timestamp_millis() + delay.as_millis() as i64)
        });
        tracing::info!(delivery = %delivery.id, url = %endpoint.url, %error, attempts, "webhook attempt failed");
        AttemptOutcome::Failed { error, retry_at }
    };
    let id = format!("msg_{}", delivery.message_id.simple());
    let timestamp = chrono::Utc::now().timestamp();
    let signature = match state
        .sealer
        .open(&endpoint.secret)
        .and_then(|secret| sign(&secret, &id, timestamp, &delivery.payload))
    {
        Ok(s) => s,
        Err(e) => return failed(format!("signing: {e}")),
    };
    let sent = client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => AttemptOutcome::Delivered,
        Ok(response) => failed(format!("HTTP {}", response.status().as_u16())),
        Err(e) if e.is_timeout() => failed("timed out".into()),
        Err(e) if e.is_connect() => failed("could not connect".into()),
        Err(e) => failed(format!("request failed: {e}")),
    }
}

/// Whether `viewer` manages `webhook`: admins every endpoint, venue operators their venue's.
pub fn may_manage(viewer: &Principal, webhook: &WebhookRecord) -> Result<(), ApiError> {
    viewer.require_at_venue(Scope::WebhooksManage, webhook.venue_id)
}

/// The endpoint `id`, when `viewer` manages it.
pub async fn visible_webhook(
    state: &AppState,
    viewer: &Principal,
    id: Uuid,
) -> Result<WebhookRecord, ApiError> {
    let webhook = state
        .webhooks
        .webhook(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook {id}")))?;
    may_manage(viewer, &webhook)?;
    Ok(webhook)
}

/// The endpoints `viewer` manages.
pub async fn managed_webhooks(
    state: &AppState,
    viewer: &Principal,
) -> Result<Vec<WebhookRecord>, ApiError> {
    let all = state.webhooks.webhooks().await?;
    Ok(all
        .into_iter()
        .filter(|w| may_manage(viewer, w).is_ok())
        .collect())
}

/// Registers an endpoint for `viewer` (for `venue_id`'s events, or every event); answers it
/// with its signing secret, which is stored sealed and shown this once.
pub async fn create_webhook(
    state: &AppState,
    viewer: &Principal,
    url: &str,
    topics: &[String],
    venue_id: Option<Uuid>,
) -> Result<(WebhookRecord, String), ApiError> {
    viewer.require_at_venue(Scope::WebhooksManage, venue_id)?;
    if let Some(venue) = venue_id {
        if state.repo.venue(venue).await?.is_none() {
            return Err(ApiError::NotFound(format!("venue {venue}")));
        }
    }
    let url = check_url(url.trim(), state.settings.mode)?;
    let topics = check_topics(topics)?;
    let secret = new_secret();
    let webhook = WebhookRecord {
        id: Uuid::now_v7(),
        venue_id,
        url: url.to_string(),
        secret: state.sealer.seal(&secret).map_err(ApiError::Internal)?,
        topics,
        created_by: viewer.subject().to_owned(),
        created_at: Timestamp::from_chrono(chrono::Utc::now()),
    };
    state.webhooks.create_webhook(webhook.clone()).await?;
    Ok((webhook, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn retries_back_off_six_fold_up_to_ten_hours() {
        let base = Duration::from_secs(5);
        assert_eq!(retry_delay(1, base), Duration::from_secs(5));
        assert_eq!(retry_delay(2, base), Duration::from_secs(30));
        assert_eq!(retry_delay(3, base), Duration::from_secs(180));
        assert_eq!(retry_delay(20, base), MAX_RETRY_DELAY);
    }

    #[test]
    fn production_endpoints_are_public_https_urls() {
        assert!(check_url("http://127.0.0.1:9000/hook", Mode::Development).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/x",
            "https://[::1]/x",
            "ftp://example.com/x",
            "not a url",
        ] {
            assert!(check_url(bad, Mode::Production).is_err(), "{bad}");
        }
        assert!(check_url("https://hooks.example.com/podium", Mode::Production).is_ok());
        assert!(
            check_topics(&["event.official".into(), "event.official".into()])
                .unwrap()
                .len()
                == 1
        );
        assert!(check_topics(&["event.exploded".into()]).is_err());
    }
}
