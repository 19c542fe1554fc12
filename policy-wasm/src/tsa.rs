//! RFC 3161 timestamps: a timestamp authority's signed statement that a signature existed at
//! `genTime` (docs/formats/rfc3161.md). A timestamp that verifies here is a verified time for the
//! certificate checks (docs/formats/sigstore-bundle.md, "Step 1: verified times").
//!
//! The response is decoded with `der` derive structures: `TimeStampResp` (RFC 3161 §2.4.2),
//! the token's CMS `SignedData` (RFC 5652 §5) and `TSTInfo` (RFC 3161 §2.4.2). Certificates and
//! signed attributes are kept as the exact bytes they arrived as, so signatures are checked over
//! what was signed, never over a re-encoding. This module never performs I/O.

use der::asn1::{AnyRef, IntRef, ObjectIdentifier, OctetStringRef, SetOfRef, SetOfVec};
use der::{Decode as _, Encode as _, Sequence, Tag, Tagged as _};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierRef;

use crate::cert::{self, CertError, Certificate, Hash, Usage};
use crate::keys::SignatureError;
use crate::time::UnixTime;
use crate::trust_root::CertificateAuthority;

/// id-signedData (RFC 5652 §5.1).
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-ct-TSTInfo (RFC 3161 §2.4.2).
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// id-contentType signed attribute (RFC 5652 §11.1).
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// id-messageDigest signed attribute (RFC 5652 §11.2).
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// id-sha256, id-sha384, id-sha512 (RFC 5754 §2).
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// ecdsa-with-SHA256/384/512 (RFC 5758 §3.2).
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
/// id-ecPublicKey and rsaEncryption: some signers name only the key type; the hash is then
/// the SignerInfo's digest algorithm (RFC 5652 §5.3, RFC 5754 §3).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// sha256/384/512WithRSAEncryption (RFC 4055 §5).
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
/// subjectKeyIdentifier extension (RFC 5280 §4.2.1.2).
const SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// Why a timestamp did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsaError {
    /// The bytes are not a DER `TimeStampResp` of the expected shape.
    #[error("malformed timestamp response: {0}")]
    Malformed(String),
    /// The TSA did not grant the request (PKIStatus other than granted / grantedWithMods).
    #[error("timestamp request was not granted (PKIStatus {status})")]
    NotGranted {
        /// The PKIStatus value.
        status: u32,
    },
    /// The response has no token.
    #[error("timestamp response carries no token")]
    MissingToken,
    /// The token is not CMS SignedData over a TSTInfo.
    #[error("timestamp token is not SignedData over a TSTInfo")]
    NotTstInfo,
    /// The token does not have exactly one signer (RFC 3161 §2.4.2: only the TSA signs).
    #[error("timestamp token has {0} signers; exactly one is required")]
    SignerCount(usize),
    /// A hash algorithm other than SHA-256/384/512.
    #[error("unsupported hash algorithm {0}")]
    UnsupportedHash(String),
    /// The message imprint is not the hash of the signature.
    #[error("timestamp message imprint is not the hash of the signature")]
    ImprintMismatch,
    /// The signer has no signed attributes (RFC 3161 §2.4.1 requires them).
    #[error("timestamp signer has no signed attributes")]
    MissingSignedAttributes,
    /// The content-type signed attribute is missing or not id-ct-TSTInfo.
    #[error("timestamp content-type attribute is missing or not id-ct-TSTInfo")]
    ContentTypeMismatch,
    /// The message-digest signed attribute is missing or not the hash of the TSTInfo.
    #[error("timestamp message-digest attribute does not match the TSTInfo")]
    MessageDigestMismatch,
    /// A signature algorithm we do not verify.
    #[error("unsupported timestamp signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(String),
    /// No certificate (embedded, or the trusted TSAs' signing certificates) is the signer's.
    #[error("no certificate matches the timestamp's signer")]
    SignerNotFound,
    /// The TSA's signature over the signed attributes does not verify.
    #[error("timestamp signature does not verify: {0}")]
    BadSignature(SignatureError),
    /// The signing certificate does not chain to a trusted timestamp authority.
    #[error("timestamp is not from a trusted timestamp authority: {0}")]
    UntrustedTsa(CertError),
    /// `genTime` is outside the TSA certificates' validity or the authority's `validFor`.
    #[error("timestamp time is outside the timestamp authority's validity: {0}")]
    OutsideValidity(CertError),
}

