//! Webhooks after the Standard Webhooks spec: each outbox message (lifecycle, amendments) goes
//! to every matching endpoint as `POST {"type", "timestamp", "data"}` with `webhook-id` (the
//! message id, the same on every retry), `webhook-timestamp` and `webhook-signature`
//! (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the endpoint's `whsec_` secret).
//! A dispatcher task per instance fans new messages out into deliveries and sends the due
//! ones. A failed attempt is retried on the spec's schedule (5 s, 5 min, 30 min, 2 h, 5 h,
//! then every 10 h, each ±20 % so recovering consumers are not hit by every instance at once;
//! later when the answer's `Retry-After` asks, up to 10 h) for `webhook_retry_window_secs`
//! (3 days), then given up (the dead letters: `webhookDeliveries(status: FAILED)`). `410 Gone`
//! disables the endpoint; so does a whole window of failures; either tells the owner
//! (`webhook.endpoint_disabled`). Deliveries are not ordered: every message's `data.seq` is
//! the event's step, consumers order by it.

use crate::app::AppState;
use crate::auth::{Principal, Scope};
use crate::config::{Mode, Settings};
use crate::error::ApiError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use podium_domain::model::{
    TOPIC_ATHLETE_FATIGUE_ALERT, TOPIC_ATHLETE_PERSONAL_BEST, TOPIC_EVENT_ANALYTICS_READY,
    TOPIC_EVENT_CANCELLED, TOPIC_EVENT_LIVE, TOPIC_EVENT_OFFICIAL, TOPIC_EVENT_PROVISIONAL,
    TOPIC_RESULT_AMENDED, TOPIC_WEBHOOK_ENDPOINT_DISABLED,
};
use podium_domain::ports::{
    AttemptOutcome, DeliveryQuery, DeliveryState, WebhookAttempt, WebhookDelivery, WebhookRecord,
};
use podium_domain::timing::Timestamp;
use rand::RngCore;
use std::net::IpAddr;
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

/// Every topic an endpoint can subscribe to.
pub const TOPICS: [&str; 9] = [
    TOPIC_EVENT_LIVE,
    TOPIC_EVENT_PROVISIONAL,
    TOPIC_EVENT_OFFICIAL,
    TOPIC_EVENT_CANCELLED,
    TOPIC_RESULT_AMENDED,
    TOPIC_ATHLETE_PERSONAL_BEST,
    TOPIC_EVENT_ANALYTICS_READY,
    TOPIC_WEBHOOK_ENDPOINT_DISABLED,
    TOPIC_ATHLETE_FATIGUE_ALERT,
];

/// Deliveries sent at the same time by one instance.
const CONCURRENT_DELIVERIES: usize = 8;
/// Longest wait between two attempts, also the most a `Retry-After` can ask.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10 * 3600);
/// The Standard Webhooks schedule, in units of `webhook_retry_base_ms` (5 s): 5 s, 5 min,
/// 30 min, 2 h, 5 h, then 10 h for every further retry.
const SCHEDULE: [u32; 6] = [1, 60, 360, 1440, 3600, 7200];
/// Jitter: each wait is drawn from ±this fraction around the schedule's.
const JITTER: f64 = 0.2;
/// Bytes of a response body kept with an attempt.
const EXCERPT_BYTES: usize = 512;

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

/// `webhook-signature` for a message: one `v1,` signature per secret, space-separated (the
/// new secret's first; during a rotation's overlap the previous one's too).
pub fn signatures(
    secrets: &[String],
    id: &str,
    timestamp: i64,
    body: &str,
) -> anyhow::Result<String> {
    let signed: anyhow::Result<Vec<String>> = secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect();
    Ok(signed?.join(" "))
}

/// The schedule's wait before the next attempt after `attempts` failed ones (no jitter).
pub fn retry_delay(attempts: u32, base: Duration) -> Duration {
    let step = (attempts.max(1) as usize - 1).min(SCHEDULE.len() - 1);
    base.saturating_mul(SCHEDULE[step])
        .min(MAX_RETRY_DELAY.max(base))
}

/// `delay` moved by `draw` (uniform in [0, 1)) within ±`JITTER`.
pub fn jittered(delay: Duration, draw: f64) -> Duration {
    delay.mul_f64(1.0 - JITTER + 2.0 * JITTER * draw.clamp(0.0, 1.0))
}

