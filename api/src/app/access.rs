//! podium as an OAuth 2.0 authorization server for integrations (RFC 6749 §4.4 client
//! credentials): API clients with argon2id-hashed secrets, short-lived `at+jwt` tokens signed
//! with podium's own Ed25519 keys, key rotation,
//! and a brute-force guard on failed attempts.

use crate::app::AppState;
use crate::auth::{Claims, Principal, Role, Scope, SigningKey, Tier};
use crate::error::ApiError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use podium_domain::ports::{AccessRepository, ApiClientRecord, StoredSigningKey};
use podium_domain::timing::Timestamp;
use rand::RngCore;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a retired key keeps verifying: the longest token it can have signed, plus leeway.
pub fn retirement_window(token_ttl_secs: u64) -> chrono::Duration {
    chrono::Duration::seconds((token_ttl_secs + crate::auth::LEEWAY_SECS) as i64)
}

/// Loads podium's signing keys into the authenticator, creating the first one when there is
/// none, and drops keys retired longer ago than any token they signed can live.
pub async fn load_keys(state: &AppState) -> anyhow::Result<()> {
    let access = &state.access;
    let window = retirement_window(state.settings.token_ttl_secs);
    let now = chrono::Utc::now();
    access
        .prune_signing_keys(Timestamp::from_chrono(now - window))
        .await?;
    let stored = access.signing_keys().await?;
    if !stored.iter().any(|k| k.retired_at.is_none()) {
        rotate(access.as_ref(), &state.sealer).await?;
    }
    state.auth.load_own_keys().await
}

/// Until the process ends, reloads the revoked API clients every `every`, so a revocation on
/// any instance stops the client's tokens here too.
pub fn start_revocation_refresh(state: AppState, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match state.access.revoked_clients().await {
                Ok(revoked) => state.auth.set_revoked(revoked),
                Err(e) => tracing::warn!(error = %e, "loading revoked API clients"),
            }
        }
    });
}

/// A new signing key; the previous ones retire (and keep verifying their tokens).
pub async fn rotate(
    access: &dyn AccessRepository,
    sealer: &crate::auth::sealing::Sealer,
) -> anyhow::Result<SigningKey> {
    let key = SigningKey::generate();
    access
        .rotate_signing_key(StoredSigningKey {
            kid: key.kid().to_owned(),
            seed: sealer.seal(&hex::encode(key.seed()))?,
            created_at: Timestamp::from_chrono(chrono::Utc::now()),
            retired_at: None,
        })
        .await?;
    tracing::info!(kid = key.kid(), "new signing key");
    Ok(key)
}

/// Starts signing with a new key (admins) and loads it here; the others retire.
pub async fn rotate_in_use(state: &AppState, viewer: &Principal) -> Result<SigningKey, ApiError> {
    viewer.require_admin()?;
    let key = rotate(state.access.as_ref(), &state.sealer)
        .await
        .map_err(ApiError::Internal)?;
    load_keys(state).await.map_err(ApiError::Internal)?;
    Ok(key)
}

/// Revokes an API client (admins): no new tokens, and its unexpired ones are refused here at
/// once (other instances reload the revocations every 10 s).
pub async fn revoke(
    state: &AppState,
    viewer: &Principal,
    client_id: &str,
) -> Result<ApiClientRecord, ApiError> {
    viewer.require_admin()?;
    let now = Timestamp::from_chrono(chrono::Utc::now());
    let record = state.access.revoke_api_client(client_id, now).await?;
    state.auth.revoke(&record.client_id);
    Ok(record)
}

/// What an admin asks for when registering a client.
pub struct NewClient {
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    pub tier: Tier,
    pub venue_id: Option<Uuid>,
}

