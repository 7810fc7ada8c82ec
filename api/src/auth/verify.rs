//! Access-token validation (RFC 9068, RFC 8725): an allow-list of asymmetric algorithms, the
//! key chosen by `kid` from a trusted source and used only with its own algorithm, exact
//! `iss`, `aud` containing podium's audience, `exp`/`nbf` with 60 s leeway, `typ` `at+jwt`.

use super::keys::SigningKey;
use super::remote::{RemoteJwks, VerifyKey};
use super::{Claims, Principal};
use crate::cache::Recent;
use crate::config::Settings;
use crate::error::ApiError;
use jsonwebtoken::{Algorithm, Validation};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

/// Why a token was refused; the text goes to the client as `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

fn refuse(why: impl Into<String>) -> TokenError {
    TokenError(why.into())
}

const DEV_KEY_FILE: &str = "dev-signing-key.ed25519";

/// podium's authorization-server keys: the newest signs, all verify until they retire.
#[derive(Clone, Default)]
pub struct OwnKeys {
    keys: Arc<RwLock<Vec<SigningKey>>>,
}

impl OwnKeys {
    /// Replaces the key set; the first key signs.
    pub fn set(&self, keys: Vec<SigningKey>) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    pub fn signing(&self) -> Option<SigningKey> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .first()
            .cloned()
    }

    pub fn find(&self, kid: &str) -> Option<SigningKey> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().find(|k| k.kid() == kid).cloned()
    }

    /// Whether `kid` is still one of the keys (not rotated out or removed).
    pub fn contains(&self, kid: &str) -> bool {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().any(|k| k.kid() == kid)
    }

    pub fn public_jwks(&self) -> serde_json::Value {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({ "keys": keys.iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>() })
    }
}

/// Where podium's own keys are stored, to pick up a key another instance rotated in.
struct KeyStore {
    access: Arc<dyn podium_domain::ports::AccessRepository>,
    window: chrono::Duration,
    sealer: crate::auth::sealing::Sealer,
    reloaded_at: tokio::sync::Mutex<Option<std::time::Instant>>,
}

/// Fewest seconds between two reloads of podium's own keys caused by unknown `kid`s.
const OWN_RELOAD_SECS: u64 = 5;

struct External {
    issuer: String,
    jwks: RemoteJwks,
}

/// How many verified tokens are remembered (each a few hundred bytes).
const VERIFIED_CAPACITY: usize = 10_000;

/// Which key verified a remembered token, to forget it when that key goes.
#[derive(Clone, PartialEq, Eq)]
enum VerifiedBy {
    Dev,
    Own(String),
    External(Option<String>),
}

/// A token whose signature and claims were checked: by the SHA-256 of the token, so the
/// cache holds no bearer secret. Only successes are kept, so refused tokens cannot fill it.
#[derive(Clone)]
struct Verified {
    claims: Arc<Claims>,
    by: VerifiedBy,
}

/// Checks access tokens and mints podium's own.
pub struct Authenticator {
    issuer: String,
    audience: String,
    require_typ: bool,
    dev: SigningKey,
    accept_dev: bool,
    own: OwnKeys,
    /// API clients whose tokens are refused although they have not expired yet.
    revoked: RwLock<std::collections::HashSet<String>>,
    store: std::sync::OnceLock<KeyStore>,
    external: Option<External>,
    /// Tokens already verified, until their `exp` (the signature is checked once per token,
    /// not once per request).
    verified: Recent<[u8; 32], Verified>,
}

