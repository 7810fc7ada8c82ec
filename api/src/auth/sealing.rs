//! Secrets at rest. With `secrets_key` set (32 bytes, base64), podium's token-signing key seeds
//! and webhook signing secrets are stored sealed with AES-256-GCM (`sealed:v1:` + base64 of
//! nonce and ciphertext), so a copy of the database alone cannot mint tokens or forge webhook
//! signatures. Without it (development) they are stored in clear. Rows written in clear stay
//! readable after a key is set.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const PREFIX: &str = "sealed:v1:";
const NONCE_BYTES: usize = 12;

#[derive(Clone, Default)]
pub struct Sealer {
    cipher: Option<Aes256Gcm>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("sealing", &self.cipher.is_some())
            .finish()
    }
}

impl Sealer {
    /// From the `secrets_key` setting (base64 of 32 bytes), or none.
    pub fn new(secrets_key: Option<&str>) -> anyhow::Result<Self> {
        let Some(encoded) = secrets_key.map(str::trim).filter(|k| !k.is_empty()) else {
            return Ok(Self::default());
        };
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| anyhow::anyhow!("secrets_key is not base64"))?;
        if key.len() != 32 {
            anyhow::bail!("secrets_key must be 32 bytes (base64), not {}", key.len());
        }
        let cipher =
            Aes256Gcm::new_from_slice(&key).map_err(|e| anyhow::anyhow!("secrets_key: {e}"))?;
        Ok(Self {
            cipher: Some(cipher),
        })
    }

    pub fn seals(&self) -> bool {
        self.cipher.is_some()
    }

    /// The form in which `secret` is stored.
    pub fn seal(&self, secret: &str) -> anyhow::Result<String> {
        let Some(cipher) = &self.cipher else {
            return Ok(secret.to_owned());
        };
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(&nonce, secret.as_bytes())
            .map_err(|_| anyhow::anyhow!("sealing a secret failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// The secret a stored value holds.
    pub fn open(&self, stored: &str) -> anyhow::Result<String> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let Some(cipher) = &self.cipher else {
            anyhow::bail!("a stored secret is sealed, but no secrets_key is configured");
        };
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| anyhow::anyhow!("a sealed secret is not base64"))?;
        if bytes.len() <= NONCE_BYTES {
            anyhow::bail!("a sealed secret is too short");
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let plain = cipher
            .decrypt(&Nonce::from(<[u8; NONCE_BYTES]>::try_from(nonce)?), sealed)
            .map_err(|_| anyhow::anyhow!("a sealed secret does not open with this secrets_key"))?;
        Ok(String::from_utf8(plain)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let sealer = Sealer::new(Some(&key(7))).unwrap();
        let sealed = sealer.seal("whsec_abc").unwrap();
        assert!(sealed.starts_with("sealed:v1:"));
        assert_ne!(
            sealer.seal("whsec_abc").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert_eq!(sealer.open(&sealed).unwrap(), "whsec_abc");
        let other = Sealer::new(Some(&key(8))).unwrap();
        assert!(other
            .open(&sealed)
            .unwrap_err()
            .to_string()
            .contains("does not open"));
        let none = Sealer::new(None).unwrap();
        assert!(none
            .open(&sealed)
            .unwrap_err()
            .to_string()
            .contains("secrets_key"));
        assert_eq!(none.seal("plain").unwrap(), "plain");
        assert_eq!(sealer.open("written in clear").unwrap(), "written in clear");
        assert!(Sealer::new(Some("c2hvcnQ=")).is_err());
        assert!(Sealer::new(Some("not base64!")).is_err());
    }
}
