//! Image globs (`spec.images[].glob`) with policy-controller's semantics
//! (docs/formats/cluster-image-policy.md, "Image globs"; sigstore/policy-controller
//! `pkg/apis/glob/glob.go`). This module never performs I/O.

use crate::reference;

/// The characters a glob may use (policy-controller's `validGlob`).
fn valid_glob_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '/' | '*' | '.' | '@')
}

/// One `images[].glob`, compiled.
///
/// `.` is literal, `**` matches anything (including `/`), `*` matches anything but `/`, and
/// the whole reference must match. The two special globs `*` and `*/*` are rewritten to
/// `index.docker.io/library/*` and `index.docker.io/*/*`, as policy-controller does (which
/// translates globs to regular expressions; matching the tokens directly gives the same
/// answers without a regex engine on the admission path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern {
    glob: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// One byte, itself.
    Literal(u8),
    /// `*`: any run of bytes without `/`.
    Star,
    /// `**`: any run of bytes.
    DoubleStar,
}

/// Why a glob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// The glob is empty.
    #[error("glob is empty")]
    Empty,
    /// A character outside `[a-zA-Z0-9-_:/*.@]`.
    #[error("invalid glob {0:?}: only letters, digits and -_:/*.@ are allowed")]
    InvalidCharacter(String),
}

impl ImagePattern {
    /// Compiles a glob.
    ///
    /// # Errors
    ///
    /// [`GlobError::Empty`], or [`GlobError::InvalidCharacter`] for a character outside
    /// `[a-zA-Z0-9-_:/*.@]`.
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
        let mut tokens = Vec::with_capacity(rewritten.len());
        let mut bytes = rewritten.bytes().peekable();
        while let Some(byte) = bytes.next() {
            tokens.push(match byte {
                b'*' if bytes.peek() == Some(&b'*') => {
                    bytes.next();
                    Token::DoubleStar
                }
                b'*' => Token::Star,
                other => Token::Literal(other),
            });
        }
        Ok(Self {
            glob: glob.to_owned(),
            tokens,
        })
    }

    /// The glob as written.
    pub fn glob(&self) -> &str {
        &self.glob
    }

    /// True when `image` matches: first its fully-qualified, normalised name
    /// ([`qualified_name`]), then the string as written (policy-controller's deprecated
    /// fallback; more matching policies never make admission weaker, as each must pass).
    pub fn matches(&self, image: &str) -> bool {
        if image.is_empty() {
            return false;
        }
        qualified_name(image).is_some_and(|qualified| self.matches_whole(qualified.as_bytes()))
            || self.matches_whole(image.as_bytes())
    }

    /// Whether the tokens match all of `text`: dynamic programming over (token, byte), linear
    /// in each, so no glob can make matching slow.
    fn matches_whole(&self, text: &[u8]) -> bool {
        // reachable[i]: the tokens so far can match exactly text[..i].
        let mut reachable = vec![false; text.len() + 1];
        let mut next = vec![false; text.len() + 1];
        if let Some(first) = reachable.first_mut() {
            *first = true;
        }
        for token in &self.tokens {
            next.fill(false);
            match token {
                Token::Literal(byte) => {
                    for ((cell, &c), &from) in next.iter_mut().skip(1).zip(text).zip(&reachable) {
                        *cell = from && c == *byte;
                    }
                }
                Token::Star | Token::DoubleStar => {
                    let mut open = false;
                    for (i, cell) in next.iter_mut().enumerate() {
                        open |= reachable.get(i) == Some(&true);
                        *cell = open;
                        // `*` cannot run over a '/'.
                        if *token == Token::Star && text.get(i) == Some(&b'/') {
                            open = false;
                        }
                    }
                }
            }
            std::mem::swap(&mut reachable, &mut next);
            if !reachable.contains(&true) {
                return false;
            }
        }
        reachable.last() == Some(&true)
    }
}

/// The fully-qualified name go-containerregistry's `ref.Name()` gives a reference, normalised
/// by [`reference::ImageReference`] (every spelling of Docker Hub becomes
/// `index.docker.io/library/x`): `repository@digest` (a tag next to a digest is dropped),
/// `repository:tag`, or `repository:latest`. `None` for a reference that is not valid, which
/// admission denies before matching.
pub fn qualified_name(image: &str) -> Option<String> {
    reference::ImageReference::parse(image)
        .ok()
        .map(|parsed| parsed.qualified())
}