/// Verifies an RFC 3161 `TimeStampResp` over `signature` (the bytes whose hash the imprint
/// holds: a bundle's message signature or first DSSE signature) and returns its `genTime`.
///
/// 1. the response is granted and carries a token (RFC 3161 §2.4.2);
/// 2. the token is SignedData with one signer over a version-1 TSTInfo (RFC 3161 §2.4.2);
/// 3. the message imprint is SHA-256/384/512 of `signature` (docs/formats/rfc3161.md,
///    "Message imprint");
/// 4. the signed attributes name id-ct-TSTInfo and hold the TSTInfo's digest (RFC 5652 §5.4);
/// 5. the signer's certificate, embedded in the token or else a trusted TSA's signing
///    certificate, verifies the signature over the DER signed attributes (RFC 5652 §5.6);
/// 6. that certificate chains to a trusted TSA at `genTime` with the timeStamping extended key
///    usage, every certificate valid and the TSA's `validFor` containing `genTime`
///    (docs/formats/rfc3161.md, "Verification"). An embedded certificate is trusted only through
///    this chain.
///
/// # Errors
///
/// One [`TsaError`] variant per step: [`TsaError::Malformed`], [`TsaError::NotGranted`],
/// [`TsaError::MissingToken`]; [`TsaError::NotTstInfo`], [`TsaError::SignerCount`];
/// [`TsaError::UnsupportedHash`], [`TsaError::ImprintMismatch`];
/// [`TsaError::MissingSignedAttributes`], [`TsaError::ContentTypeMismatch`],
/// [`TsaError::MessageDigestMismatch`]; [`TsaError::SignerNotFound`],
/// [`TsaError::UnsupportedSignatureAlgorithm`], [`TsaError::BadSignature`];
/// [`TsaError::UntrustedTsa`], [`TsaError::OutsideValidity`].
pub fn verify_timestamp(
    response_der: &[u8],
    signature: &[u8],
    tsas: &[CertificateAuthority],
) -> Result<UnixTime, TsaError> {
    // 1. Status and token.
    let response = TimeStampResp::from_der(response_der).map_err(malformed)?;
    // PKIStatus: granted (0) or grantedWithMods (1).
    if response.status.status > 1 {
        return Err(TsaError::NotGranted {
            status: response.status.status,
        });
    }
    let token = response.time_stamp_token.ok_or(TsaError::MissingToken)?;

    // 2. SignedData over TSTInfo, one signer.
    if token.content_type != SIGNED_DATA {
        return Err(TsaError::NotTstInfo);
    }
    let signed_data: SignedData<'_> = token.content.decode_as().map_err(malformed)?;
    let econtent = match signed_data.encap_content_info {
        EncapsulatedContentInfo {
            econtent_type,
            econtent: Some(econtent),
        } if econtent_type == TST_INFO => econtent.as_bytes(),
        _ => return Err(TsaError::NotTstInfo),
    };
    let tst_info = TstInfo::from_der(econtent).map_err(malformed)?;
    if tst_info.version != 1 {
        return Err(TsaError::Malformed(format!(
            "TSTInfo version {}",
            tst_info.version
        )));
    }
    let gen_time = generalized_time(tst_info.gen_time)?;
    let [signer_info] = signed_data.signer_infos.as_slice() else {
        return Err(TsaError::SignerCount(signed_data.signer_infos.len()));
    };
    let signer_info: SignerInfo<'_> = signer_info.decode_as().map_err(malformed)?;

    // 3. docs/formats/rfc3161.md, "Message imprint": the imprint is the hash of the signature.
    let imprint = &tst_info.message_imprint;
    let imprint_hash = hash_algorithm(imprint.hash_algorithm.oid)?;
    if digest(imprint_hash, signature) != imprint.hashed_message.as_bytes() {
        return Err(TsaError::ImprintMismatch);
    }

    // 4. RFC 5652 §5.4, §11.1, §11.2: content type and message digest attributes.
    let signed_attrs = signer_info
        .signed_attrs
        .as_ref()
        .ok_or(TsaError::MissingSignedAttributes)?;
    let attribute = |oid| -> Result<Option<AnyRef<'_>>, TsaError> {
        for attribute in signed_attrs.iter() {
            let attribute: Attribute<'_> = attribute.decode_as().map_err(malformed)?;
            if attribute.attr_type == oid {
                // RFC 5652 §11.1, §11.2: exactly one value.
                return match attribute.attr_values.as_slice() {
                    [value] => Ok(Some(*value)),
                    _ => Err(TsaError::Malformed(format!(
                        "attribute {oid} has several values"
                    ))),
                };
            }
        }
        Ok(None)
    };
    let content_type =
        attribute(CONTENT_TYPE)?.and_then(|value| value.decode_as::<ObjectIdentifier>().ok());
    if content_type != Some(TST_INFO) {
        return Err(TsaError::ContentTypeMismatch);
    }
    let digest_hash = hash_algorithm(signer_info.digest_algorithm.oid)?;
    let message_digest = attribute(MESSAGE_DIGEST)?
        .and_then(|value| value.decode_as::<&OctetStringRef>().ok())
        .ok_or(TsaError::MessageDigestMismatch)?;
    if digest(digest_hash, econtent) != message_digest.as_bytes() {
        return Err(TsaError::MessageDigestMismatch);
    }

    // 5. The signer's certificate and its signature over the DER signed attributes (the
    //    [0] IMPLICIT tag replaced by SET OF's, RFC 5652 §5.4; the bytes are as received).
    let signed_bytes = signed_attrs.to_der().map_err(malformed)?;
    let signature_hash = signature_hash(&signer_info, digest_hash)?;
    let embedded = signed_data
        .certificates
        .iter()
        .flat_map(SetOfVec::as_slice)
        // CertificateChoices (RFC 5652 §10.2.2): only plain certificates are used.
        .filter(|choice| choice.tag() == Tag::Sequence)
        .map(|choice| {
            choice
                .to_der()
                .map_err(malformed)
                .and_then(|der| Certificate::from_der(&der).map_err(TsaError::UntrustedTsa))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Embedded certificates first, then the trusted TSAs' signing certificates; whichever
    // it is, step 6 decides whether it is trusted.
    let trusted_leaves = tsas
        .iter()
        .filter_map(|tsa| tsa.chain.first())
        .filter_map(|der| Certificate::from_der(der).ok());
    let signer = embedded
        .iter()
        .cloned()
        .chain(trusted_leaves)
        .find(|cert| is_signer(cert, signer_info.sid))
        .ok_or(TsaError::SignerNotFound)?;
    let key = signer.public_key().map_err(TsaError::UntrustedTsa)?;
    cert::verify_with_hash(
        &key,
        signature_hash,
        &signed_bytes,
        signer_info.signature.as_bytes(),
    )
    .map_err(TsaError::BadSignature)?;

    // 6. docs/formats/rfc3161.md, "Verification": the certificate chains to a trusted TSA at
    //    genTime.
    let intermediates: Vec<Certificate> = embedded
        .into_iter()
        .filter(|cert| cert.der() != signer.der() && !cert.is_root())
        .collect();
    // Each authority's window binds its own signing certificate (sigstore-go `TSACertificate`,
    // sigstore-python `tsa_certificate(chain[0])`).
    let own: Vec<CertificateAuthority> = tsas
        .iter()
        .filter(|tsa| {
            tsa.chain
                .first()
                .is_some_and(|leaf| leaf.as_slice() == signer.der())
        })
        .cloned()
        .collect();
    cert::verify_chain(&signer, &intermediates, &own, gen_time, Usage::TimeStamping).map_err(
        |err| match err {
            CertError::OutsideValidity { .. } | CertError::AuthorityOutsideValidity { .. } => {
                TsaError::OutsideValidity(err)
            }
            other => TsaError::UntrustedTsa(other),
        },
    )?;
    Ok(gen_time)
}

/// True when `cert` is the one `sid` names (RFC 5652 §5.3): by issuer and serial number, or
/// by subject key identifier.
fn is_signer(cert: &Certificate, sid: AnyRef<'_>) -> bool {
    let tbs = cert.x509().tbs_certificate();
    if sid.tag() == Tag::Sequence {
        let Ok(wanted) = sid.decode_as::<IssuerAndSerialNumber<'_>>() else {
            return false;
        };
        // Names are compared decoded, as x509-cert reads both, not as re-encoded bytes.
        let issuer = wanted.issuer.decode_as::<x509_cert::name::Name>();
        return issuer.is_ok_and(|issuer| issuer == *tbs.issuer())
            && tbs.serial_number().as_bytes() == wanted.serial_number.as_bytes();
    }
    // [0] IMPLICIT SubjectKeyIdentifier (an OCTET STRING).
    let wanted = sid.value();
    cert.extension(SUBJECT_KEY_IDENTIFIER)
        .ok()
        .flatten()
        .and_then(|ext| <&OctetStringRef>::from_der(ext.extn_value.as_bytes()).ok())
        .is_some_and(|ski| ski.as_bytes() == wanted)
}

