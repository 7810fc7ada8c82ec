//! podium's own signing keys: Ed25519 (`EdDSA`), identified by their RFC 7638 thumbprint.

use super::Claims;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rand::RngCore;
use serde_json::json;

#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    seed: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: serde_json::Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        Self::from_seed(&seed).expect("32 bytes are an Ed25519 seed")
    }

    /// The key of a 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8]) -> anyhow::Result<Self> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| anyhow::anyhow!("an Ed25519 seed has 32 bytes, not {}", seed.len()))?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the key: {e}"))?;
        let public = signing.verifying_key().to_bytes();
        let x = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, public);
        let mut jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": x });
        let parsed: Jwk = serde_json::from_value(jwk.clone())?;
        let kid = parsed.thumbprint(ThumbprintHash::SHA256);
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!("EdDSA");
        jwk["use"] = json!("sig");
        Ok(Self {
            kid,
            seed,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_components(&x)?,
            jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The public key as a JWK (for `/.well-known/jwks.json`).
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// Signs `claims` as an `at+jwt` access token.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// The stored keys that still verify, the signing (newest unretired) key first.
pub fn usable_keys(
    stored: &[podium_domain::ports::StoredSigningKey],
    window: chrono::Duration,
    sealer: &super::sealing::Sealer,
) -> anyhow::Result<Vec<SigningKey>> {
    let now = chrono::Utc::now();
    let mut keys: Vec<&podium_domain::ports::StoredSigningKey> = stored
        .iter()
        .filter(|k| k.retired_at.is_none_or(|at| at.to_chrono() + window > now))
        .collect();
    keys.sort_by_key(|k| (k.retired_at.is_some(), std::cmp::Reverse(k.created_at)));
    keys.into_iter()
        .map(|k| SigningKey::from_seed(&hex::decode(sealer.open(&k.seed)?)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_key_and_kid() {
        let key = SigningKey::generate();
        let again = SigningKey::from_seed(key.seed()).unwrap();
        assert_eq!(key.kid(), again.kid());
        assert_eq!(key.public_jwk(), again.public_jwk());
        assert!(SigningKey::from_seed(&[1, 2, 3]).is_err());
    }
}