/// What a `Retry-After` header asks (RFC 9110: seconds, or an HTTP date), from `now`.
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// When to try a delivery again after its `attempts`-th failed attempt, or `None` to give up:
/// the schedule's wait with jitter (`draw`), or longer when the endpoint asked (`asked`,
/// capped at 10 h); given up after `max_attempts`, or when that would fall outside the
/// window that began at `run_started_at`.
pub fn next_attempt(
    settings: &Settings,
    attempts: u32,
    asked: Option<Duration>,
    run_started_at: Timestamp,
    now: Timestamp,
    draw: f64,
) -> Option<Timestamp> {
    if attempts >= settings.webhook_max_attempts {
        return None;
    }
    let scheduled = jittered(
        retry_delay(
            attempts,
            Duration::from_millis(settings.webhook_retry_base_ms),
        ),
        draw,
    );
    let wait = asked.map_or(scheduled, |asked| scheduled.max(asked.min(MAX_RETRY_DELAY)));
    let at = now.0.saturating_add(wait.as_millis() as i64);
    let window = Duration::from_secs(settings.webhook_retry_window_secs).as_millis() as i64;
    (at <= run_started_at.0.saturating_add(window)).then_some(Timestamp(at))
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
                let span = tracing::info_span!(
                    "webhook.deliver",
                    otel.kind = "client",
                    delivery = %delivery.id,
                    attempt = delivery.attempts + 1,
                    http.response.status_code = tracing::field::Empty,
                    outcome = tracing::field::Empty,
                );
                let (outcome, record) = attempt(state, client, &delivery, &endpoint)
                    .instrument(span.clone())
                    .await;
                let gone = record.status == Some(reqwest::StatusCode::GONE.as_u16());
                let label = match &outcome {
                    AttemptOutcome::Delivered => "delivered",
                    AttemptOutcome::Failed { retry_at: Some(_), .. } => "failed",
                    AttemptOutcome::Failed { retry_at: None, .. } => "gave_up",
                };
                span.record("outcome", label);
                state.metrics.webhook_attempt(
                    &endpoint.id.to_string(),
                    label,
                    started.elapsed().as_secs_f64(),
                );
                let gave_up = matches!(outcome, AttemptOutcome::Failed { retry_at: None, .. });
                if let Err(e) = state.webhooks.record_attempt(record, outcome).await {
                    tracing::warn!(error = %e, delivery = %delivery.id, "recording a webhook attempt");
                    return;
                }
                let disabled = if gone {
                    Some(format!(
                        "the endpoint answered 410 Gone to msg_{} at {}",
                        delivery.message_id.simple(),
                        now().to_chrono().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ))
                } else if gave_up {
                    failing_throughout(state, &delivery, &endpoint).await
                } else {
                    None
                };
                if let Some(reason) = disabled {
                    disable(state, &endpoint, &reason).await;
                }
            })
            .await;
    }
}

