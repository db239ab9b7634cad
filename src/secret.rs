//! Random secrets and their hex encoding, for every layer that mints or prints one (tokens,
//! signing keys, delivery ids, lease owners).

use rand::RngCore;

/// A random 256-bit secret, hex encoded.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
