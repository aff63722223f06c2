//! Protection of personal data at rest: AES-256-GCM with a key id inside every
//! ciphertext and associated data binding each value to its table, column and row;
//! HMAC-SHA256 blind indexes for lookups by phone. Nothing here does I/O; keys come
//! from the caller (the configuration).

mod blind;
mod cipher;
mod keys;

pub use blind::BlindIndex;
pub use cipher::{Binding, CryptoError, key_id_of, open, seal};
pub use keys::{KeyError, KeyId, KeyRing};