impl Authenticator {
    /// The authenticator of `settings`: the development key from the data directory (created
    /// on first use), the external issuer's JWKS when configured.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let external = match (&settings.oauth_issuer, &settings.oauth_jwks_url) {
            (Some(issuer), Some(url)) => Some(External {
                issuer: issuer.clone(),
                jwks: RemoteJwks::new(
                    url,
                    Duration::from_secs(settings.oauth_jwks_max_age_secs),
                    Duration::from_secs(settings.oauth_jwks_refetch_secs),
                )?,
            }),
            (None, None) => None,
            _ => anyhow::bail!("oauth_issuer and oauth_jwks_url are set together or not at all"),
        };
        if external
            .as_ref()
            .is_some_and(|e| e.issuer == settings.issuer)
        {
            anyhow::bail!("oauth_issuer must differ from podium's own issuer");
        }
        Ok(Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            require_typ: settings.oauth_require_typ,
            dev: load_or_create_dev_key(&settings.data_dir)?,
            accept_dev: settings.dev_tokens(),
            own: OwnKeys::default(),
            revoked: RwLock::default(),
            store: std::sync::OnceLock::new(),
            external,
            verified: Recent::new(VERIFIED_CAPACITY),
        })
    }

    pub fn own_keys(&self) -> &OwnKeys {
        &self.own
    }

    /// Replaces the set of revoked API clients (refreshed from the database).
    pub fn set_revoked(&self, clients: impl IntoIterator<Item = String>) {
        *self.revoked.write().unwrap_or_else(|e| e.into_inner()) = clients.into_iter().collect();
    }

    /// Refuses `client`'s tokens from now on (this instance; others within their refresh).
    pub fn revoke(&self, client: &str) {
        self.revoked
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client.to_owned());
    }

    /// Lets the authenticator reload podium's own keys from `access` when a token names a key
    /// it has not seen (another instance rotated); `window` is how long retired keys verify.
    pub fn attach_store(
        &self,
        access: Arc<dyn podium_domain::ports::AccessRepository>,
        window: chrono::Duration,
        sealer: crate::auth::sealing::Sealer,
    ) {
        let _ = self.store.set(KeyStore {
            access,
            window,
            sealer,
            reloaded_at: tokio::sync::Mutex::new(None),
        });
    }

    /// Reloads podium's own keys, at most once per `OWN_RELOAD_SECS`; true when it did.
    async fn reload_own(&self) -> bool {
        let Some(store) = self.store.get() else {
            return false;
        };
        let mut reloaded_at = store.reloaded_at.lock().await;
        if reloaded_at.is_some_and(|at| at.elapsed() < Duration::from_secs(OWN_RELOAD_SECS)) {
            return false;
        }
        *reloaded_at = Some(std::time::Instant::now());
        match self.load_own_keys().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "reloading signing keys");
                false
            }
        }
    }

    /// Reads podium's own keys from the store (`attach_store`) and verifies with those still
    /// valid from now on, the newest unretired one signing.
    pub async fn load_own_keys(&self) -> anyhow::Result<()> {
        let store = self
            .store
            .get()
            .ok_or_else(|| anyhow::anyhow!("no key store attached"))?;
        let stored = store.access.signing_keys().await?;
        self.own.set(super::keys::usable_keys(
            &stored,
            store.window,
            &store.sealer,
        )?);
        Ok(())
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A development token (`podium token`), accepted while `dev_tokens` is on.
    pub fn mint_dev(&self, claims: Claims, ttl: chrono::Duration) -> anyhow::Result<String> {
        self.dev.sign(&self.stamp(claims, ttl))
    }

    /// Sets `iss`, `aud`, `iat` and `exp` of a token podium issues.
    pub fn stamp(&self, mut claims: Claims, ttl: chrono::Duration) -> Claims {
        let now = chrono::Utc::now().timestamp();
        claims.iat = now;
        claims.exp = now + ttl.num_seconds();
        claims.iss = self.issuer.clone();
        claims.aud = vec![self.audience.clone()];
        claims
    }

    /// The key `kid` names, the issuer it speaks for and how to tell later that it is still
    /// trusted.
    async fn key(&self, kid: Option<&str>) -> Result<(VerifyKey, &str, VerifiedBy), TokenError> {
        if let Some(kid) = kid {
            if kid == self.dev.kid() {
                if !self.accept_dev {
                    return Err(refuse("development tokens are not accepted here"));
                }
                return Ok((own_key(&self.dev), &self.issuer, VerifiedBy::Dev));
            }
            if let Some(key) = self.own.find(kid) {
                return Ok((own_key(&key), &self.issuer, VerifiedBy::Own(kid.to_owned())));
            }
            if self.reload_own().await {
                if let Some(key) = self.own.find(kid) {
                    return Ok((own_key(&key), &self.issuer, VerifiedBy::Own(kid.to_owned())));
                }
            }
        }
        match &self.external {
            Some(external) => {
                let key = external.jwks.key(kid).await.map_err(refuse)?;
                let by = VerifiedBy::External(kid.map(str::to_owned));
                Ok((key, &external.issuer, by))
            }
            None => Err(refuse("unknown key id (kid)")),
        }
    }

    /// How many verified tokens are remembered.
    pub fn remembered_tokens(&self) -> usize {
        self.verified.len()
    }

    /// Whether the key that verified a remembered token still verifies: podium's own keys
    /// until rotated out or removed, the development key while accepted, an external key
    /// while the provider's fresh key set still has it.
    fn still_trusted(&self, by: &VerifiedBy) -> bool {
        match by {
            VerifiedBy::Dev => self.accept_dev,
            VerifiedBy::Own(kid) => self.own.contains(kid),
            VerifiedBy::External(kid) => self
                .external
                .as_ref()
                .is_some_and(|e| e.jwks.has_fresh(kid.as_deref())),
        }
    }

    /// Whether `client` (a token's `client_id`, of podium's own issuer) was revoked.
    fn is_revoked(&self, claims: &Claims) -> bool {
        claims.iss == self.issuer
            && claims.client_id.as_ref().is_some_and(|client| {
                self.revoked
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(client)
            })
    }

    /// The token's claims: from the verified-token cache while the token has not expired,
    /// its client is not revoked and its key is still trusted; otherwise verified in full
    /// (and remembered when it passes).
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.verified.get(&digest) {
            let now = chrono::Utc::now().timestamp();
            if now < hit.claims.exp && self.still_trusted(&hit.by) {
                if self.is_revoked(&hit.claims) {
                    return Err(refuse("the API client was revoked"));
                }
                return Ok(Claims::clone(&hit.claims));
            }
            self.verified.remove(&digest);
        }
        let (claims, by) = self.verify_in_full(token).await?;
        if chrono::Utc::now().timestamp() < claims.exp {
            let claims = Arc::new(claims);
            self.verified.put(
                digest,
                Verified {
                    claims: claims.clone(),
                    by,
                },
            );
            return Ok(Claims::clone(&claims));
        }
        Ok(claims)
    }

    async fn verify_in_full(&self, token: &str) -> Result<(Claims, VerifiedBy), TokenError> {
        let header = header_fields(token)?;
        let alg = match header.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            "EdDSA" => Algorithm::EdDSA,
            other => return Err(refuse(format!("algorithm `{other}` is not allowed"))),
        };
        if self.require_typ
            && !matches!(
                header
                    .typ
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("at+jwt" | "application/at+jwt")
            )
        {
            return Err(refuse("typ must be at+jwt"));
        }
        let (key, issuer, by) = self.key(header.kid.as_deref()).await?;
        if key.alg != alg {
            return Err(refuse(format!(
                "algorithm `{}` is not allowed for this key",
                header.alg
            )));
        }
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| refuse(describe(&e)))?;
        if self.is_revoked(&claims) {
            return Err(refuse("the API client was revoked"));
        }
        Ok((claims, by))
    }

    /// The principal of a request from its `Authorization` header value, if any.
    pub async fn principal(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let Some(value) = authorization else {
            return Ok(Principal::anonymous());
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::InvalidToken("Authorization must be `Bearer <token>`".into())
            })?;
        let claims = self
            .verify(token.trim())
            .await
            .map_err(|e| ApiError::InvalidToken(e.0))?;
        Ok(Principal::from_claims(claims))
    }
}

