//! A small, strict subset of CUE for `attestations[].policy` conditions (`type: cue`, inline
//! `data`), evaluated against the verified in-toto statement (`_type`, `subject`, `predicateType`,
//! `predicate`), as policy-controller feeds it (docs/formats/cluster-image-policy.md,
//! "Spec fields").
//!
//! The subset is a struct of constraints:
//!
//! ```cue
//! predicateType: "https://slsa.dev/provenance/v1"
//! predicate: buildDefinition: buildType: =~"^https://actions\\.github\\.io/"
//! predicate: {
//!     runDetails: builder: id: "https://github.com/actions/runner" | "https://example.com/b"
//!     invocation: parameters: count: >=1
//! }
//! ```
//!
//! Values: string, number, `true`/`false`/`null` literals (equality); `=~"re"` and `!~"re"`
//! (RE2-style, unanchored); `!=` a literal; `<`, `<=`, `>`, `>=` a number; the types `string`,
//! `number`, `int`, `bool`, `_` (anything); `|` between alternatives; nested structs, written
//! `{ … }` or as `a: b: value`. Fields are separated by newlines or commas; `//` starts a
//! comment.
//!
//! One deliberate difference from CUE: every field a condition names must be present in the
//! statement (CUE's unification would fill in a missing field that has a concrete value, so
//! `predicate: approved: true` would pass a statement without `approved`). Anything outside
//! the subset is a [`CueError`], and the authority fails: a condition sigward cannot evaluate
//! exactly never passes (issue 8, item 4). Refused, among others: bottom `_|_` (one token in
//! CUE, not `_ | _`), defaults `*`, `&`, `...`, definitions `#X`, hidden fields `_x` (an
//! unquoted `_type` is one too: write `"_type"`), optional `?` and required `!` fields,
//! comprehensions, `let`, imports, references to other fields, builtins, interpolation,
//! multi-line, raw and bytes strings, attributes, lists, fractional numbers (CUE compares
//! decimals exactly, binary floats would not), and regular expressions whose meaning differs
//! between CUE's RE2 and sigward's engine. Integers compare exactly; a statement's float that
//! lies within rounding distance of a bound is an error, not a guess.

use regex::Regex;
use serde_json::Value;

/// Why a condition could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "CUE condition, line {line}: {message} (sigward evaluates a subset of CUE: fields, literals, =~, !~, !=, <, <=, >, >=, types, |)"
)]
pub struct CueError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed condition.
#[derive(Debug, Clone)]
pub struct Condition {
    fields: Vec<(String, Constraint)>,
}

#[derive(Debug, Clone)]
enum Constraint {
    Struct(Vec<(String, Constraint)>),
    Any(Vec<Constraint>),
    All(Vec<Constraint>),
    Equal(Value),
    NotEqual(Value),
    Matches(Regex, bool),
    /// Against an integer bound of at most [`MAX_EXACT_INTEGER`] in magnitude.
    Compare(Comparison, i64),
    Type(&'static str),
}

#[derive(Debug, Clone, Copy)]
enum Comparison {
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

impl Condition {
    /// Parses a condition.
    ///
    /// # Errors
    ///
    /// [`CueError`] for text outside the subset.
    pub fn parse(text: &str) -> Result<Self, CueError> {
        let mut parser = Parser { text, pos: 0 };
        let fields = parser.fields(None)?;
        Ok(Self { fields })
    }

