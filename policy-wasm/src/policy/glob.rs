//! Image globs (`spec.images[].glob`) with policy-controller's semantics, FORMATS.md §3.3
//! (sigstore/policy-controller `pkg/apis/glob/glob.go`). This module never performs I/O.

use regex::Regex;

use crate::reference;

/// The characters a glob may use (policy-controller's `validGlob`).
fn valid_glob_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '/' | '*' | '.' | '@')
}

/// One `images[].glob`, compiled.
///
/// `.` is literal, `**` matches anything (including `/`), `*` matches anything but `/`, and
/// the whole reference must match. The two special globs `*` and `*/*` are rewritten to
/// `index.docker.io/library/*` and `index.docker.io/*/*`, as policy-controller does.
#[derive(Debug, Clone)]
pub struct ImagePattern {
    glob: String,
    regex: Regex,
}

impl PartialEq for ImagePattern {
    fn eq(&self, other: &Self) -> bool {
        // The regex is a pure function of the glob.
        self.glob == other.glob
    }
}

impl Eq for ImagePattern {}

/// Why a glob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// The glob is empty.
    #[error("glob is empty")]
    Empty,
    /// A character outside `[a-zA-Z0-9-_:/*.@]`.
    #[error("invalid glob {0:?}: only letters, digits and -_:/*.@ are allowed")]
    InvalidCharacter(String),
    /// The translated expression did not compile (cannot happen for a valid glob).
    #[error("glob {glob:?} does not translate to a regular expression: {message}")]
    Untranslatable {
        /// The glob.
        glob: String,
        /// The regex engine's message.
        message: String,
    },
}

impl ImagePattern {
    /// Compiles a glob.
    ///
    /// # Errors
    ///
    /// [`GlobError::Empty`], [`GlobError::InvalidCharacter`] for a character outside
    /// `[a-zA-Z0-9-_:/*.@]`, and (never for a valid glob) [`GlobError::Untranslatable`].
    pub fn new(glob: &str) -> Result<Self, GlobError> {
        if glob.is_empty() {
            return Err(GlobError::Empty);
        }
        if !glob.chars().all(valid_glob_char) {
            return Err(GlobError::InvalidCharacter(glob.to_owned()));
        }
        let rewritten = match glob {
            "*" => "index.docker.io/library/*",
            "*/*" => "index.docker.io/*/*",
            other => other,
        };
        let mut expression = String::from("^");
        let mut rest = rewritten;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("**") {
                expression.push_str(".*");
                rest = after;
                continue;
            }
            match c {
                '*' => expression.push_str("[^/]*"),
                // Every other allowed character but '.' is literal in a regex.
                '.' => expression.push_str(r"\."),
                other => expression.push(other),
            }
            rest = rest.get(c.len_utf8()..).unwrap_or_default();
        }
        expression.push('$');
        let regex = Regex::new(&expression).map_err(|e| GlobError::Untranslatable {
            glob: glob.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Self {
            glob: glob.to_owned(),
            regex,
        })
    }

    /// The glob as written.
    pub fn glob(&self) -> &str {
        &self.glob
    }

    /// True when `image` matches: first its fully-qualified name ([`qualified_name`]), then,
    /// if that differs, the string as written (policy-controller's deprecated fallback).
    pub fn matches(&self, image: &str) -> bool {
        if image.is_empty() {
            return false;
        }
        let qualified = qualified_name(image);
        self.regex.is_match(&qualified) || (qualified != image && self.regex.is_match(image))
    }
}

/// The fully-qualified name go-containerregistry's `ref.Name()` gives a reference: Docker Hub
/// names become `index.docker.io/library/x`, a digest reference is `repository@digest` (a tag
/// next to a digest is dropped), a tag reference is `repository:tag`, and `:latest` is added
/// when there is neither.
pub fn qualified_name(image: &str) -> String {
    let repository = reference::repository(image);
    if let Some((_, digest)) = image.split_once('@') {
        return format!("{repository}@{digest}");
    }
    // A ':' after the last '/' starts a tag; one before it is a registry port.
    let tag = match (image.rfind(':'), image.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => image.get(colon..),
        (Some(colon), None) => image.get(colon..),
        _ => None,
    };
    format!("{repository}{}", tag.unwrap_or(":latest"))
}