/// Registers a client; returns it with its secret, which is shown this once and stored only
/// as an argon2id hash.
pub async fn register(
    state: &AppState,
    created_by: &str,
    new: NewClient,
) -> Result<(ApiClientRecord, String), ApiError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest("name: 1 to 200 characters".to_owned()));
    }
    if new.scopes.is_empty() {
        return Err(ApiError::BadRequest(
            "scopes: grant at least one scope".into(),
        ));
    }
    if new.tier == Tier::Anonymous {
        return Err(ApiError::BadRequest(
            "tier: clients are free, pro or enterprise".into(),
        ));
    }
    if let Some(venue) = new.venue_id {
        if state.repo.venue(venue).await?.is_none() {
            return Err(ApiError::NotFound(format!("venue {venue}")));
        }
    }
    let client_id = format!("pc_{}", Uuid::new_v4().simple());
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let secret = format!(
        "pcs_{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
    );
    let secret_hash = hash_secret(secret.clone()).await?;
    let record = ApiClientRecord {
        client_id,
        name,
        secret_hash,
        scopes: Scope::render(&new.scopes),
        tier: new.tier.as_str().to_owned(),
        venue_id: new.venue_id,
        created_by: created_by.to_owned(),
        created_at: Timestamp::from_chrono(chrono::Utc::now()),
        revoked_at: None,
    };
    state.access.create_api_client(record.clone()).await?;
    Ok((record, secret))
}

/// What one `/oauth/token` request costs from its address's anonymous budget: argon2 is
/// expensive by design, so 30,000 units a minute buy 300 attempts.
pub const TOKEN_REQUEST_COST: u32 = 100;

/// argon2id takes ~19 MiB and tens of milliseconds per run: at most one run per core at a
/// time, so a burst of token requests queues instead of exhausting memory.
async fn argon2_slot() -> tokio::sync::SemaphorePermit<'static> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    });
    slots
        .acquire()
        .await
        .expect("the semaphore is never closed")
}

/// The argon2id PHC string of `secret`, with a fresh salt.
fn argon2_hash(secret: &[u8]) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret, &salt)
        .map(|h| h.to_string())
}

async fn hash_secret(secret: String) -> Result<String, ApiError> {
    let _slot = argon2_slot().await;
    tokio::task::spawn_blocking(move || argon2_hash(secret.as_bytes()))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a client secret: {e}")))
}

/// A hash of nothing anyone knows: unknown client ids cost a verification too, so response
/// times do not tell which ids exist.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| argon2_hash(b"decoy").unwrap_or_default())
}

async fn secret_matches(secret: String, hash: String) -> bool {
    let _slot = argon2_slot().await;
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(secret.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Blocks a client id or address after too many failed attempts (governor, GCRA): each
/// failure takes a cell; with none left, every attempt is refused until one frees up.
pub struct FailureGuard {
    limiter: DefaultKeyedRateLimiter<String>,
    blocked: Mutex<HashMap<String, Instant>>,
}

impl FailureGuard {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).expect("at least one");
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            blocked: Mutex::default(),
        }
    }

    /// Seconds until the first of `keys` is unblocked, if any is blocked.
    fn blocked(&self, keys: &[String]) -> Option<u64> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        blocked.retain(|_, until| *until > now);
        keys.iter()
            .filter_map(|k| blocked.get(k))
            .max()
            .map(|until| until.duration_since(now).as_secs().max(1))
    }

    fn failed(&self, keys: &[String]) {
        use governor::clock::{Clock, DefaultClock};
        let now = DefaultClock::default().now();
        for key in keys {
            if let Err(not_until) = self.limiter.check_key(key) {
                let wait = not_until.wait_time_from(now);
                let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
                blocked.insert(
                    key.clone(),
                    Instant::now() + wait.max(Duration::from_secs(1)),
                );
            }
        }
        self.limiter.retain_recent();
    }
}

/// A refused token request: an RFC 6749 §5.2 error code, what went wrong, and when to retry.
pub struct TokenRefusal {
    pub error: &'static str,
    pub description: String,
    pub retry_after: Option<u64>,
}

impl TokenRefusal {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    /// `server_error`: the cause is logged with `context`, never sent.
    fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{context}");
        Self::new("server_error", "internal error")
    }
}

/// The form of a token request (RFC 6749 §4.4.2).
#[derive(serde::Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A token issued to an API client.
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
}

