//! Bearer tokens and who may do what. Tokens are JWTs (`typ: at+jwt`) signed with a
//! development key created on first start in the data directory; the full OAuth model
//! (external issuers, JWKS, client credentials) builds on this module.

use crate::error::ApiError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use podium_domain::model::Event;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[clap(rename_all = "snake_case")]
pub enum Role {
    Athlete,
    Coach,
    VenueOperator,
    Admin,
    Integration,
}

/// The claims podium reads from an access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub venue_ids: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athlete_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Who is calling: anonymous, or the holder of a valid token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Principal {
    pub claims: Option<Claims>,
}

impl Principal {
    pub fn anonymous() -> Self {
        Self { claims: None }
    }

    pub fn role(&self) -> Option<Role> {
        self.claims.as_ref().map(|c| c.role)
    }

    /// The token's subject, or `anonymous`.
    pub fn subject(&self) -> &str {
        self.claims.as_ref().map_or("anonymous", |c| c.sub.as_str())
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    /// Venue operators manage their own venues; admins every venue.
    pub fn may_manage_venue(&self, venue_id: Option<Uuid>) -> Result<(), ApiError> {
        match &self.claims {
            None => Err(ApiError::Unauthenticated(
                "this operation needs a bearer token".into(),
            )),
            Some(c) if c.role == Role::Admin => Ok(()),
            Some(c) if c.role == Role::VenueOperator => match venue_id {
                Some(v) if c.venue_ids.contains(&v) => Ok(()),
                Some(v) => Err(ApiError::Forbidden(format!(
                    "venue {v} is not one of your venues"
                ))),
                None => Err(ApiError::Forbidden(
                    "only admins manage events without a venue".into(),
                )),
            },
            Some(c) => Err(ApiError::Forbidden(format!(
                "role {:?} may not manage events",
                c.role
            ))),
        }
    }

    /// Entries, detections and corrections of an event: its venue's operators and admins.
    pub fn may_manage_event(&self, event: &Event) -> Result<(), ApiError> {
        self.may_manage_venue(event.venue_id)
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role() {
            None => Err(ApiError::Unauthenticated(
                "this operation needs a bearer token".into(),
            )),
            Some(Role::Admin) => Ok(()),
            Some(_) => Err(ApiError::Forbidden("only admins may do this".into())),
        }
    }
}

/// The signing key and token rules of this deployment.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
}

const DEV_KEY_FILE: &str = "dev-signing-key";

