//! A stand-in external identity provider: RS256, ES256 and EdDSA keys, a JWKS served over
//! HTTP on a free port (with a fetch counter), and tokens signed the way Keycloak or Auth0
//! would sign them. The RSA key is a test-only fixture (`openssl genrsa 2048`).

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use podium_api::auth::SigningKey;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

pub const ISSUER: &str = "https://idp.test/realms/podium";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .trim()
    .to_owned()
}

/// One signing key of the provider.
pub struct IdpKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    pub jwk: Value,
}

impl IdpKey {
    pub fn rsa(kid: &str) -> Self {
        let der = base64::engine::general_purpose::STANDARD
            .decode(fixture("idp-rsa-pkcs1.der.b64"))
            .unwrap();
        let n = hex::decode(fixture("idp-rsa-modulus.hex")).unwrap();
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(&der),
            jwk: json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64url(&n), "e": "AQAB" }),
        }
    }

    pub fn ec(kid: &str) -> Self {
        let secret = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let point = secret.verifying_key().to_encoded_point(false);
        let der = secret.to_pkcs8_der().unwrap();
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk: json!({ "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                          "x": b64url(point.x().unwrap()), "y": b64url(point.y().unwrap()) }),
        }
    }

    pub fn ed(kid: &str) -> Self {
        let key = SigningKey::generate();
        let der = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_der(
            &ed25519_dalek::SigningKey::from_bytes(key.seed()),
        )
        .unwrap();
        let mut jwk = key.public_jwk().clone();
        jwk["kid"] = json!(kid);
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwk,
        }
    }

    /// A token with `header_edit` applied to a standard `at+jwt` header naming this key.
    pub fn sign(&self, claims: &Value, header_edit: impl FnOnce(&mut Header)) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(self.kid.clone());
        header_edit(&mut header);
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    pub fn token(&self, claims: &Value) -> String {
        self.sign(claims, |_| {})
    }
}

/// Claims of a valid provider token for `role`, one hour left.
pub fn claims(role: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "iss": ISSUER, "aud": ["account", "podium"], "sub": format!("idp-{role}"),
            "iat": now, "exp": now + 3600, "role": role })
}

/// The provider: its JWKS at `jwks_url`, replaceable, with a count of fetches.
pub struct Idp {
    pub jwks_url: String,
    keys: Arc<RwLock<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Idp {
    pub async fn start(keys: &[&IdpKey]) -> Self {
        let keys = Arc::new(RwLock::new(
            keys.iter().map(|k| k.jwk.clone()).collect::<Vec<Value>>(),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (keys.clone(), fetches.clone());
        let router = Router::new().route(
            "/certs",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let keys = served.read().unwrap().clone();
                async move { Json(json!({ "keys": keys })) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            jwks_url: format!("http://{addr}/certs"),
            keys,
            fetches,
        }
    }

    /// Publishes another key (rotation at the provider).
    pub fn publish(&self, key: &IdpKey) {
        self.keys.write().unwrap().push(key.jwk.clone());
    }

    /// Withdraws a key (the provider retired it).
    pub fn withdraw(&self, kid: &str) {
        self.keys.write().unwrap().retain(|k| k["kid"] != kid);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