/// The hash the signature over the signed attributes was made with.
fn signature_hash(signer_info: &SignerInfo<'_>, digest_hash: Hash) -> Result<Hash, TsaError> {
    let oid = signer_info.signature_algorithm.oid;
    let known = [
        (ECDSA_SHA256, Hash::Sha256),
        (ECDSA_SHA384, Hash::Sha384),
        (ECDSA_SHA512, Hash::Sha512),
        (RSA_SHA256, Hash::Sha256),
        (RSA_SHA384, Hash::Sha384),
        (RSA_SHA512, Hash::Sha512),
        (EC_PUBLIC_KEY, digest_hash),
        (RSA_ENCRYPTION, digest_hash),
    ];
    known
        .into_iter()
        .find_map(|(known, hash)| (known == oid).then_some(hash))
        .ok_or_else(|| TsaError::UnsupportedSignatureAlgorithm(oid.to_string()))
}

fn hash_algorithm(oid: ObjectIdentifier) -> Result<Hash, TsaError> {
    match oid {
        SHA256 => Ok(Hash::Sha256),
        SHA384 => Ok(Hash::Sha384),
        SHA512 => Ok(Hash::Sha512),
        other => Err(TsaError::UnsupportedHash(other.to_string())),
    }
}

fn digest(hash: Hash, bytes: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => Sha256::digest(bytes).to_vec(),
        Hash::Sha384 => Sha384::digest(bytes).to_vec(),
        Hash::Sha512 => Sha512::digest(bytes).to_vec(),
    }
}

