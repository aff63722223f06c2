//! Bundle signatures: `signature.json` beside the manifest holds a key id and an
//! ed25519 signature over a canonical statement of what the bundle is (name, version,
//! world, WIT version, digest). A host trusts the keys of `POLICY_TRUSTED_KEYS`.
//!
//! Every check names its refusal. A signature that omits its key id is refused, never
//! passed: there is no path through `Trust::check` that skips verification of a
//! signature that is present.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::bundle::{BundleDigest, Manifest};

pub const SIGNATURE_FILE: &str = "signature.json";
const ALGORITHM: &str = "ed25519";
const FORMAT: &str = "jules-policy-bundle/1";

/// What a signature vouches for. Serialized with its fields in this order, it is the
/// signed message; verification rebuilds it from the bundle, never trusts the file's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Statement {
    pub format: String,
    pub name: String,
    pub version: String,
    pub world: String,
    pub wit: String,
    pub digest: String,
}

impl Statement {
    pub fn of(manifest: &Manifest, digest: &BundleDigest) -> Statement {
        Statement {
            format: FORMAT.into(),
            name: manifest.name.clone(),
            version: manifest.version.to_string(),
            world: manifest.world.to_string(),
            wit: manifest.wit.to_string(),
            digest: digest.to_string(),
        }
    }

    fn message(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement of strings serializes")
    }
}

/// `signature.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SignatureFile {
    #[serde(default)]
    pub key_id: Option<String>,
    pub algorithm: String,
    /// base64 of the 64-byte ed25519 signature over the statement's JSON.
    pub signature: String,
    pub statement: Statement,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the bundle is unsigned (no {SIGNATURE_FILE}); this host accepts signed bundles only")]
    Unsigned,
    #[error("{SIGNATURE_FILE} cannot be read: {reason}")]
    Malformed { reason: String },
    #[error("{SIGNATURE_FILE} names no key id; a signature without one is refused")]
    MissingKeyId,
    #[error("{SIGNATURE_FILE} uses algorithm {0:?}; only ed25519 is accepted")]
    Algorithm(String),
    #[error("signed by key {0:?}, which is not in POLICY_TRUSTED_KEYS")]
    UnknownKey(String),
    #[error("the signature by key {0:?} does not verify")]
    BadSignature(String),
    #[error(
        "digest mismatch: the signature vouches for {signed} but the component and config hash to {actual} (the bundle changed after it was signed)"
    )]
    DigestMismatch { signed: String, actual: String },
    #[error("the signature vouches for {field} {signed:?} but the manifest says {actual:?}")]
    StatementMismatch {
        field: &'static str,
        signed: String,
        actual: String,
    },
}

impl SignatureError {
    /// A short, stable name for heartbeats and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            SignatureError::Unsigned => "unsigned",
            SignatureError::Malformed { .. } => "malformed-signature",
            SignatureError::MissingKeyId => "missing-key-id",
            SignatureError::Algorithm(_) => "algorithm",
            SignatureError::UnknownKey(_) => "unknown-key",
            SignatureError::BadSignature(_) => "bad-signature",
            SignatureError::DigestMismatch { .. } => "digest-mismatch",
            SignatureError::StatementMismatch { .. } => "statement-mismatch",
        }
    }
}

/// Who vouched for a loaded bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    Signed {
        key_id: String,
    },
    /// Accepted without a signature (development only).
    Unsigned,
    /// Loaded by an authoring tool (`jules policy test`) that does not check.
    NotChecked,
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provenance::Signed { key_id } => write!(f, "signed by {key_id}"),
            Provenance::Unsigned => f.write_str("UNSIGNED"),
            Provenance::NotChecked => f.write_str("signature not checked"),
        }
    }
}

/// The keys a host trusts, by id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(BTreeMap<String, VerifyingKey>);

