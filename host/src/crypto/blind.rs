use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys::KeyError;

/// HMAC-SHA256 blind index: lets the store find a row by phone number without holding
/// the number. Its key (`BLIND_INDEX_KEY`) is separate from the encryption keys and is
/// never rotated in place (every index would change).
#[derive(Clone)]
pub struct BlindIndex {
    key: Vec<u8>,
}

impl std::fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndex(..)")
    }
}

impl BlindIndex {
    /// `BLIND_INDEX_KEY`: base64 of at least 32 bytes.
    pub fn parse(spec: &str) -> Result<BlindIndex, KeyError> {
        use base64::Engine as _;
        let key = base64::engine::general_purpose::STANDARD
            .decode(spec.trim())
            .map_err(|e| KeyError(format!("blind index key: not base64 ({e})")))?;
        if key.len() < 32 {
            return Err(KeyError(format!(
                "blind index key: {} bytes, at least 32 needed",
                key.len()
            )));
        }
        Ok(BlindIndex { key })
    }

    /// A value that identifies the key without revealing it: stored once, compared at
    /// every start.
    pub fn check_value(&self) -> [u8; 32] {
        self.of("key-check", "jules key check v1")
    }

    /// The index of one value of one kind (`"phone"`, `"email"` ...): the kind is
    /// part of the MAC so equal strings of different kinds do not collide.
    pub fn of(&self, kind: &str, value: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }
}
