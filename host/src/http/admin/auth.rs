//! Who may use the admin API: a JWT in `Authorization: Bearer`, HS256 with
//! JWT_SECRET_KEY or EdDSA with JWT_PUBLIC_KEY, carrying `sub`, `exp` and a `role`.
//! Missing, expired or forged: 401. The wrong role: 403.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads policy state, history and decisions.
    Viewer,
    /// Reads, and pushes bundles.
    Author,
    /// Reads, activates and rolls back.
    Approver,
    /// Reviews crisis events (opens their texts).
    Reviewer,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "author" => Ok(Role::Author),
            "approver" => Ok(Role::Approver),
            "reviewer" => Ok(Role::Reviewer),
            _ => Err(format!(
                "{s:?} is not a role (viewer, author, approver, reviewer)"
            )),
        }
    }
}

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Push,
    Change,
    Review,
}

impl Role {
    pub fn may(self, p: Permission) -> bool {
        matches!(
            (self, p),
            (
                Role::Viewer | Role::Author | Role::Approver,
                Permission::Read
            ) | (Role::Author, Permission::Push)
                | (Role::Approver, Permission::Change)
                | (Role::Reviewer, Permission::Review)
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub role: Role,
}

/// How tokens are checked (and, with a secret, minted).
#[derive(Clone)]
pub enum TokenKey {
    Hs256(Vec<u8>),
    /// The raw 32-byte ed25519 public key.
    EdDsa([u8; 32]),
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenKey::Hs256(_) => f.write_str("Hs256(..)"),
            TokenKey::EdDsa(_) => f.write_str("EdDsa(..)"),
        }
    }
}

/// Seconds of clock difference a token's expiry is allowed.
const LEEWAY_S: u64 = 30;

impl TokenKey {
    /// `JWT_PUBLIC_KEY` (base64 of a 32-byte ed25519 key, optionally `id:` first, as
    /// `jules policy keygen` writes it in its .pub file).
    pub fn ed25519(text: &str) -> Result<TokenKey, String> {
        use base64::Engine as _;
        let b64 = text.trim().rsplit(':').next().unwrap_or_default();
        let bytes: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("not 32 bytes of base64")?;
        Ok(TokenKey::EdDsa(bytes))
    }

    pub fn check(&self, token: &str) -> Result<Claims, String> {
        let (key, algorithm) = match self {
            TokenKey::Hs256(secret) => (
                DecodingKey::from_secret(secret).map_err(|e| e.to_string())?,
                Algorithm::HS256,
            ),
            TokenKey::EdDsa(public) => (DecodingKey::from_ed_der(public), Algorithm::EdDSA),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_S;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    }
}

/// A token for `sub` with `role`, valid for `ttl`: HS256 with `secret`.
pub fn mint_hs256(secret: &[u8], sub: &str, role: Role, ttl: Duration) -> Result<String, String> {
    let key = EncodingKey::from_secret(secret).map_err(|e| e.to_string())?;
    mint(&key, Algorithm::HS256, sub, role, ttl)
}

/// A token signed with an ed25519 private key (PKCS#8 DER).
pub fn mint_eddsa(pkcs8: &[u8], sub: &str, role: Role, ttl: Duration) -> Result<String, String> {
    mint(
        &EncodingKey::from_ed_der(pkcs8),
        Algorithm::EdDSA,
        sub,
        role,
        ttl,
    )
}

fn mint(
    key: &EncodingKey,
    algorithm: Algorithm,
    sub: &str,
    role: Role,
    ttl: Duration,
) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        sub: sub.to_string(),
        iat: now,
        exp: now + ttl.as_secs(),
        role,
    };
    jsonwebtoken::encode(&Header::new(algorithm), &claims, key).map_err(|e| e.to_string())
}

/// The caller, or the response refusing it.
pub fn authorize(
    key: Option<&TokenKey>,
    headers: &HeaderMap,
    needs: Permission,
) -> Result<Claims, (StatusCode, String)> {
    let Some(key) = key else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "the admin API is off: set JWT_SECRET_KEY or JWT_PUBLIC_KEY".into(),
        ));
    };
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or((
            StatusCode::UNAUTHORIZED,
            "no bearer token (Authorization: Bearer <jwt>)".to_string(),
        ))?;
    let claims = key
        .check(token.trim())
        .map_err(|e| (StatusCode::UNAUTHORIZED, format!("invalid token: {e}")))?;
    if !claims.role.may(needs) {
        return Err((
            StatusCode::FORBIDDEN,
            format!("role {:?} may not do this", claims.role),
        ));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::SigningIdentity;

    #[test]
    fn eddsa_tokens_verify_with_the_public_key_only() {
        let key = SigningIdentity::generate("admin").unwrap();
        let other = SigningIdentity::generate("admin").unwrap();
        let token = mint_eddsa(
            &key.pkcs8_der(),
            "ana",
            Role::Approver,
            Duration::from_secs(60),
        )
        .unwrap();
        let claims = TokenKey::ed25519(&key.trusted_entry())
            .unwrap()
            .check(&token)
            .unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("ana", Role::Approver));
        assert!(
            TokenKey::ed25519(&other.trusted_entry())
                .unwrap()
                .check(&token)
                .is_err()
        );
        // An HS256 token is not accepted where EdDSA is expected, whatever its secret.
        let hs = mint_hs256(
            b"secret-secret-secret-secret-1234",
            "ana",
            Role::Approver,
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(
            TokenKey::ed25519(&key.trusted_entry())
                .unwrap()
                .check(&hs)
                .is_err()
        );
    }

    #[test]
    fn roles_allow_only_their_own_operations() {
        use Permission::*;
        let table = [
            (Role::Viewer, [true, false, false, false]),
            (Role::Author, [true, true, false, false]),
            (Role::Approver, [true, false, true, false]),
            (Role::Reviewer, [false, false, false, true]),
        ];
        for (role, allowed) in table {
            for (p, want) in [Read, Push, Change, Review].into_iter().zip(allowed) {
                assert_eq!(role.may(p), want, "{role:?} {p:?}");
            }
        }
    }
}
