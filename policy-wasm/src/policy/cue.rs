//! A small, strict subset of CUE for `attestations[].policy` conditions (`type: cue`, inline
//! `data`), evaluated against the verified in-toto statement (`_type`, `subject`,
//! `predicateType`, `predicate`), as policy-controller feeds it (FORMATS.md §3.2).
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
//! the subset (imports, lists, definitions, interpolation, ...) is a [`CueError`], and the
//! authority fails: a condition sigward cannot evaluate never passes.

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
    Compare(Comparison, f64),
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
        Constraint::Equal(expected) => same(expected, value),
        Constraint::NotEqual(unexpected) => !same(unexpected, value),
        Constraint::Matches(regex, wanted) => value
            .as_str()
            .is_some_and(|text| regex.is_match(text) == *wanted),
        Constraint::Compare(comparison, bound) => {
            value.as_f64().is_some_and(|n| match comparison {
                Comparison::Less => n < *bound,
                Comparison::LessEqual => n <= *bound,
                Comparison::Greater => n > *bound,
                Comparison::GreaterEqual => n >= *bound,
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

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
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
        if name.starts_with('_') && name != "_type" || name.starts_with('#') {
            return Err(self.error(format!(
                "{name:?}: definitions and hidden fields are not supported"
            )));
        }
        if matches!(name.as_str(), "import" | "package" | "let") {
            return Err(self.error(format!("{name:?} is not supported")));
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
                    .as_f64()
                    .ok_or_else(|| self.error("a comparison needs a number"))?;
                return Ok(Constraint::Compare(comparison, bound));
            }
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
        let value: Value = serde_json::from_str(number)
            .ok()
            .filter(Value::is_number)
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
mod tests {
    use serde_json::json;

    use super::*;

    fn statement() -> Value {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": "https://slsa.dev/provenance/v1",
            "subject": [{"name": "x", "digest": {"sha256": "ab"}}],
            "predicate": {
                "buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1"},
                "runDetails": {"builder": {"id": "https://github.com/actions/runner"}},
                "count": 3,
                "approved": true
            }
        })
    }

    #[test]
    fn constraints_hold_or_name_the_field() {
        let passing = [
            "predicateType: \"https://slsa.dev/provenance/v1\"",
            "predicate: buildDefinition: buildType: =~\"^https://actions\\\\.github\\\\.io/\"",
            "predicate: {\n  runDetails: builder: id: \"https://x\" | \"https://github.com/actions/runner\"\n  count: >=1\n}",
            "predicate: count: int, predicate: approved: true // merged",
            "_type: string\npredicate: count: <4\npredicate: count: !=2",
            "\"predicateType\": !~\"spdx\"",
            "predicate: _",
        ];
        for text in passing {
            let condition = Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(condition.check(&statement()), Ok(()), "{text}");
        }
        let failing = [
            (
                "predicateType: \"https://spdx.dev/Document\"",
                "predicateType",
            ),
            ("predicate: count: >3", "predicate.count"),
            ("predicate: missing: \"x\"", "predicate.missing: missing"),
            ("predicate: count: string", "predicate.count"),
            ("predicate: approved: false | null", "predicate.approved"),
            (
                "predicate: count: >=1\npredicate: count: <3",
                "predicate.count",
            ),
        ];
        for (text, field) in failing {
            let error = Condition::parse(text)
                .unwrap()
                .check(&statement())
                .unwrap_err();
            assert!(error.starts_with(field), "{text}: {error}");
        }
    }

    #[test]
    fn text_outside_the_subset_is_refused() {
        for text in [
            "import \"strings\"",
            "predicate: [1, 2]",
            "#Def: string",
            "a: \"\\(b)\"",
            "a: \"unterminated",
            "a: =~\"(\"",
            "a b",
            "predicate: {count: 1",
        ] {
            assert!(Condition::parse(text).is_err(), "{text}");
        }
    }
}