impl TrustedKeys {
    /// `id:base64-public-key` entries separated by commas or whitespace.
    pub fn parse(text: &str) -> Result<TrustedKeys, String> {
        let mut keys = BTreeMap::new();
        for entry in text.split([',', ' ', '\n', '\t']).filter(|e| !e.is_empty()) {
            let (id, key) = entry
                .split_once(':')
                .ok_or_else(|| format!("{entry:?} is not ID:BASE64-PUBLIC-KEY"))?;
            check_key_id(id)?;
            let key = public_key(key).map_err(|e| format!("key {id:?}: {e}"))?;
            if keys.insert(id.to_string(), key).is_some() {
                return Err(format!("key id {id:?} appears twice"));
            }
        }
        Ok(TrustedKeys(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// What a host accepts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Signed by a trusted key; unsigned too when `allow_unsigned` (development).
    Verify {
        keys: TrustedKeys,
        allow_unsigned: bool,
    },
    /// Authoring tools only: the bundle is loaded to be tested, never served.
    NotChecked,
}

impl Default for Trust {
    fn default() -> Self {
        Trust::Verify {
            keys: TrustedKeys::default(),
            allow_unsigned: true,
        }
    }
}

impl Trust {
    /// Verify `signature` (the text of `signature.json`, if the bundle has one) for a
    /// bundle with this manifest and digest.
    pub fn check(
        &self,
        manifest: &Manifest,
        digest: &BundleDigest,
        signature: Option<&str>,
    ) -> Result<Provenance, SignatureError> {
        let (keys, allow_unsigned) = match self {
            Trust::NotChecked => return Ok(Provenance::NotChecked),
            Trust::Verify {
                keys,
                allow_unsigned,
            } => (keys, *allow_unsigned),
        };
        let Some(text) = signature else {
            return if allow_unsigned {
                Ok(Provenance::Unsigned)
            } else {
                Err(SignatureError::Unsigned)
            };
        };
        let file: SignatureFile =
            serde_json::from_str(text).map_err(|e| SignatureError::Malformed {
                reason: e.to_string(),
            })?;
        let key_id = file
            .key_id
            .filter(|id| !id.trim().is_empty())
            .ok_or(SignatureError::MissingKeyId)?;
        if file.algorithm != ALGORITHM {
            return Err(SignatureError::Algorithm(file.algorithm));
        }
        let key = keys
            .0
            .get(&key_id)
            .ok_or_else(|| SignatureError::UnknownKey(key_id.clone()))?;
        let bytes: [u8; 64] = B64
            .decode(file.signature.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SignatureError::Malformed {
                reason: "`signature` is not 64 bytes of base64".into(),
            })?;
        key.verify_strict(&file.statement.message(), &Signature::from_bytes(&bytes))
            .map_err(|_| SignatureError::BadSignature(key_id.clone()))?;
        compare(&file.statement, &Statement::of(manifest, digest))?;
        Ok(Provenance::Signed { key_id })
    }
}

/// The signed statement against the bundle's own: the digest first, as tampering with
/// the component or config is what it catches.
fn compare(signed: &Statement, actual: &Statement) -> Result<(), SignatureError> {
    if signed.digest != actual.digest {
        return Err(SignatureError::DigestMismatch {
            signed: signed.digest.clone(),
            actual: actual.digest.clone(),
        });
    }
    let fields = [
        ("format", &signed.format, &actual.format),
        ("name", &signed.name, &actual.name),
        ("version", &signed.version, &actual.version),
        ("world", &signed.world, &actual.world),
        ("wit", &signed.wit, &actual.wit),
    ];
    for (field, s, a) in fields {
        if s != a {
            return Err(SignatureError::StatementMismatch {
                field,
                signed: s.clone(),
                actual: a.clone(),
            });
        }
    }
    Ok(())
}

/// A private signing key and its id, as `jules policy keygen` writes it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct KeyFile {
    key_id: String,
    algorithm: String,
    private_key: String,
}

pub struct SigningIdentity {
    pub key_id: String,
    key: SigningKey,
}

impl SigningIdentity {
    pub fn generate(key_id: &str) -> Result<SigningIdentity, String> {
        check_key_id(key_id)?;
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        Ok(SigningIdentity {
            key_id: key_id.into(),
            key: SigningKey::from_bytes(&secret),
        })
    }

    pub fn read(path: &Path) -> Result<SigningIdentity, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: KeyFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a key file: {e}", path.display()))?;
        if file.algorithm != ALGORITHM {
            return Err(format!(
                "{}: algorithm {:?}, expected ed25519",
                path.display(),
                file.algorithm
            ));
        }
        check_key_id(&file.key_id)?;
        let secret: [u8; 32] = B64
            .decode(file.private_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("{}: private-key is not 32 bytes of base64", path.display()))?;
        Ok(SigningIdentity {
            key_id: file.key_id,
            key: SigningKey::from_bytes(&secret),
        })
    }

    /// The private key file's text (keep it secret).
    pub fn private_file(&self) -> String {
        let file = KeyFile {
            key_id: self.key_id.clone(),
            algorithm: ALGORITHM.into(),
            private_key: B64.encode(self.key.to_bytes()),
        };
        serde_json::to_string_pretty(&file).expect("a key file serializes") + "\n"
    }

    /// `id:base64-public-key`, one entry of `POLICY_TRUSTED_KEYS`.
    pub fn trusted_entry(&self) -> String {
        format!(
            "{}:{}",
            self.key_id,
            B64.encode(self.key.verifying_key().to_bytes())
        )
    }

    /// The private key as PKCS#8 DER (what JWT libraries take for EdDSA).
    pub fn pkcs8_der(&self) -> Vec<u8> {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        self.key
            .to_pkcs8_der()
            .expect("an ed25519 key encodes as PKCS#8")
            .as_bytes()
            .to_vec()
    }

    pub fn sign(&self, manifest: &Manifest, digest: &BundleDigest) -> SignatureFile {
        let statement = Statement::of(manifest, digest);
        let signature = self.key.sign(&statement.message());
        SignatureFile {
            key_id: Some(self.key_id.clone()),
            algorithm: ALGORITHM.into(),
            signature: B64.encode(signature.to_bytes()),
            statement,
        }
    }
}

fn check_key_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "key id {id:?}: use 1-64 letters, digits, '-', '_' or '.'"
        ))
    }
}

fn public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("not 32 bytes of base64")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not an ed25519 public key".to_string())
}

#[cfg(test)]
mod tests;
