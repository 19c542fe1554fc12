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
    /// What the certificate's GitHub Actions extensions must hold, on top of issuer and
    /// subject (none of them by default).
    pub github_workflow: GithubWorkflow,
}

impl Identity {
    /// An identity with an issuer and a subject and no GitHub workflow requirement.
    pub fn new(issuer: Matcher, subject: Matcher) -> Self {
        Self {
            issuer,
            subject,
            github_workflow: GithubWorkflow::default(),
        }
    }
}

/// Values the Fulcio certificate's deprecated GitHub Actions extensions (1.3.6.1.4.1.57264.1.2
/// to .1.6, Fulcio's `docs/oid-info.md`) must hold, compared byte for byte, as cosign's
/// `--certificate-github-workflow-*` flags compare them. `None` leaves an extension unchecked;
/// a certificate without the extension matches no `Some`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GithubWorkflow {
    /// The `event_name` claim (extension `.1.2`), such as `push`.
    pub trigger: Option<String>,
    /// The `sha` claim (`.1.3`): the commit the run was based upon.
    pub sha: Option<String>,
    /// The `workflow` claim (`.1.4`): the workflow's name.
    pub name: Option<String>,
    /// The `repository` claim (`.1.5`): `owner/repo`.
    pub repository: Option<String>,
    /// The `ref` claim (`.1.6`): the git ref, such as `refs/heads/main`.
    pub git_ref: Option<String>,
}

impl GithubWorkflow {
    /// True when no extension is constrained.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
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