/// Whether the endpoint keeps failing: nothing was delivered to it since the delivery just
/// given up began its run (its retry window). The reason to disable it, if so.
async fn failing_throughout(
    state: &AppState,
    delivery: &WebhookDelivery,
    endpoint: &WebhookRecord,
) -> Option<String> {
    let last = match state.webhooks.last_delivered(endpoint.id).await {
        Ok(last) => last,
        Err(e) => {
            tracing::warn!(error = %e, webhook = %endpoint.id, "reading an endpoint's last delivery");
            return None;
        }
    };
    if last.is_some_and(|at| at >= delivery.run_started_at) {
        return None;
    }
    let since = last.map_or_else(
        || "since it was registered".to_owned(),
        |at| {
            format!(
                "since {}",
                at.to_chrono()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        },
    );
    Some(format!(
        "no delivery succeeded {since}; msg_{} was given up after {} attempts ({})",
        delivery.message_id.simple(),
        delivery.attempts + 1,
        delivery.last_error.as_deref().unwrap_or("failed"),
    ))
}

/// Disables `endpoint` for `reason` and tells its owner's other endpoints.
async fn disable(state: &AppState, endpoint: &WebhookRecord, reason: &str) {
    let at = Timestamp::from_chrono(chrono::Utc::now());
    let data = serde_json::json!({
        "webhookId": endpoint.id,
        "url": endpoint.url,
        "reason": reason,
        "disabledAt": at.to_chrono().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    match state
        .webhooks
        .disable_webhook(endpoint.id, reason, at, data)
        .await
    {
        Ok(true) => {
            tracing::warn!(webhook = %endpoint.id, url = %endpoint.url, %reason, "webhook endpoint disabled")
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, webhook = %endpoint.id, "disabling a webhook endpoint")
        }
    }
}

/// The secrets a message is signed with now: the current one, and the previous one during a
/// rotation's overlap.
fn signing_secrets(state: &AppState, endpoint: &WebhookRecord) -> anyhow::Result<Vec<String>> {
    let mut secrets = vec![state.sealer.open(&endpoint.secret)?];
    let now = chrono::Utc::now().timestamp_millis();
    if let (Some(previous), Some(until)) =
        (&endpoint.previous_secret, endpoint.previous_secret_until)
    {
        if now < until.0 {
            secrets.push(state.sealer.open(previous)?);
        }
    }
    Ok(secrets)
}

/// The first `EXCERPT_BYTES` of a response's body (never reading more).
async fn excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut kept = Vec::new();
    while kept.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(EXCERPT_BYTES);
    let text = String::from_utf8_lossy(&kept).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// One attempt: what came of it, and its record for the history.
async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    delivery: &WebhookDelivery,
    endpoint: &WebhookRecord,
) -> (AttemptOutcome, WebhookAttempt) {
    let settings: &Settings = &state.settings;
    let started_at = Timestamp::from_chrono(chrono::Utc::now());
    let started = std::time::Instant::now();
    let mut record = WebhookAttempt {
        delivery_id: delivery.id,
        webhook_id: endpoint.id,
        run_started_at: delivery.run_started_at,
        at: started_at,
        status: None,
        latency_ms: 0,
        response_excerpt: None,
        error: None,
    };
    let failed = |error: String, asked: Option<Duration>, record: &mut WebhookAttempt| {
        let attempts = delivery.attempts as u32 + 1;
        let retry_at = next_attempt(
            settings,
            attempts,
            asked,
            delivery.run_started_at,
            Timestamp::from_chrono(chrono::Utc::now()),
            rand::random::<f64>(),
        );
        tracing::info!(delivery = %delivery.id, url = %endpoint.url, %error, attempts, "webhook attempt failed");
        record.error = Some(error.clone());
        AttemptOutcome::Failed { error, retry_at }
    };
    let id = format!("msg_{}", delivery.message_id.simple());
    let timestamp = chrono::Utc::now().timestamp();
    let signature = match signing_secrets(state, endpoint)
        .and_then(|secrets| signatures(&secrets, &id, timestamp, &delivery.payload))
    {
        Ok(s) => s,
        Err(e) => {
            let outcome = failed(format!("signing: {e}"), None, &mut record);
            return (outcome, record);
        }
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
    let outcome = match sent {
        Ok(response) => {
            let status = response.status();
            tracing::Span::current().record("http.response.status_code", status.as_u16());
            record.status = Some(status.as_u16());
            let asked = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, chrono::Utc::now()));
            record.response_excerpt = excerpt(response).await;
            if status.is_success() {
                AttemptOutcome::Delivered
            } else if status == reqwest::StatusCode::GONE {
                // The endpoint is gone for good: no retry, and the endpoint is disabled.
                let error = "HTTP 410: the endpoint is gone; disabled".to_owned();
                record.error = Some(error.clone());
                AttemptOutcome::Failed {
                    error,
                    retry_at: None,
                }
            } else {
                failed(format!("HTTP {}", status.as_u16()), asked, &mut record)
            }
        }
        Err(e) if e.is_timeout() => failed(
            format!("timed out after {} ms", settings.webhook_timeout_ms),
            None,
            &mut record,
        ),
        Err(e) if e.is_connect() => failed("could not connect".into(), None, &mut record),
        Err(e) => failed(format!("request failed: {e}"), None, &mut record),
    };
    record.latency_ms = started.elapsed().as_millis() as i64;
    (outcome, record)
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
        enabled: true,
        disabled_reason: None,
        disabled_at: None,
        previous_secret: None,
        previous_secret_until: None,
        athlete_id: viewer.athlete_id(),
    };
    state.webhooks.create_webhook(webhook.clone()).await?;
    Ok((webhook, secret))
}

