//! Rate limits by tier (GCRA, governor): each caller — an API client, a token subject, or an
//! anonymous address — has a budget of cost units per minute; a GraphQL request costs its
//! computed complexity, other requests a flat cost. With `redis_url` the budgets are shared
//! by every instance (the same GCRA in a Lua script, one round trip per charge); when Redis
//! does not answer, each instance falls back to its own limits and `/readyz` says so.

use crate::auth::Tier;
use crate::config::Settings;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest wait for Redis before a charge falls back to the local limiter.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After a Redis failure, how long charges stay local before Redis is tried again.
const REDIS_RETRY: Duration = Duration::from_secs(1);
/// The window the budgets are expressed in.
const WINDOW_SECS: u64 = 60;

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The outcome of one charge, with what the `RateLimit` headers report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub tier: Tier,
    /// Cost units per minute.
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the budget is full again.
    pub reset_secs: u64,
    /// Set when refused: seconds until this charge would pass.
    pub retry_after_secs: Option<u64>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.retry_after_secs.is_none()
    }

    /// Why a refused charge was refused, for the error message.
    pub fn explain(&self) -> String {
        format!(
            "the {} tier allows {} cost units per minute; retry in {} s",
            self.tier.as_str(),
            self.limit,
            self.retry_after_secs.unwrap_or(1)
        )
    }

    /// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers), and
    /// `Retry-After` when refused.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let name = self.tier.as_str();
        let pairs = [
            (
                HeaderName::from_static("ratelimit-policy"),
                format!("\"{name}\";q={};w={WINDOW_SECS}", self.limit),
            ),
            (
                HeaderName::from_static("ratelimit"),
                format!("\"{name}\";r={};t={}", self.remaining, self.reset_secs),
            ),
        ];
        for (header, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(header, value);
            }
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }
}

/// What a REST request handling `rows` rows costs: 1 per started 100 (timing hardware posts
/// small batches often).
pub fn rows_cost(rows: usize) -> u32 {
    u32::try_from(rows.div_ceil(100).max(1)).unwrap_or(u32::MAX)
}

/// Where budgets are kept, as reported by `/readyz`.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitsHealth {
    /// No Redis configured: per-instance limits.
    Local,
    /// Shared through Redis.
    Shared,
    /// Redis configured but not answering: per-instance limits meanwhile.
    Fallback {
        since: chrono::DateTime<chrono::Utc>,
        error: String,
    },
}

struct TierLimits {
    tier: Tier,
    per_minute: u32,
    local: Keyed,
}