    /// Checks `statement`; the first unmet constraint, as `path: problem`.
    ///
    /// # Errors
    ///
    /// A message naming the first field that does not satisfy its constraint.
    pub fn check(&self, statement: &Value) -> Result<(), String> {
        check_fields(&self.fields, statement, "")
    }
}

fn check_fields(fields: &[(String, Constraint)], value: &Value, path: &str) -> Result<(), String> {
    for (name, constraint) in fields {
        let at = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let Some(field) = value.get(name) else {
            return Err(format!("{at}: missing"));
        };
        check(constraint, field, &at)?;
    }
    Ok(())
}

fn check(constraint: &Constraint, value: &Value, path: &str) -> Result<(), String> {
    let ok = match constraint {
        Constraint::Struct(fields) => {
            if !value.is_object() {
                return Err(format!("{path}: not an object"));
            }
            return check_fields(fields, value, path);
        }
        Constraint::Any(alternatives) => alternatives
            .iter()
            .any(|alternative| check(alternative, value, path).is_ok()),
        Constraint::All(constraints) => {
            return constraints.iter().try_for_each(|c| check(c, value, path));
        }
        // serde_json keeps integers and floats apart (`1` is not `1.0`), as CUE's kinds do.
        Constraint::Equal(expected) => expected == value,
        Constraint::NotEqual(unexpected) => {
            if unexpected.is_number() && value.is_f64() {
                // CUE's answer for `!=1` against `1.0` is not the subset's to guess.
                return Err(format!("{path}: {value} cannot be compared exactly"));
            }
            unexpected != value
        }
        Constraint::Matches(regex, wanted) => value
            .as_str()
            .is_some_and(|text| regex.is_match(text) == *wanted),
        Constraint::Compare(comparison, bound) => {
            let ordering =
                compare(value, *bound).map_err(|why| format!("{path}: {value} {why}"))?;
            ordering.is_some_and(|ordering| match comparison {
                Comparison::Less => ordering.is_lt(),
                Comparison::LessEqual => ordering.is_le(),
                Comparison::Greater => ordering.is_gt(),
                Comparison::GreaterEqual => ordering.is_ge(),
            })
        }
        Constraint::Type(name) => match *name {
            "string" => value.is_string(),
            "number" => value.is_number(),
            "int" => value.is_i64() || value.is_u64(),
            "bool" => value.is_boolean(),
            _ => true,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: {value} does not satisfy the condition"))
    }
}

/// The largest integer magnitude a comparison bound may have: every integer up to 2^53 is an
/// exact binary float, so a float in the statement compares with it without rounding the bound.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// How `value` orders against `bound`: `None` when it is not a number (the constraint fails),
/// an error when the statement's float lies so close to the bound that the rounding of its
/// decimal text to binary could have moved it across (CUE compares decimals exactly).
fn compare(value: &Value, bound: i64) -> Result<Option<std::cmp::Ordering>, &'static str> {
    if let Some(n) = value.as_i64() {
        return Ok(Some(n.cmp(&bound)));
    }
    if value.as_u64().is_some() {
        // A u64 that is not an i64 exceeds every i64 bound.
        return Ok(Some(std::cmp::Ordering::Greater));
    }
    let Some(float) = value.as_f64() else {
        return Ok(None);
    };
    let bound = exact_f64(bound).ok_or("cannot be compared with so large a bound")?;
    let ulp = float.abs() * f64::EPSILON;
    if (float - bound).abs() <= ulp {
        return Err("is too close to the bound to be compared exactly");
    }
    Ok(float.partial_cmp(&bound))
}

/// `n` as a binary float when that is exact (|n| <= 2^53), built from two 32-bit halves that
/// convert losslessly.
fn exact_f64(n: i64) -> Option<f64> {
    if n.unsigned_abs() > MAX_EXACT_INTEGER {
        return None;
    }
    let high = i32::try_from(n >> 32).ok()?;
    let low = u32::try_from(n & 0xFFFF_FFFF).ok()?;
    Some(f64::from(high) * 4_294_967_296.0 + f64::from(low))
}

/// Refuses a pattern whose meaning differs between Go's RE2 (which CUE uses) and this engine,
/// so a condition never matches where CUE would not: `\s` (RE2's leaves out `\v`), word
/// boundaries other than `\b`/`\B`, nested classes and class set operations (`[a&&b]` is
/// literal in RE2), flags RE2 does not have, and, for `!~`, case folding (RE2 folds Unicode,
/// this engine ASCII only, so `!~` would reject less).
fn regex_in_common(pattern: &str, wanted: bool) -> Result<(), String> {
    let refuse = |what: &str| {
        Err(format!(
            "regular expression {pattern:?}: {what} is not supported (its meaning differs \
             between CUE's RE2 and sigward)"
        ))
    };
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s' | 'S') => return refuse("\\s"),
                Some('<' | '>') => return refuse("a word-start or word-end assertion"),
                Some('b' | 'B') if chars.peek() == Some(&'{') => {
                    return refuse("a special word boundary");
                }
                _ => {}
            },
            '[' if !in_class => {
                in_class = true;
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                // A leading ']' is a literal in both.
                if chars.peek() == Some(&']') {
                    chars.next();
                }
            }
            '[' => {
                if chars.peek() != Some(&':') {
                    return refuse("a nested character class");
                }
                // `[:alpha:]`, the same ASCII class in both.
                for inner in chars.by_ref() {
                    if inner == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => in_class = false,
            '&' | '-' | '~' if in_class && chars.peek() == Some(&c) => {
                return refuse("a character class set operation");
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                chars.next();
                while let Some(&flag) = chars.peek() {
                    match flag {
                        // A group's end, or a named group (`(?P<n>` and `(?<n>` in both).
                        ':' | ')' | 'P' | '<' => break,
                        'm' | 's' | 'U' | '-' => {}
                        'i' if wanted => {}
                        'i' => return refuse("case folding in !~"),
                        _ => return refuse("this flag or group syntax"),
                    }
                    chars.next();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> CueError {
        let line = self
            .text
            .get(..self.pos)
            .unwrap_or_default()
            .matches('\n')
            .count()
            + 1;
        CueError {
            line,
            message: message.into(),
        }
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Skips spaces, tabs and comments; with `newlines`, line breaks too.
    fn skip(&mut self, newlines: bool) {
        loop {
            let rest = self.rest();
            if rest.starts_with("//") {
                self.pos += rest.find('\n').unwrap_or(rest.len());
                continue;
            }
            match rest.chars().next() {
                Some(' ' | '\t' | '\r') => self.pos += 1,
                Some('\n') if newlines => self.pos += 1,
                _ => return,
            }
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// Fields until `close` (or the end of the text when `None`).
    fn fields(&mut self, close: Option<char>) -> Result<Vec<(String, Constraint)>, CueError> {
        let mut fields: Vec<(String, Constraint)> = Vec::new();
        loop {
            self.skip(true);
            match (self.peek(), close) {
                (None, None) => return Ok(fields),
                (None, Some(c)) => return Err(self.error(format!("missing {c:?}"))),
                (Some(c), Some(close)) if c == close => {
                    self.pos += 1;
                    return Ok(fields);
                }
                _ => {}
            }
            let (name, constraint) = self.field()?;
            merge(&mut fields, name, constraint);
            self.skip(false);
            match self.peek() {
                Some(',' | '\n') => self.pos += 1,
                Some(c) if Some(c) == close => {}
                None => {}
                Some(c) => return Err(self.error(format!("unexpected {c:?} after a field"))),
            }
        }
    }

    fn field(&mut self) -> Result<(String, Constraint), CueError> {
        let name = self.label()?;
        self.skip(false);
        if !self.eat(":") {
            return Err(self.error(format!("expected ':' after {name:?}")));
        }
        self.skip(false);
        // `a: b: value` is `a: { b: value }`.
        let save = self.pos;
        if self.label().is_ok() {
            self.skip(false);
            let nested = self.peek() == Some(':');
            self.pos = save;
            if nested {
                let inner = self.field()?;
                return Ok((name, Constraint::Struct(vec![inner])));
            }
        }
        self.pos = save;
        Ok((name, self.value()?))
    }

    fn label(&mut self) -> Result<String, CueError> {
        if self.peek() == Some('"') {
            return self.string();
        }
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(rest.len());
        let name = rest.get(..end).unwrap_or_default().to_owned();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(self.error("expected a field name"));
        }
        if name.starts_with('_') {
            // In CUE an unquoted `_type` is a hidden field too, which constrains nothing in the
            // statement; the in-toto field is written quoted.
            return Err(self.error(format!(
                "{name:?}: hidden fields are not supported (write a statement field that starts \
                 with '_' quoted, as \"{name}\")"
            )));
        }
        if matches!(
            name.as_str(),
            "import" | "package" | "let" | "for" | "if" | "in"
        ) {
            return Err(self.error(format!(
                "{name:?} is not supported (write a field of that name quoted)"
            )));
        }
        self.pos += end;
        Ok(name)
    }

    fn value(&mut self) -> Result<Constraint, CueError> {
        let mut alternatives = vec![self.single()?];
        loop {
            self.skip(false);
            if !self.eat("|") {
                break;
            }
            self.skip(false);
            alternatives.push(self.single()?);
        }
        Ok(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            Constraint::Any(alternatives)
        })
    }

    fn single(&mut self) -> Result<Constraint, CueError> {
        if self.eat("{") {
            return Ok(Constraint::Struct(self.fields(Some('}'))?));
        }
        for (token, wanted) in [("=~", true), ("!~", false)] {
            if self.eat(token) {
                self.skip(false);
                let pattern = self.string()?;
                regex_in_common(&pattern, wanted).map_err(|e| self.error(e))?;
                let regex = Regex::new(&pattern)
                    .map_err(|e| self.error(format!("bad regular expression: {e}")))?;
                return Ok(Constraint::Matches(regex, wanted));
            }
        }
        if self.eat("!=") {
            self.skip(false);
            return Ok(Constraint::NotEqual(self.literal()?));
        }
        for (token, comparison) in [
            ("<=", Comparison::LessEqual),
            (">=", Comparison::GreaterEqual),
            ("<", Comparison::Less),
            (">", Comparison::Greater),
        ] {
            if self.eat(token) {
                self.skip(false);
                let bound = self
                    .literal()?
                    .as_i64()
                    .filter(|bound| bound.unsigned_abs() <= MAX_EXACT_INTEGER)
                    .ok_or_else(|| {
                        self.error(format!(
                            "a comparison needs an integer of at most {MAX_EXACT_INTEGER} in \
                             magnitude"
                        ))
                    })?;
                return Ok(Constraint::Compare(comparison, bound));
            }
        }
        // CUE lexes `_|_` as one token, bottom (an error value), not as `_ | _` (top): a
        // condition holding it can never pass in CUE, so it is refused here.
        if self.rest().starts_with("_|_") {
            return Err(self.error("bottom (_|_) is not supported"));
        }
        for name in ["string", "number", "int", "bool", "_"] {
            let rest = self.rest();
            let after = rest.get(name.len()..).and_then(|r| r.chars().next());
            if rest.starts_with(name)
                && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                self.pos += name.len();
                return Ok(Constraint::Type(name));
            }
        }
        Ok(Constraint::Equal(self.literal()?))
    }

    fn literal(&mut self) -> Result<Value, CueError> {
        if self.peek() == Some('"') {
            return self.string().map(Value::String);
        }
        for (word, value) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if self.eat(word) {
                return Ok(value);
            }
        }
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(rest.len());
        let number = rest.get(..end).unwrap_or_default();
        if number.contains(['.', 'e', 'E']) {
            // CUE compares decimals exactly; a binary float would not.
            return Err(self.error(format!(
                "{number:?}: only integers are supported, not fractional numbers"
            )));
        }
        let value = serde_json::from_str::<Value>(number)
            .ok()
            .filter(|value: &Value| value.is_i64() || value.is_u64())
            .ok_or_else(|| {
                self.error(format!(
                    "unsupported value starting {:?}",
                    rest.chars().take(12).collect::<String>()
                ))
            })?;
        self.pos += end;
        Ok(value)
    }

    /// A double-quoted string with JSON escapes (CUE's `\(` interpolation is refused).
    fn string(&mut self) -> Result<String, CueError> {
        let rest = self.rest();
        if rest.starts_with("\"\"\"") || rest.starts_with('#') {
            return Err(self.error("multi-line and raw strings are not supported"));
        }
        let mut escaped = false;
        let mut end = None;
        for (i, c) in rest.char_indices().skip(1) {
            match (escaped, c) {
                (true, '(') => return Err(self.error("string interpolation is not supported")),
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                (false, '\n') => break,
                _ => {}
            }
        }
        let end = end.ok_or_else(|| self.error("unterminated string"))?;
        let quoted = rest.get(..=end).unwrap_or_default();
        let text: String =
            serde_json::from_str(quoted).map_err(|e| self.error(format!("bad string: {e}")))?;
        self.pos += end + 1;
        Ok(text)
    }
}

/// CUE merges repeated fields (`predicate: a: 1` and `predicate: b: 2`); so does this.
fn merge(fields: &mut Vec<(String, Constraint)>, name: String, constraint: Constraint) {
    if let Some((_, existing)) = fields.iter_mut().find(|(n, _)| *n == name) {
        match (existing, constraint) {
            (Constraint::Struct(into), Constraint::Struct(more)) => {
                for (n, c) in more {
                    merge(into, n, c);
                }
            }
            // Two constraints on one field: both must hold.
            (existing, other) => {
                let first = std::mem::replace(existing, Constraint::All(Vec::new()));
                *existing = Constraint::All(vec![first, other]);
            }
        }
    } else {
        fields.push((name, constraint));
    }
}

#[cfg(test)]
mod tests;