/// `genTime` (RFC 3161 §2.4.2): `YYYYMMDDhhmmss[.s...]Z`. DER's GeneralizedTime forbids the
/// fraction that RFC 3161 allows, so the value is read here; fractions are rounded down.
fn generalized_time(value: AnyRef<'_>) -> Result<UnixTime, TsaError> {
    let bad = || TsaError::Malformed("genTime is not a GeneralizedTime".to_owned());
    if value.tag() != Tag::GeneralizedTime {
        return Err(bad());
    }
    let text = core::str::from_utf8(value.value()).map_err(|_| bad())?;
    let text = text.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    if whole.len() != 14
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.is_empty()
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let number = |range: core::ops::Range<usize>| -> Result<u16, TsaError> {
        whole
            .get(range)
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(bad)
    };
    let byte = |range| number(range).and_then(|n| u8::try_from(n).map_err(|_| bad()));
    let month = time::Month::try_from(byte(4..6)?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(i32::from(number(0..4)?), month, byte(6..8)?)
        .map_err(|_| bad())?;
    let time =
        time::Time::from_hms(byte(8..10)?, byte(10..12)?, byte(12..14)?).map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp())
}

fn malformed(err: der::Error) -> TsaError {
    TsaError::Malformed(err.to_string())
}

/// `TimeStampResp` (RFC 3161 §2.4.2).
#[derive(Sequence)]
struct TimeStampResp<'a> {
    status: PkiStatusInfo<'a>,
    time_stamp_token: Option<ContentInfo<'a>>,
}

