//! cosign's encrypted private key envelope: opens the body of an `ENCRYPTED SIGSTORE PRIVATE
//! KEY` / `ENCRYPTED COSIGN PRIVATE KEY` PEM and returns the PKCS#8 DER inside.
//!
//! The body is the JSON document of go-securesystemslib's `encrypted` package:
//!
//! ```json
//! {"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": "<base64>"},
//!  "cipher": {"name": "nacl/secretbox", "nonce": "<base64 of 24 bytes>"},
//!  "ciphertext": "<base64 of Poly1305 tag || XSalsa20 ciphertext>"}
//! ```
//!
//! The secretbox key is `scrypt(password, salt, N, r, p, 32 bytes)`. cosign 2.5 writes
//! N = 65536; older releases and other tools write N = 32768, so N, r and p are read from the
//! file, within limits that keep a hostile key file from taking gigabytes of memory.
//! This module never performs I/O.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crypto_secretbox::aead::AeadInPlace as _;
use crypto_secretbox::{KeyInit as _, XSalsa20Poly1305};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::KeyError;

/// The most memory scrypt may use (128·N·r bytes): 256 MiB, four times what cosign 2.5 needs.
pub(super) const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// The highest scrypt parallelism accepted; cosign always writes p = 1.
pub(super) const MAX_SCRYPT_P: u32 = 16;

/// `kdf.name` of every cosign key.
const KDF_SCRYPT: &str = "scrypt";
/// `cipher.name` of every cosign key.
const CIPHER_SECRETBOX: &str = "nacl/secretbox";
/// Length of the secretbox key scrypt derives.
const KEY_LEN: usize = 32;
/// Length of an XSalsa20 nonce.
const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag that starts the ciphertext.
const TAG_LEN: usize = 16;

/// Decrypts cosign's envelope (`envelope` is its JSON text) and returns the PKCS#8 DER inside.
///
/// # Errors
///
/// [`KeyError::MalformedEnvelope`] or [`KeyError::BadEnvelopeField`] for a malformed
/// envelope, [`KeyError::UnsupportedEncryption`] or [`KeyError::UnsupportedKdfParams`] for
/// one sigward does not open, and [`KeyError::WrongPassword`] when the secretbox does not
/// authenticate.
pub(super) fn decrypt(envelope: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    // 1. Parse the envelope.
    let envelope: Envelope =
        serde_json::from_slice(envelope).map_err(|e| KeyError::MalformedEnvelope(e.to_string()))?;

    // 2. Only scrypt + NaCl secretbox exist in go-securesystemslib/encrypted.
    if envelope.kdf.name != KDF_SCRYPT || envelope.cipher.name != CIPHER_SECRETBOX {
        return Err(KeyError::UnsupportedEncryption {
            kdf: envelope.kdf.name,
            cipher: envelope.cipher.name,
        });
    }

    // 3. Check the scrypt parameters before spending memory on them.
    let params: ScryptParams = serde_json::from_value(envelope.kdf.params)
        .map_err(|e| KeyError::MalformedEnvelope(format!("kdf.params: {e}")))?;
    let scrypt_params = params.checked()?;

    // 4. Decode the binary fields.
    let salt = decode_field(&envelope.kdf.salt, "kdf.salt", "base64")?;
    let nonce: [u8; NONCE_LEN] = decode_field(&envelope.cipher.nonce, "cipher.nonce", NONCE_TEXT)?
        .try_into()
        .map_err(|_| bad_field("cipher.nonce", NONCE_TEXT))?;
    let mut plaintext = Zeroizing::new(decode_field(
        &envelope.ciphertext,
        "ciphertext",
        CIPHERTEXT_TEXT,
    )?);
    if plaintext.len() < TAG_LEN {
        return Err(bad_field("ciphertext", CIPHERTEXT_TEXT));
    }

    // 5. Derive the secretbox key.
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    scrypt::scrypt(password, &salt, &scrypt_params, key.as_mut_slice())
        // Only an output length outside 10..=64 fails here, and KEY_LEN is 32.
        .map_err(|_| params.unsupported())?;

    // 6. Open the box (tag || ciphertext, as golang.org/x/crypto/nacl/secretbox.Seal writes).
    // A wrong password and a changed ciphertext fail the same Poly1305 check.
    XSalsa20Poly1305::new(&(*key).into())
        .decrypt_in_place(&nonce.into(), &[], &mut *plaintext)
        .map_err(|_| KeyError::WrongPassword)?;
    Ok(plaintext)
}