/// What may change on an endpoint (`None`: unchanged).
#[derive(Debug, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub topics: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Changes an endpoint's URL, topics or state. Its pending deliveries stay (they go to the new
/// URL); disabled, nothing is sent and deliveries wait within their retry window; enabled
/// again, they go out.
pub async fn update_webhook(
    state: &AppState,
    viewer: &Principal,
    id: Uuid,
    changes: WebhookChanges,
) -> Result<WebhookRecord, ApiError> {
    let mut webhook = visible_webhook(state, viewer, id).await?;
    if let Some(url) = changes.url {
        webhook.url = check_url(url.trim(), state.settings.mode)?.to_string();
    }
    if let Some(topics) = changes.topics {
        webhook.topics = check_topics(&topics)?;
    }
    match changes.enabled {
        Some(false) if webhook.enabled => {
            webhook.enabled = false;
            webhook.disabled_reason = Some(format!("disabled by {}", viewer.subject()));
            webhook.disabled_at = Some(Timestamp::from_chrono(chrono::Utc::now()));
        }
        Some(true) => {
            webhook.enabled = true;
            webhook.disabled_reason = None;
            webhook.disabled_at = None;
        }
        _ => {}
    }
    if !state.webhooks.update_webhook(webhook.clone()).await? {
        return Err(ApiError::NotFound(format!("webhook {id}")));
    }
    Ok(webhook)
}

/// Longest overlap of a secret rotation: a week.
pub const MAX_OVERLAP_SECS: u64 = 7 * 24 * 3600;

/// Gives an endpoint a new secret (answered this once); for `overlap_secs` messages are
/// signed with both, so the consumer can switch without losing one.
pub async fn rotate_secret(
    state: &AppState,
    viewer: &Principal,
    id: Uuid,
    overlap_secs: u64,
) -> Result<(WebhookRecord, String), ApiError> {
    if overlap_secs > MAX_OVERLAP_SECS {
        return Err(ApiError::BadRequest(format!(
            "overlapSecs: {overlap_secs} is more than a week ({MAX_OVERLAP_SECS})"
        )));
    }
    let mut webhook = visible_webhook(state, viewer, id).await?;
    let secret = new_secret();
    let now = chrono::Utc::now().timestamp_millis();
    webhook.previous_secret = (overlap_secs > 0).then(|| webhook.secret.clone());
    webhook.previous_secret_until =
        (overlap_secs > 0).then(|| Timestamp(now + overlap_secs as i64 * 1000));
    webhook.secret = state.sealer.seal(&secret).map_err(ApiError::Internal)?;
    if !state.webhooks.update_webhook(webhook.clone()).await? {
        return Err(ApiError::NotFound(format!("webhook {id}")));
    }
    Ok((webhook, secret))
}

/// Sends again what the endpoint would have received between `since` and `until` (now when
/// `None`), of `topics` (its own when empty): the same messages, with their `webhook-id`.
pub async fn replay(
    state: &AppState,
    viewer: &Principal,
    id: Uuid,
    since: Timestamp,
    until: Option<Timestamp>,
    topics: &[String],
) -> Result<u64, ApiError> {
    let webhook = visible_webhook(state, viewer, id).await?;
    let topics = check_topics(topics)?;
    let now = Timestamp::from_chrono(chrono::Utc::now());
    let until = until.unwrap_or(now);
    if until.0 <= since.0 {
        return Err(ApiError::BadRequest(format!(
            "until: {} is not after since ({})",
            until.to_chrono().to_rfc3339(),
            since.to_chrono().to_rfc3339()
        )));
    }
    Ok(state
        .webhooks
        .replay(webhook.id, since, until, &topics, now)
        .await?)
}

/// Sends one delivery again (a new run of attempts, the same `webhook-id`).
pub async fn redeliver(
    state: &AppState,
    viewer: &Principal,
    delivery_id: Uuid,
) -> Result<(WebhookDelivery, Vec<WebhookAttempt>), ApiError> {
    let not_found = || ApiError::NotFound(format!("webhook delivery {delivery_id}"));
    let delivery = state
        .webhooks
        .delivery(delivery_id)
        .await?
        .ok_or_else(not_found)?;
    // Someone who may not manage the endpoint learns nothing about its deliveries.
    visible_webhook(state, viewer, delivery.webhook_id)
        .await
        .map_err(|_| not_found())?;
    let restarted = state
        .webhooks
        .redeliver(delivery_id, Timestamp::from_chrono(chrono::Utc::now()))
        .await?
        .ok_or_else(not_found)?;
    let attempts = state.webhooks.attempts(&[delivery_id]).await?;
    Ok((restarted, attempts))
}

