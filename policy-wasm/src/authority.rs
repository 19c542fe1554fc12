//! Who may have signed: the authorities a request names, mirrored from the WIT `verifier`.

/// How a string is compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Matcher {
    /// Equality.
    Exact(String),
    /// An RE2-style regular expression, unanchored unless it anchors itself.
    Regexp(String),
}

/// A keyless signer identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The OIDC issuer.
    pub issuer: Matcher,
    /// Any subject alternative name.
    pub subject: Matcher,
}

/// Keyless settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Keyless {
    /// At least one must match.
    pub identities: Vec<Identity>,
    /// The trust root's name.
    pub trusted_root: String,
}

/// A kind of authority.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Authority {
    /// A PEM public key.
    Key(String),
    /// A Fulcio certificate identity.
    Keyless(Keyless),
}

/// An authority with the name reports use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamedAuthority {
    /// Shown in reports.
    pub name: String,
    /// The authority.
    pub authority: Authority,
}
