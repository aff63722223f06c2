use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A key's name, stored inside every ciphertext it seals: 1–32 of `A-Z a-z 0-9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(s: &str) -> Result<KeyId, KeyError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if ok {
            Ok(KeyId(s.to_string()))
        } else {
            Err(KeyError(format!(
                "key id {s:?} must be 1-32 characters of A-Z a-z 0-9 . _ -"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The encryption keys: one active key seals, every key opens.
#[derive(Clone)]
pub struct KeyRing {
    keys: BTreeMap<KeyId, [u8; 32]>,
    active: KeyId,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("KeyRing")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

impl KeyRing {
    /// Parse `ENCRYPTION_KEYS`: comma-separated `id:base64(32 bytes)`; the first key is
    /// the active one, the others only open older data (prepend a key to rotate).
    pub fn parse(spec: &str) -> Result<KeyRing, KeyError> {
        let mut keys = BTreeMap::new();
        let mut active = None;
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            let (id, material) = entry
                .split_once(':')
                .ok_or_else(|| KeyError(format!("entry {} is not `id:base64key`", i + 1)))?;
            let id = KeyId::parse(id.trim())?;
            let bytes = STANDARD
                .decode(material.trim())
                .map_err(|e| KeyError(format!("key {id}: not base64 ({e})")))?;
            let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
                KeyError(format!("key {id}: {} bytes, AES-256 needs 32", b.len()))
            })?;
            if keys.insert(id.clone(), key).is_some() {
                return Err(KeyError(format!("key {id} is listed twice")));
            }
            active.get_or_insert(id);
        }
        let active = active.ok_or_else(|| KeyError("no keys".into()))?;
        Ok(KeyRing { keys, active })
    }

    /// A ring with one new random key (development only).
    pub fn generate(id: &str) -> Result<KeyRing, KeyError> {
        let id = KeyId::parse(id)?;
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut key);
        Ok(KeyRing {
            keys: BTreeMap::from([(id.clone(), key)]),
            active: id,
        })
    }

    /// The ring in `ENCRYPTION_KEYS` form, active key first.
    pub fn to_spec(&self) -> String {
        let active = std::iter::once(&self.active);
        let others = self.keys.keys().filter(|k| **k != self.active);
        active
            .chain(others)
            .map(|id| format!("{id}:{}", STANDARD.encode(self.keys[id])))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn active(&self) -> &KeyId {
        &self.active
    }

    /// For each key, a value that identifies it without revealing it (HMAC-SHA256 of a
    /// fixed label under the key): stored once, compared at every start.
    pub fn check_values(&self) -> Vec<(KeyId, [u8; 32])> {
        use hmac::{Hmac, Mac};
        self.keys
            .iter()
            .map(|(id, key)| {
                let mut mac =
                    <Hmac<sha2::Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(b"jules key check v1");
                (id.clone(), mac.finalize().into_bytes().into())
            })
            .collect()
    }

    pub(super) fn active_key(&self) -> (&KeyId, &[u8; 32]) {
        (&self.active, &self.keys[&self.active])
    }

    pub(super) fn key(&self, id: &str) -> Option<&[u8; 32]> {
        self.keys
            .iter()
            .find(|(k, _)| k.as_str() == id)
            .map(|(_, v)| v)
    }
}