/// GCRA in Redis: `KEYS[1]` the budget, `ARGV` burst, emission interval (µs), cost. Returns
/// allowed (0/1), remaining, retry-after (µs), reset-after (µs). Time is Redis's own clock, so
/// instances with skewed clocks agree.
const GCRA: &str = r#"
local burst = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - interval * burst
if allow_at > now then
  local remaining = math.floor((now - (tat - interval * burst)) / interval)
  return {0, remaining, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
"#;

struct Shared {
    client: redis::Client,
    script: redis::Script,
    connection: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// Set while Redis is failing: since when, why, and when to try again.
    down: Mutex<Option<(chrono::DateTime<chrono::Utc>, String, Instant)>>,
}

#[derive(Clone)]
pub struct RateLimits {
    tiers: Arc<Vec<TierLimits>>,
    shared: Option<Arc<Shared>>,
    /// Where refusals are counted.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl RateLimits {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let tiers = Tier::ALL
            .into_iter()
            .map(|tier| {
                let per_minute = TierPolicy::of(settings, tier).per_minute;
                let quota = NonZeroU32::new(per_minute)
                    .map(Quota::per_minute)
                    .ok_or_else(|| {
                        anyhow::anyhow!("rate_limit_{} must be at least 1", tier.as_str())
                    })?;
                Ok(TierLimits {
                    tier,
                    per_minute,
                    local: RateLimiter::dashmap(quota)
                        .with_middleware::<StateInformationMiddleware>(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let shared = match &settings.redis_url {
            None => None,
            Some(url) => Some(Arc::new(Shared {
                client: redis::Client::open(secrecy::ExposeSecret::expose_secret(url))
                    .map_err(|e| anyhow::anyhow!("redis_url: {e}"))?,
                script: redis::Script::new(GCRA),
                connection: tokio::sync::Mutex::new(None),
                down: Mutex::new(None),
            })),
        };
        Ok(Self {
            tiers: Arc::new(tiers),
            shared,
            metrics: None,
        })
    }

    /// These limits, counting refusals in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn tier(&self, tier: Tier) -> &TierLimits {
        self.tiers
            .iter()
            .find(|t| t.tier == tier)
            .expect("every tier has limits")
    }

    /// Takes `cost` units from `key`'s budget in `tier`, or refuses without taking any (a
    /// caller over HTTP).
    pub async fn charge(&self, tier: Tier, key: &str, cost: u32) -> Decision {
        self.charge_over("http", tier, key, cost).await
    }

    /// `charge`, for a caller over `transport` (`http`, `websocket`), as the refusals count it.
    pub async fn charge_over(
        &self,
        transport: &'static str,
        tier: Tier,
        key: &str,
        cost: u32,
    ) -> Decision {
        let limits = self.tier(tier);
        let cost = cost.clamp(1, limits.per_minute);
        let shared = match &self.shared {
            Some(shared) => shared.charge(limits, key, cost).await,
            None => None,
        };
        let decision = shared.unwrap_or_else(|| local_charge(limits, key, cost));
        if let (Some(metrics), Some(_)) = (&self.metrics, decision.retry_after_secs) {
            metrics.rate_limited(tier.as_str(), transport);
        }
        decision
    }

    /// A refusal decided elsewhere (a WebSocket's message rate, its subscription cap).
    pub fn refused(&self, tier: Tier, transport: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.rate_limited(tier.as_str(), transport);
        }
    }

    /// Charges `principal` (in its tier, under its key; anonymous callers by `peer`).
    pub async fn charge_caller(
        &self,
        principal: &crate::auth::Principal,
        peer: Option<std::net::IpAddr>,
        cost: u32,
    ) -> Decision {
        self.charge(principal.tier(), &principal.limit_key(peer), cost)
            .await
    }

    pub fn health(&self) -> LimitsHealth {
        match &self.shared {
            None => LimitsHealth::Local,
            Some(shared) => match &*shared.down.lock().unwrap_or_else(|e| e.into_inner()) {
                None => LimitsHealth::Shared,
                Some((since, error, _)) => LimitsHealth::Fallback {
                    since: *since,
                    error: error.clone(),
                },
            },
        }
    }

    /// Forgets callers whose budget is full again, so the key map stays bounded by the
    /// callers of the last minute.
    pub fn prune(&self) {
        for tier in self.tiers.iter() {
            tier.local.retain_recent();
            tier.local.shrink_to_fit();
        }
    }

    /// Callers currently remembered (all tiers).
    pub fn tracked(&self) -> usize {
        self.tiers.iter().map(|t| t.local.len()).sum()
    }

    /// Until the process ends: prunes every `prune_every`, and while Redis is down probes it
    /// every second, so sharing resumes (and `/readyz` recovers) without waiting for traffic.
    pub fn start_housekeeping(&self, prune_every: Duration) {
        let limits = self.clone();
        tokio::spawn(async move {
            let mut last_prune = Instant::now();
            let mut tick = tokio::time::interval(REDIS_RETRY);
            loop {
                tick.tick().await;
                if last_prune.elapsed() >= prune_every {
                    limits.prune();
                    last_prune = Instant::now();
                }
                if let Some(shared) = &limits.shared {
                    shared.probe().await;
                }
            }
        });
    }
}

fn interval_us(per_minute: u32) -> u64 {
    (WINDOW_SECS * 1_000_000 / per_minute as u64).max(1)
}

fn local_charge(limits: &TierLimits, key: &str, cost: u32) -> Decision {
    let n = NonZeroU32::new(cost).expect("cost is at least 1");
    let interval = interval_us(limits.per_minute);
    let key = key.to_owned();
    match limits.local.check_key_n(&key, n) {
        Ok(Ok(snapshot)) => {
            let remaining = snapshot.remaining_burst_capacity();
            Decision {
                tier: limits.tier,
                limit: limits.per_minute,
                remaining,
                reset_secs: secs_up((limits.per_minute - remaining) as u64 * interval),
                retry_after_secs: None,
            }
        }
        Ok(Err(not_until)) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let remaining =
                (cost as u64).saturating_sub((wait.as_micros() as u64).div_ceil(interval)) as u32;
            Decision {
                tier: limits.tier,
                limit: limits.per_minute,
                remaining,
                reset_secs: secs_up((limits.per_minute - remaining) as u64 * interval),
                retry_after_secs: Some(secs_up(wait.as_micros() as u64).max(1)),
            }
        }
        // `cost` is clamped to the burst, so this cannot happen; refuse for a window if it does.
        Err(_) => Decision {
            tier: limits.tier,
            limit: limits.per_minute,
            remaining: 0,
            reset_secs: WINDOW_SECS,
            retry_after_secs: Some(WINDOW_SECS),
        },
    }
}

fn secs_up(us: u64) -> u64 {
    us.div_ceil(1_000_000)
}

impl Shared {
    /// The shared decision, or `None` when Redis is not answering (then: local limits).
    async fn charge(&self, limits: &TierLimits, key: &str, cost: u32) -> Option<Decision> {
        if let Some((_, _, retry_at)) = &*self.down.lock().unwrap_or_else(|e| e.into_inner()) {
            if Instant::now() < *retry_at {
                return None;
            }
        }
        let interval = interval_us(limits.per_minute);
        let redis_key = format!("podium:ratelimit:{}:{key}", limits.tier.as_str());
        let outcome = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut slot = self.connection.lock().await;
            if slot.is_none() {
                *slot = Some(self.client.get_multiplexed_async_connection().await?);
            }
            let mut connection = slot.clone().expect("just connected");
            drop(slot);
            let result: redis::RedisResult<(i64, i64, i64, i64)> = self
                .script
                .key(&redis_key)
                .arg(limits.per_minute)
                .arg(interval)
                .arg(cost)
                .invoke_async(&mut connection)
                .await;
            if result.is_err() {
                *self.connection.lock().await = None;
            }
            result
        })
        .await;
        let (allowed, remaining, retry_us, reset_us) = match outcome {
            Ok(Ok(values)) => values,
            Ok(Err(e)) => return self.failed(e.to_string()),
            Err(_) => {
                *self.connection.lock().await = None;
                return self.failed("timed out".into());
            }
        };
        let recovered = self
            .down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some();
        if recovered {
            tracing::info!("redis back: rate limits shared again");
        }
        Some(Decision {
            tier: limits.tier,
            limit: limits.per_minute,
            remaining: remaining.max(0) as u32,
            reset_secs: secs_up(reset_us.max(0) as u64),
            retry_after_secs: (allowed == 0).then(|| secs_up(retry_us.max(0) as u64).max(1)),
        })
    }

    /// While down: one PING; success ends the fallback.
    async fn probe(&self) {
        if self
            .down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
        {
            return;
        }
        let pinged = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut connection = self.client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>(connection)
        })
        .await;
        if let Ok(Ok(connection)) = pinged {
            *self.connection.lock().await = Some(connection);
            self.down.lock().unwrap_or_else(|e| e.into_inner()).take();
            tracing::info!("redis back: rate limits shared again");
        }
    }

    fn failed(&self, error: String) -> Option<Decision> {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        let since = down
            .as_ref()
            .map_or_else(chrono::Utc::now, |(since, _, _)| *since);
        if down.is_none() {
            tracing::warn!(%error, "redis unavailable: rate limits fall back to this instance");
        }
        *down = Some((since, error, Instant::now() + REDIS_RETRY));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(anonymous: u32) -> RateLimits {
        let settings = Settings {
            rate_limit_anonymous: anonymous,
            ..Settings::default()
        };
        RateLimits::new(&settings).unwrap()
    }

    #[tokio::test]
    async fn a_budget_is_spent_by_cost_and_refused_without_charging() {
        let limits = limits(60);
        let first = limits.charge(Tier::Anonymous, "ip:1", 50).await;
        assert!(first.allowed());
        assert_eq!((first.limit, first.remaining), (60, 10));
        assert_eq!(first.reset_secs, 50);
        let refused = limits.charge(Tier::Anonymous, "ip:1", 20).await;
        assert!(!refused.allowed());
        assert_eq!(refused.retry_after_secs, Some(10));
        // The refusal took nothing: 10 units are still there.
        assert!(limits.charge(Tier::Anonymous, "ip:1", 10).await.allowed());
        // Another caller has a budget of its own.
        assert!(limits.charge(Tier::Anonymous, "ip:2", 60).await.allowed());
        // A cost above the whole budget is charged as the whole budget.
        assert!(limits
            .charge(Tier::Anonymous, "ip:3", 10_000)
            .await
            .allowed());
    }

    #[tokio::test]
    async fn pruning_forgets_callers_whose_budget_is_full_again() {
        let limits = limits(600_000);
        for i in 0..1000 {
            limits.charge(Tier::Anonymous, &format!("ip:{i}"), 1).await;
        }
        assert_eq!(limits.tracked(), 1000);
        tokio::time::sleep(Duration::from_millis(10)).await;
        limits.prune();
        assert_eq!(limits.tracked(), 0);
    }

    #[test]
    fn headers_follow_the_ratelimit_draft() {
        let mut headers = HeaderMap::new();
        Decision {
            tier: Tier::Free,
            limit: 12_000,
            remaining: 11_990,
            reset_secs: 1,
            retry_after_secs: None,
        }
        .write_headers(&mut headers);
        assert_eq!(headers["ratelimit-policy"], "\"free\";q=12000;w=60");
        assert_eq!(headers["ratelimit"], "\"free\";r=11990;t=1");
        assert!(headers.get("retry-after").is_none());
    }

    #[test]
    fn a_zero_limit_is_refused() {
        let settings = Settings {
            rate_limit_pro: 0,
            ..Settings::default()
        };
        let err = RateLimits::new(&settings).err().unwrap();
        assert!(err.to_string().contains("rate_limit_pro"));
    }
}