/// What `cipher.nonce` must hold.
const NONCE_TEXT: &str = "base64 of 24 bytes";
/// What `ciphertext` must hold.
const CIPHERTEXT_TEXT: &str = "base64 of at least 16 bytes (the Poly1305 tag)";

/// The JSON envelope; field names as go-securesystemslib/encrypted writes them.
#[derive(Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

/// `kdf`: `params` stays JSON until `name` says how to read it.
#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: serde_json::Value,
    salt: String,
}

/// `cipher`.
#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// `kdf.params` for scrypt.
#[derive(Clone, Copy, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

impl ScryptParams {
    /// Converts to scrypt's parameters if they are valid and within our limits.
    fn checked(self) -> Result<scrypt::Params, KeyError> {
        if !self.n.is_power_of_two() || self.n < 2 || self.p > MAX_SCRYPT_P {
            return Err(self.unsupported());
        }
        let memory = self
            .n
            .checked_mul(u64::from(self.r))
            .and_then(|v| v.checked_mul(128));
        if memory.is_none_or(|m| m > MAX_SCRYPT_MEMORY) {
            return Err(self.unsupported());
        }
        let log_n = u8::try_from(self.n.trailing_zeros()).map_err(|_| self.unsupported())?;
        scrypt::Params::new(log_n, self.r, self.p, KEY_LEN).map_err(|_| self.unsupported())
    }

    fn unsupported(self) -> KeyError {
        KeyError::UnsupportedKdfParams {
            n: self.n,
            r: self.r,
            p: self.p,
        }
    }
}

/// Decodes one standard-base64 field (Go's `encoding/json` encoding of `[]byte`).
fn decode_field(
    text: &str,
    field: &'static str,
    expected: &'static str,
) -> Result<Vec<u8>, KeyError> {
    BASE64.decode(text).map_err(|_| bad_field(field, expected))
}

