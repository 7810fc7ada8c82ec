//! An external identity provider's JWKS: fetched on first use, cached, refetched when it is
//! older than its lifetime or when a token names a key it does not have (at most once per
//! `refetch_after`, so forged `kid`s cannot make podium hammer the provider).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// A public key and the one algorithm it may verify.
#[derive(Clone)]
pub struct VerifyKey {
    pub alg: Algorithm,
    pub key: DecodingKey,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, VerifyKey>,
    /// Keys without a `kid` (usable only by tokens without one, when it is the only key).
    anonymous: Vec<VerifyKey>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

#[derive(Clone)]
pub struct RemoteJwks {
    url: String,
    client: reqwest::Client,
    max_age: Duration,
    refetch_after: Duration,
    cache: Arc<RwLock<Cache>>,
    fetching: Arc<tokio::sync::Mutex<()>>,
}

impl RemoteJwks {
    pub fn new(url: &str, max_age: Duration, refetch_after: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            url: url.to_owned(),
            client,
            max_age,
            refetch_after,
            cache: Arc::default(),
            fetching: Arc::default(),
        })
    }

    /// The key a token with header `kid` names, fetching the set when needed.
    pub async fn key(&self, kid: Option<&str>) -> Result<VerifyKey, String> {
        if let Some(key) = self.cached(kid, false) {
            return Ok(key);
        }
        let _one_fetch = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.cached(kid, false) {
            return Ok(key);
        }
        let may_fetch = {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            cache
                .attempted_at
                .is_none_or(|at| at.elapsed() >= self.refetch_after)
        };
        if may_fetch {
            self.refresh().await;
        }
        self.cached(kid, true)
            .ok_or_else(|| "unknown key id (kid)".to_owned())
    }

    /// Whether the key `kid` names is in the set and the set is fresh (no fetch).
    pub fn has_fresh(&self, kid: Option<&str>) -> bool {
        self.cached(kid, false).is_some()
    }

    fn cached(&self, kid: Option<&str>, stale_ok: bool) -> Option<VerifyKey> {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let fresh = cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.max_age);
        if !fresh && !stale_ok {
            return None;
        }
        match kid {
            Some(kid) => cache.keys.get(kid).cloned(),
            // A token without `kid` is accepted only when the set has a single key to try.
            None => match (cache.keys.len(), cache.anonymous.len()) {
                (1, 0) => cache.keys.values().next().cloned(),
                (0, 1) => cache.anonymous.first().cloned(),
                _ => None,
            },
        }
    }

    async fn refresh(&self) {
        let now = Instant::now();
        let fetched = async {
            let response = self
                .client
                .get(&self.url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            response
                .json::<serde_json::Value>()
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        cache.attempted_at = Some(now);
        match fetched {
            Ok(set) => {
                let (keys, anonymous) = parse_set(&set);
                tracing::info!(url = %self.url, keys = keys.len() + anonymous.len(), "fetched JWKS");
                cache.keys = keys;
                cache.anonymous = anonymous;
                cache.fetched_at = Some(now);
            }
            // Keep the keys we have: a provider outage must not log everyone out.
            Err(error) => tracing::warn!(url = %self.url, %error, "JWKS fetch failed"),
        }
    }
}

type ParsedSet = (HashMap<String, VerifyKey>, Vec<VerifyKey>);

/// The signing keys of a JWK set that podium accepts: RSA (RS256), EC P-256 (ES256) and
/// Ed25519 (EdDSA). Symmetric keys, encryption keys and keys whose `alg` contradicts their
/// type are skipped.
fn parse_set(set: &serde_json::Value) -> ParsedSet {
    let mut keys = HashMap::new();
    let mut anonymous = Vec::new();
    let entries = set["keys"].as_array().cloned().unwrap_or_default();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry) else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Some(alg) = accepted_alg(&jwk) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let key = VerifyKey { alg, key };
        match jwk.common.key_id {
            Some(kid) => {
                keys.insert(kid, key);
            }
            None => anonymous.push(key),
        }
    }
    (keys, anonymous)
}

fn accepted_alg(jwk: &Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(KeyAlgorithm::EdDSA) if by_type == Algorithm::EdDSA => Some(by_type),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_asymmetric_signing_keys_with_a_matching_alg_are_kept() {
        let ed = crate::auth::SigningKey::generate();
        let set = json!({ "keys": [
            ed.public_jwk(),
            { "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" },
            { "kty": "OKP", "crv": "Ed25519", "x": ed.public_jwk()["x"], "kid": "liar", "alg": "RS256" },
            { "kty": "OKP", "crv": "Ed25519", "x": ed.public_jwk()["x"], "kid": "enc", "use": "enc" },
            { "kty": "nonsense" },
        ]});
        let (keys, anonymous) = parse_set(&set);
        assert_eq!(keys.len(), 1, "{:?}", keys.keys().collect::<Vec<_>>());
        assert_eq!(keys[ed.kid()].alg, Algorithm::EdDSA);
        assert!(anonymous.is_empty());
    }
}