/// The latest deliveries of one endpoint, or of every endpoint `viewer` manages, in `state`
/// (all when `None`), with their attempts.
pub async fn deliveries(
    state: &AppState,
    viewer: &Principal,
    webhook_id: Option<Uuid>,
    wanted: Option<DeliveryState>,
    limit: u64,
) -> Result<Vec<(WebhookDelivery, Vec<WebhookAttempt>)>, ApiError> {
    let webhook_ids = match webhook_id {
        Some(id) => vec![visible_webhook(state, viewer, id).await?.id],
        None => managed_webhooks(state, viewer)
            .await?
            .into_iter()
            .map(|w| w.id)
            .collect(),
    };
    let found = state
        .webhooks
        .deliveries(DeliveryQuery {
            webhook_ids,
            state: wanted,
            limit,
        })
        .await?;
    let ids: Vec<Uuid> = found.iter().map(|d| d.id).collect();
    let mut attempts: std::collections::HashMap<Uuid, Vec<WebhookAttempt>> = Default::default();
    for attempt in state.webhooks.attempts(&ids).await? {
        attempts
            .entry(attempt.delivery_id)
            .or_default()
            .push(attempt);
    }
    Ok(found
        .into_iter()
        .map(|d| {
            let of = attempts.remove(&d.id).unwrap_or_default();
            (d, of)
        })
        .collect())
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
    fn retries_follow_the_standard_webhooks_schedule() {
        let base = Duration::from_secs(5);
        let waits: Vec<u64> = (1..=8).map(|n| retry_delay(n, base).as_secs()).collect();
        // 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 10 h.
        assert_eq!(waits, [5, 300, 1800, 7200, 18000, 36000, 36000, 36000]);
    }

    #[test]
    fn jitter_stays_within_a_fifth_of_the_wait() {
        let wait = Duration::from_secs(100);
        assert_eq!(jittered(wait, 0.0), Duration::from_secs(80));
        assert_eq!(jittered(wait, 0.5), Duration::from_secs(100));
        assert!(jittered(wait, 0.999_999) <= Duration::from_secs(120));
        let draws: Vec<Duration> = (0..100)
            .map(|_| jittered(wait, rand::random::<f64>()))
            .collect();
        assert!(draws.iter().all(|d| (80..=120).contains(&d.as_secs())));
        assert!(draws.iter().any(|d| *d != draws[0]), "the waits differ");
    }

    /// With the defaults a failing delivery is tried for about three days: 12 attempts, the
    /// last at 67 h 35 min; a 13th would fall at 77 h 35 min, past the window.
    #[test]
    fn a_delivery_is_retried_for_about_three_days_then_given_up() {
        let settings = Settings::default();
        let start = Timestamp(0);
        let (mut now, mut attempts) = (start, 1);
        while let Some(next) = next_attempt(&settings, attempts, None, start, now, 0.5) {
            now = next;
            attempts += 1;
        }
        assert_eq!(attempts, 12);
        assert_eq!(now.0, (67 * 3600 + 35 * 60 + 5) * 1000);
        // The window ends it, not the attempt cap.
        assert!(attempts < settings.webhook_max_attempts);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let settings = Settings {
            webhook_retry_base_ms: 10,
            ..Settings::default()
        };
        let now = Timestamp(1_000_000);
        let asked = |header: &str| {
            let wait = retry_after(header, now.to_chrono()).unwrap();
            next_attempt(&settings, 1, Some(wait), now, now, 0.5)
                .unwrap()
                .0
                - now.0
        };
        // The schedule says 10 ms; the endpoint asks for a second: a second it is.
        assert_eq!(asked("1"), 1000);
        let date = (now.to_chrono() + chrono::Duration::seconds(30)).to_rfc2822();
        assert_eq!(asked(&date), 30_000);
        // A day is more than anyone waits between two attempts: 10 h.
        assert_eq!(asked("86400"), 36_000_000);
        // Asking for less than the schedule does not hurry it.
        let hurried = next_attempt(&settings, 3, Some(Duration::ZERO), now, now, 0.5);
        assert_eq!(hurried.unwrap().0 - now.0, 3600);
        assert_eq!(retry_after("soon", now.to_chrono()), None);
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