/// A tier's limits, as the settings give them.
pub struct TierPolicy {
    /// Cost units per minute.
    pub per_minute: u32,
    /// Concurrent subscriptions per caller.
    pub max_subscriptions: u32,
    /// WebSocket messages per second per connection.
    pub messages_per_sec: u32,
}

impl TierPolicy {
    /// The one place a tier is mapped to its settings.
    pub fn of(s: &Settings, tier: Tier) -> Self {
        let (per_minute, max_subscriptions, messages_per_sec) = match tier {
            Tier::Anonymous => (
                s.rate_limit_anonymous,
                s.ws_max_subscriptions_anonymous,
                s.ws_messages_per_sec_anonymous,
            ),
            Tier::Free => (
                s.rate_limit_free,
                s.ws_max_subscriptions_free,
                s.ws_messages_per_sec_free,
            ),
            Tier::Pro => (
                s.rate_limit_pro,
                s.ws_max_subscriptions_pro,
                s.ws_messages_per_sec_pro,
            ),
            Tier::Enterprise => (
                s.rate_limit_enterprise,
                s.ws_max_subscriptions_enterprise,
                s.ws_messages_per_sec_enterprise,
            ),
        };
        Self {
            per_minute,
            max_subscriptions,
            messages_per_sec,
        }
    }
}