fn own_key(key: &SigningKey) -> VerifyKey {
    VerifyKey {
        alg: Algorithm::EdDSA,
        key: key.decoding().clone(),
    }
}

#[derive(serde::Deserialize)]
struct HeaderFields {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// The header's `alg`, `typ` and `kid`, read before anything else so that an algorithm
/// outside the allow-list (`none`, `HS256`, …) is named in the refusal.
fn header_fields(token: &str) -> Result<HeaderFields, TokenError> {
    use base64::Engine;
    let malformed = || refuse("malformed token");
    if token.split('.').count() != 3 {
        return Err(malformed());
    }
    let first = token.split('.').next().ok_or_else(malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        ExpiredSignature => "expired".into(),
        ImmatureSignature => "not valid yet (nbf)".into(),
        InvalidIssuer => "wrong issuer".into(),
        InvalidAudience => "wrong audience".into(),
        InvalidSignature => "bad signature".into(),
        InvalidAlgorithm => "algorithm not allowed".into(),
        MissingRequiredClaim(c) => format!("missing claim {c}"),
        Json(_) => "claims are not valid".into(),
        _ => "malformed token".into(),
    }
}

fn load_or_create_dev_key(data_dir: &Path) -> anyhow::Result<SigningKey> {
    use anyhow::Context;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join(DEV_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(hex_seed) => {
            let seed = hex::decode(hex_seed.trim())
                .with_context(|| format!("{} is not hex", path.display()))?;
            SigningKey::from_seed(&seed).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate();
            write_private(&path, &hex::encode(key.seed()))?;
            tracing::info!(path = %path.display(), "created development signing key");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