/// `PKIStatusInfo` (RFC 3161 §2.4.2, RFC 4210 §5.2.3).
#[derive(Sequence)]
struct PkiStatusInfo<'a> {
    status: u32,
    status_string: Option<Vec<AnyRef<'a>>>,
    fail_info: Option<der::asn1::BitStringRef<'a>>,
}

/// `ContentInfo` (RFC 5652 §3).
#[derive(Sequence)]
struct ContentInfo<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: AnyRef<'a>,
}

/// `SignedData` (RFC 5652 §5.1). Certificates and signer infos stay raw: certificates are
/// parsed from their exact bytes, and there must be one signer.
#[derive(Sequence)]
struct SignedData<'a> {
    version: u8,
    digest_algorithms: SetOfVec<AnyRef<'a>>,
    encap_content_info: EncapsulatedContentInfo<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    certificates: Option<SetOfVec<AnyRef<'a>>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    crls: Option<SetOfVec<AnyRef<'a>>>,
    signer_infos: SetOfVec<AnyRef<'a>>,
}

/// `EncapsulatedContentInfo` (RFC 5652 §5.2).
#[derive(Sequence)]
struct EncapsulatedContentInfo<'a> {
    econtent_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    econtent: Option<&'a OctetStringRef>,
}

/// `SignerInfo` (RFC 5652 §5.3). The signed attributes are a `SetOfRef`, which keeps their
/// bytes and requires them in DER order, as RFC 5652 §5.4 does for what is signed.
#[derive(Sequence)]
struct SignerInfo<'a> {
    version: u8,
    sid: AnyRef<'a>,
    digest_algorithm: AlgorithmIdentifierRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    signed_attrs: Option<SetOfRef<'a, AnyRef<'a>>>,
    signature_algorithm: AlgorithmIdentifierRef<'a>,
    signature: &'a OctetStringRef,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    unsigned_attrs: Option<SetOfVec<AnyRef<'a>>>,
}

/// `Attribute` (RFC 5652 §5.3).
#[derive(Sequence)]
struct Attribute<'a> {
    attr_type: ObjectIdentifier,
    attr_values: SetOfVec<AnyRef<'a>>,
}

/// `IssuerAndSerialNumber` (RFC 5652 §10.2.4).
#[derive(Sequence)]
struct IssuerAndSerialNumber<'a> {
    issuer: AnyRef<'a>,
    serial_number: IntRef<'a>,
}

/// `TSTInfo` (RFC 3161 §2.4.2).
#[derive(Sequence)]
struct TstInfo<'a> {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint<'a>,
    serial_number: IntRef<'a>,
    gen_time: AnyRef<'a>,
    accuracy: Option<Accuracy<'a>>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    nonce: Option<IntRef<'a>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<AnyRef<'a>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Vec<AnyRef<'a>>>,
}

/// `MessageImprint` (RFC 3161 §2.4.1).
#[derive(Sequence)]
struct MessageImprint<'a> {
    hash_algorithm: AlgorithmIdentifierRef<'a>,
    hashed_message: &'a OctetStringRef,
}

/// `Accuracy` (RFC 3161 §2.4.2).
#[derive(Sequence)]
struct Accuracy<'a> {
    seconds: Option<IntRef<'a>>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<IntRef<'a>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<IntRef<'a>>,
}

#[cfg(test)]
mod tests;