/// Concurrent subscriptions per caller on this instance.
#[derive(Clone, Default)]
pub struct SubscriptionCaps {
    counts: Arc<Mutex<std::collections::HashMap<String, u32>>>,
}

/// One running subscription; dropping it frees the place.
pub struct CapGuard {
    caps: SubscriptionCaps,
    key: String,
}

impl SubscriptionCaps {
    /// A place for one more subscription of `key`, unless it already runs `max`.
    pub fn acquire(&self, key: &str, max: u32) -> Option<CapGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(key.to_owned()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(CapGuard {
            caps: self.clone(),
            key: key.to_owned(),
        })
    }

    pub fn running(&self, key: &str) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(key).copied().unwrap_or(0)
    }
}

impl Drop for CapGuard {
    fn drop(&mut self) {
        let mut counts = self.caps.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// Messages per second one WebSocket connection may send.
pub fn message_limiter(per_second: u32) -> governor::DefaultDirectRateLimiter {
    let per_second = NonZeroU32::new(per_second.max(1)).expect("at least one");
    RateLimiter::direct(Quota::per_second(per_second))
}

#[cfg(test)]
mod cap_tests {
    use super::*;

    #[test]
    fn caps_count_running_subscriptions_and_free_places_on_drop() {
        let caps = SubscriptionCaps::default();
        let a = caps.acquire("ip:1", 2).unwrap();
        let _b = caps.acquire("ip:1", 2).unwrap();
        assert!(caps.acquire("ip:1", 2).is_none());
        assert!(caps.acquire("ip:2", 2).is_some());
        drop(a);
        assert_eq!(caps.running("ip:1"), 1);
        assert!(caps.acquire("ip:1", 2).is_some());
    }
}
