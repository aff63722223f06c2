//! Sealed value layout: `1` (format) ‖ key-id length (1 byte) ‖ key id ‖ 12-byte nonce ‖
//! AES-256-GCM ciphertext with its 16-byte tag. The associated data binds the value to
//! where it is stored and to its key id, so a ciphertext copied into another row or
//! column, or relabelled with another key id, fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

use super::keys::KeyRing;

const FORMAT: u8 = 1;
const NONCE: usize = 12;
const TAG: usize = 16;

/// Where a value lives: its table, column and row (the row's stable id).
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: &'a str,
}

impl Binding<'_> {
    fn associated_data(&self, key_id: &str) -> Vec<u8> {
        // Length-prefixed parts: no two bindings share an encoding.
        let mut aad = b"jules/pii/v1".to_vec();
        for part in [self.table, self.column, self.row, key_id] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the sealed value is malformed: {0}")]
    Malformed(&'static str),
    #[error("the sealed value names key {0:?}, which is not in ENCRYPTION_KEYS")]
    UnknownKey(String),
    #[error(
        "the sealed value does not open for {table}.{column} row {row}: it was tampered with, moved from another row or column, or sealed with another key"
    )]
    Rejected {
        table: String,
        column: String,
        row: String,
    },
}

/// Encrypt `plaintext` for `binding` with the ring's active key and a fresh random nonce.
pub fn seal(ring: &KeyRing, binding: Binding<'_>, plaintext: &[u8]) -> Vec<u8> {
    let (id, key) = ring.active_key();
    let mut nonce = [0u8; NONCE];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = Aes256Gcm::new(key.into());
    let aad = binding.associated_data(id.as_str());
    let body = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(2 + id.as_str().len() + NONCE + body.len());
    out.push(FORMAT);
    out.push(id.as_str().len() as u8);
    out.extend_from_slice(id.as_str().as_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out
}

/// The key id a sealed value names, without opening it (rotation uses this).
pub fn key_id_of(sealed: &[u8]) -> Result<&str, CryptoError> {
    let (&format, rest) = sealed
        .split_first()
        .ok_or(CryptoError::Malformed("empty"))?;
    if format != FORMAT {
        return Err(CryptoError::Malformed("unknown format byte"));
    }
    let (&len, rest) = rest
        .split_first()
        .ok_or(CryptoError::Malformed("truncated"))?;
    let id = rest
        .get(..len as usize)
        .ok_or(CryptoError::Malformed("truncated key id"))?;
    std::str::from_utf8(id).map_err(|_| CryptoError::Malformed("key id is not UTF-8"))
}

/// Decrypt a value sealed for `binding`.
pub fn open(ring: &KeyRing, binding: Binding<'_>, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let id = key_id_of(sealed)?;
    let rest = &sealed[2 + id.len()..];
    if rest.len() < NONCE + TAG {
        return Err(CryptoError::Malformed("truncated ciphertext"));
    }
    let key = ring
        .key(id)
        .ok_or_else(|| CryptoError::UnknownKey(id.to_string()))?;
    let (nonce, body) = rest.split_at(NONCE);
    let aad = binding.associated_data(id);
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Rejected {
            table: binding.table.to_string(),
            column: binding.column.to_string(),
            row: binding.row.to_string(),
        })
}
