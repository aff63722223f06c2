//! Protection of personal data at rest: AES-256-GCM with a key id inside every
//! ciphertext and associated data binding each value to its table, column and row;
//! HMAC-SHA256 blind indexes for lookups by phone. The only I/O is `Secrets` keeping
//! development keys in the data directory.

mod blind;
mod cipher;
mod keys;
mod secrets;

pub use blind::BlindIndex;
pub use cipher::{Binding, CryptoError, key_id_of, open, seal};
pub use keys::{KeyError, KeyId, KeyRing};
pub use secrets::{DEV_KEYS_FILE, KeyOrigin, Secrets};