/// Issues an access token for a client-credentials request: `basic` holds the credentials
/// from HTTP Basic, when sent that way.
pub async fn issue_token(
    state: &AppState,
    peer: Option<IpAddr>,
    basic: Option<(String, String)>,
    form: TokenForm,
) -> Result<IssuedToken, TokenRefusal> {
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(TokenRefusal::new(
                "unsupported_grant_type",
                format!("grant_type `{other}` is not supported; use client_credentials"),
            ))
        }
        None => {
            return Err(TokenRefusal::new(
                "invalid_request",
                "grant_type is missing",
            ))
        }
    }
    let (client_id, secret) = match (basic, form.client_id, form.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(TokenRefusal::new(
                "invalid_request",
                "send client credentials once: HTTP Basic or the form, not both",
            ))
        }
        (Some(pair), None, None) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return Err(TokenRefusal::new(
                "invalid_client",
                "client credentials are missing",
            ))
        }
    };
    let guard_keys = [
        format!("client:{client_id}"),
        format!(
            "ip:{}",
            peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
        ),
    ];
    let decision = state
        .limits
        .charge(Tier::Anonymous, &guard_keys[1], TOKEN_REQUEST_COST)
        .await;
    if !decision.allowed() {
        return Err(TokenRefusal {
            retry_after: decision.retry_after_secs,
            ..TokenRefusal::new(
                "slow_down",
                format!(
                    "too many token requests from this address: {}",
                    decision.explain()
                ),
            )
        });
    }
    if let Some(retry) = state.oauth_failures.blocked(&guard_keys) {
        return Err(TokenRefusal {
            retry_after: Some(retry),
            ..TokenRefusal::new("slow_down", "too many failed attempts; try again later")
        });
    }
    let client = state
        .access
        .api_client(&client_id)
        .await
        .map_err(|e| TokenRefusal::internal("loading an API client", e))?;
    let hash = client
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |c| c.secret_hash.clone());
    let matches = secret_matches(secret, hash).await;
    let client = match client {
        Some(c) if matches && c.revoked_at.is_none() => c,
        _ => {
            state.oauth_failures.failed(&guard_keys);
            return Err(TokenRefusal::new(
                "invalid_client",
                "unknown client, wrong secret or revoked client",
            ));
        }
    };
    let granted = Scope::parse_list(&client.scopes).unwrap_or_default();
    let scopes = match form.scope.as_deref().map(str::trim) {
        None | Some("") => granted.clone(),
        Some(asked) => {
            let asked =
                Scope::parse_list(asked).map_err(|e| TokenRefusal::new("invalid_scope", e))?;
            if let Some(extra) = asked.iter().find(|s| !granted.contains(s)) {
                return Err(TokenRefusal::new(
                    "invalid_scope",
                    format!("scope `{extra}` is not granted to this client"),
                ));
            }
            asked
        }
    };
    let ttl = state.settings.token_ttl_secs;
    let tier = Tier::parse(&client.tier).unwrap_or(Tier::Free);
    let claims = Claims {
        iss: String::new(),
        aud: Vec::new(),
        sub: client.client_id.clone(),
        exp: 0,
        iat: 0,
        role: Role::Integration,
        venue_ids: client.venue_id.into_iter().collect(),
        athlete_id: None,
        scope: Some(Scope::render(&scopes)),
        client_id: Some(client.client_id.clone()),
        tier: Some(tier),
        jti: Some(Uuid::new_v4().to_string()),
    };
    let claims = state
        .auth
        .stamp(claims, chrono::Duration::seconds(ttl as i64));
    let signed = state
        .auth
        .own_keys()
        .signing()
        .ok_or_else(|| anyhow::anyhow!("no signing key loaded"))
        .and_then(|key| key.sign(&claims))
        .map_err(|e| TokenRefusal::internal("signing an access token", e))?;
    Ok(IssuedToken {
        access_token: signed,
        expires_in: ttl,
        scope: Scope::render(&scopes),
    })
}