impl TokenKeys {
    pub fn from_secret(secret: &[u8], issuer: &str, audience: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// Loads the development key from `data_dir`, creating it (32 random bytes, mode 0600) on
    /// first use.
    pub fn load_or_create(data_dir: &Path, issuer: &str, audience: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let path = data_dir.join(DEV_KEY_FILE);
        let secret = match std::fs::read_to_string(&path) {
            Ok(hex_key) => hex::decode(hex_key.trim())
                .with_context(|| format!("{} is not hex", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut secret);
                write_private(&path, &hex::encode(&secret))?;
                tracing::info!(path = %path.display(), "created development signing key");
                secret
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Self::from_secret(&secret, issuer, audience))
    }

    pub fn mint(&self, mut claims: Claims, ttl: chrono::Duration) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        claims.iat = now;
        claims.exp = now + ttl.num_seconds();
        claims.iss = self.issuer.clone();
        claims.aud = self.audience.clone();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".to_owned());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }

    /// Verifies a token: signature (HS256 only), `typ`, `iss`, `aud`, `exp`/`nbf` with 60 s leeway.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let invalid = |why: &str| ApiError::Unauthenticated(format!("invalid token: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        if header
            .typ
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
            != Some("at+jwt")
        {
            return Err(invalid("typ must be at+jwt"));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 60;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| invalid(&e.kind_description()))
    }

    /// The principal of a request from its `Authorization` header value, if any.
    pub fn principal(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let Some(value) = authorization else {
            return Ok(Principal::anonymous());
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::Unauthenticated("Authorization must be `Bearer <token>`".into())
            })?;
        Ok(Principal {
            claims: Some(self.verify(token.trim())?),
        })
    }
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for jsonwebtoken::errors::Error {
    fn kind_description(&self) -> String {
        use jsonwebtoken::errors::ErrorKind::*;
        match self.kind() {
            ExpiredSignature => "expired".into(),
            ImmatureSignature => "not valid yet".into(),
            InvalidIssuer => "wrong issuer".into(),
            InvalidAudience => "wrong audience".into(),
            InvalidSignature => "bad signature".into(),
            InvalidAlgorithm => "algorithm not allowed".into(),
            MissingRequiredClaim(c) => format!("missing claim {c}"),
            _ => "malformed".into(),
        }
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

/// Claims for a development token of `role`.
pub fn dev_claims(
    role: Role,
    subject: Option<String>,
    venue_ids: Vec<Uuid>,
    athlete_id: Option<Uuid>,
) -> Claims {
    Claims {
        iss: String::new(),
        aud: String::new(),
        sub: subject.unwrap_or_else(|| {
            format!(
                "dev-{}",
                serde_json::to_value(role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )
        }),
        exp: 0,
        iat: 0,
        role,
        venue_ids,
        athlete_id,
        scope: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef", "podium", "podium")
    }

    #[test]
    fn a_minted_token_verifies_and_keeps_its_claims() {
        let k = keys();
        let venue = Uuid::new_v4();
        let token = k
            .mint(
                dev_claims(Role::VenueOperator, None, vec![venue], None),
                chrono::Duration::hours(1),
            )
            .unwrap();
        let claims = k.verify(&token).unwrap();
        assert_eq!(claims.role, Role::VenueOperator);
        assert_eq!(claims.venue_ids, vec![venue]);
        assert_eq!(claims.sub, "dev-venue_operator");
    }

    #[test]
    fn expired_foreign_and_tampered_tokens_are_refused() {
        let k = keys();
        let expired = k
            .mint(
                dev_claims(Role::Admin, None, vec![], None),
                chrono::Duration::hours(-2),
            )
            .unwrap();
        assert!(k
            .verify(&expired)
            .unwrap_err()
            .to_string()
            .contains("expired"));
        let other = TokenKeys::from_secret(b"another-secret-another-secret-xx", "podium", "podium");
        let foreign = other
            .mint(
                dev_claims(Role::Admin, None, vec![], None),
                chrono::Duration::hours(1),
            )
            .unwrap();
        assert!(k.verify(&foreign).is_err());
        let wrong_aud =
            TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef", "podium", "elsewhere")
                .mint(
                    dev_claims(Role::Admin, None, vec![], None),
                    chrono::Duration::hours(1),
                )
                .unwrap();
        assert!(k
            .verify(&wrong_aud)
            .unwrap_err()
            .to_string()
            .contains("audience"));
        assert!(k.principal(Some("Basic abc")).is_err());
        assert_eq!(k.principal(None).unwrap(), Principal::anonymous());
    }

    #[test]
    fn venue_operators_manage_only_their_venues() {
        let mine = Uuid::new_v4();
        let p = Principal {
            claims: Some(dev_claims(Role::VenueOperator, None, vec![mine], None)),
        };
        assert!(p.may_manage_venue(Some(mine)).is_ok());
        assert!(matches!(
            p.may_manage_venue(Some(Uuid::new_v4())),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            p.may_manage_venue(None),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            Principal::anonymous().may_manage_venue(Some(mine)),
            Err(ApiError::Unauthenticated(_))
        ));
        let athlete = Principal {
            claims: Some(dev_claims(Role::Athlete, None, vec![], None)),
        };
        assert!(matches!(
            athlete.may_manage_venue(Some(mine)),
            Err(ApiError::Forbidden(_))
        ));
    }
}
