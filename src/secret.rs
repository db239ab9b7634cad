//! Random secrets, their hex encoding and HMACs, for every layer that mints, prints or checks
//! one (tokens, signing keys, delivery ids, lease owners, webhook signatures).

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// A random 256-bit secret, hex encoded.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex HMAC-SHA256 of `message` under `key`.
pub fn hmac_hex(key: &str, message: impl AsRef<[u8]>) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(message.as_ref());
    hex(&mac.finalize().into_bytes())
}

/// Whether two secrets are equal, taking as long whichever byte differs.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: how aplomb signs the webhooks it
/// sends (CONTRACTS §5) and checks the ones it takes.
pub fn sign_webhook(secret: &str, unix_seconds: i64, body: impl AsRef<[u8]>) -> String {
    let mut signed = format!("{unix_seconds}.").into_bytes();
    signed.extend_from_slice(body.as_ref());
    format!("t={unix_seconds},v1={}", hmac_hex(secret, signed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signatures_follow_the_documented_scheme() {
        // HMAC-SHA256("secret", "1700000000.{}") computed independently with Python's hmac module.
        let sig = sign_webhook("secret", 1_700_000_000, "{}");
        assert_eq!(
            sig,
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(sig, sign_webhook("other", 1_700_000_000, "{}"));
    }

    #[test]
    fn equal_secrets_are_equal_in_constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