fn bad_field(field: &'static str, expected: &'static str) -> KeyError {
    KeyError::BadEnvelopeField { field, expected }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope JSON of a committed cosign key (see tests/data/signing/README.md).
    fn envelope(name: &str) -> serde_json::Value {
        let path = format!("{}/tests/data/signing/{name}", env!("CARGO_MANIFEST_DIR"));
        let pem = std::fs::read(path).unwrap();
        let (_, json) = pem_rfc7468::decode_vec(&pem).unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    fn decrypt_value(value: &serde_json::Value, password: &[u8]) -> Result<Vec<u8>, KeyError> {
        decrypt(&serde_json::to_vec(value).unwrap(), password).map(|pt| pt.to_vec())
    }

    #[test]
    fn opens_cosign_2_5_envelope_with_n_65536() {
        let value = envelope("cosign-p256.key");
        assert_eq!(value["kdf"]["params"]["N"], 65536);
        let der = decrypt_value(&value, b"secret").unwrap();
        assert!(pkcs8::PrivateKeyInfoRef::try_from(der.as_slice()).is_ok());
    }

    #[test]
    fn opens_envelope_with_n_32768() {
        let value = envelope("legacy-cosign-p256.key");
        assert_eq!(value["kdf"]["params"]["N"], 32768);
        assert!(decrypt_value(&value, b"secret").is_ok());
    }

    #[test]
    fn rejects_wrong_and_empty_password() {
        let value = envelope("cosign-p256.key");
        assert_eq!(
            decrypt_value(&value, b"Secret"),
            Err(KeyError::WrongPassword)
        );
        assert_eq!(decrypt_value(&value, b""), Err(KeyError::WrongPassword));
    }

    #[test]
    fn rejects_changed_ciphertext_as_wrong_password() {
        let mut value = envelope("cosign-p256.key");
        let mut ct = BASE64
            .decode(value["ciphertext"].as_str().unwrap())
            .unwrap();
        let last = ct.len() - 1;
        ct[last] ^= 1;
        value["ciphertext"] = BASE64.encode(&ct).into();
        assert_eq!(
            decrypt_value(&value, b"secret"),
            Err(KeyError::WrongPassword)
        );
        ct.truncate(40);
        value["ciphertext"] = BASE64.encode(&ct).into();
        assert_eq!(
            decrypt_value(&value, b"secret"),
            Err(KeyError::WrongPassword)
        );
    }

    #[test]
    fn rejects_ciphertext_shorter_than_tag() {
        let mut value = envelope("cosign-p256.key");
        value["ciphertext"] = BASE64.encode([0u8; 15]).into();
        assert_eq!(
            decrypt_value(&value, b"secret"),
            Err(bad_field("ciphertext", CIPHERTEXT_TEXT))
        );
        value["ciphertext"] = "not base64!".into();
        assert_eq!(
            decrypt_value(&value, b"secret"),
            Err(bad_field("ciphertext", CIPHERTEXT_TEXT))
        );
    }

    #[test]
    fn rejects_bad_nonce_and_salt() {
        let mut value = envelope("cosign-p256.key");
        value["cipher"]["nonce"] = BASE64.encode([0u8; 23]).into();
        assert_eq!(
            decrypt_value(&value, b"secret"),
            Err(bad_field("cipher.nonce", NONCE_TEXT))
        );
        let mut value = envelope("cosign-p256.key");
        value["kdf"]["salt"] = "%%%".into();
        assert_eq!(
            decrypt_value(&value, b"secret"),
            Err(bad_field("kdf.salt", "base64"))
        );
    }

    #[test]
    fn rejects_other_kdf_and_cipher() {
        let mut value = envelope("cosign-p256.key");
        value["kdf"]["name"] = "pbkdf2".into();
        value["kdf"]["params"] = serde_json::json!({"iterations": 1000});
        assert_eq!(
            decrypt_value(&value, b"secret"),
            Err(KeyError::UnsupportedEncryption {
                kdf: "pbkdf2".into(),
                cipher: CIPHER_SECRETBOX.into()
            })
        );
    }

    #[test]
    fn rejects_costly_or_invalid_scrypt_params_before_deriving() {
        for (n, r, p) in [
            (1u64 << 21, 8u32, 1u32), // 2 GiB
            (1 << 40, 8, 1),
            (u64::MAX, 8, 1),
            (65535, 8, 1),
            (0, 8, 1),
            (1, 8, 1),
            (65536, 0, 1),
            (65536, 8, 0),
            (65536, 8, 17),
        ] {
            let mut value = envelope("cosign-p256.key");
            value["kdf"]["params"] = serde_json::json!({"N": n, "r": r, "p": p});
            assert_eq!(
                decrypt_value(&value, b"secret"),
                Err(KeyError::UnsupportedKdfParams { n, r, p }),
                "N={n} r={r} p={p}"
            );
        }
    }

    #[test]
    fn rejects_envelope_that_is_not_cosign_json() {
        assert!(matches!(
            decrypt(b"not json", b"secret"),
            Err(KeyError::MalformedEnvelope(_))
        ));
        let mut value = envelope("cosign-p256.key");
        value.as_object_mut().unwrap().remove("cipher");
        assert!(matches!(
            decrypt_value(&value, b"secret"),
            Err(KeyError::MalformedEnvelope(_))
        ));
        let mut value = envelope("cosign-p256.key");
        value["kdf"]["params"] = serde_json::json!({"N": "65536", "r": 8, "p": 1});
        assert!(matches!(
            decrypt_value(&value, b"secret"),
            Err(KeyError::MalformedEnvelope(_))
        ));
    }
}
