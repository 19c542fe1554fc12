//! DSSE envelopes (Dead Simple Signing Envelope; docs/formats/cosign-signatures.md,
//! "DSSE envelopes"): the JSON form used in `.att` layers and bundles, and PAE, the bytes a DSSE
//! signature covers.
//!
//! This module never performs I/O.

/// The media type of a `.att` layer holding a DSSE envelope (cosign `attest`).
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// The only payload type cosign and Sigstore accept: an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// A decoded envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The payload bytes (decoded from base64).
    pub payload: Vec<u8>,
    /// The payload type, e.g. [`IN_TOTO`].
    pub payload_type: String,
    /// The signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One envelope signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signature bytes (decoded).
    pub sig: Vec<u8>,
    /// The untrusted key id.
    pub keyid: String,
}

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not an envelope.
    #[error("not a DSSE envelope: {0}")]
    Malformed(String),
}

impl Envelope {
    /// Parses the JSON form `{"payloadType","payload","signatures":[{"keyid","sig"}]}`.
    ///
    /// # Errors
    ///
    /// [`EnvelopeError::Malformed`] for anything else, including bad base64.
    pub fn parse(json: &[u8]) -> Result<Self, EnvelopeError> {
        let raw: crate::bundle::RawEnvelope =
            serde_json::from_slice(json).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        raw.into_envelope()
            .map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }

    /// The bytes every signature covers: [`pae`] of this payload.
    pub fn signed_bytes(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// DSSE pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(payload) SP payload`,
/// lengths as decimal byte counts (DSSE spec, "Protocol").
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // DSSE spec test vector: type "http://example.com/HelloWorld", payload "hello world".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn parses_and_rejects_envelopes() {
        let env = Envelope::parse(
            br#"{"payloadType":"t","payload":"aGk=","signatures":[{"keyid":"","sig":"AAE="}]}"#,
        )
        .unwrap();
        assert_eq!(env.payload, b"hi");
        assert_eq!(env.signatures[0].sig, vec![0, 1]);
        assert!(Envelope::parse(b"{}").is_err());
        assert!(Envelope::parse(br#"{"payloadType":"t","payload":"!!","signatures":[]}"#).is_err());
    }
}
