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
        "\"_type\": string\npredicate: count: <4\npredicate: count: !=2",
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

/// Issue 8, item 4: `_|_` parsed as `_ | _` and passed. Every form of the CUE spec the subset
/// does not evaluate exactly is refused when the condition is read, with a message saying what.
#[test]
fn forms_of_the_cue_spec_outside_the_subset_are_refused() {
    let refused = [
        // Bottom, in every position a value can take.
        ("bottom", "predicate: _|_", "bottom"),
        (
            "bottom after an alternative",
            "predicate: _ | _|_",
            "bottom",
        ),
        (
            "bottom in a disjunction",
            "predicateType: \"x\" | _|_",
            "bottom",
        ),
        ("bottom nested", "predicate: count: _|_", "bottom"),
        ("bottom in braces", "predicate: {count: _|_}", "bottom"),
        // Defaults and unification.
        ("default", "predicate: count: *1 | int", "unsupported value"),
        (
            "default in a disjunction",
            "predicateType: \"a\" | *\"b\"",
            "unsupported value",
        ),
        (
            "unification",
            "predicate: count: int & >=1",
            "unexpected '&'",
        ),
        (
            "unification of structs",
            "predicate: {a: 1} & {b: 2}",
            "unexpected '&'",
        ),
        // Open and closed structs, definitions, hidden, optional and required fields.
        (
            "ellipsis",
            "predicate: {count: int, ...}",
            "expected a field name",
        ),
        (
            "definition",
            "#Build: {id: string}",
            "expected a field name",
        ),
        (
            "definition reference",
            "predicate: #Build",
            "unsupported value",
        ),
        ("hidden field", "_x: 1", "hidden fields"),
        (
            "unquoted _type is hidden in CUE",
            "_type: string",
            "hidden fields",
        ),
        (
            "hidden field nested",
            "predicate: _count: 3",
            "unsupported value",
        ),
        ("optional field", "count?: int", "expected ':'"),
        ("required field", "count!: int", "expected ':'"),
        (
            "pattern constraint",
            "predicate: [string]: int",
            "unsupported value",
        ),
        ("embedded struct", "{predicate: _}", "expected a field name"),
        ("embedded scalar", "\"predicate\"", "expected ':'"),
        // Comprehensions, let, imports, packages.
        (
            "for comprehension",
            "for k, v in predicate {x: v}",
            "\"for\" is not supported",
        ),
        (
            "if comprehension",
            "if predicate.count > 1 {ok: true}",
            "\"if\" is not supported",
        ),
        (
            "let",
            "let n = 1\npredicate: count: n",
            "\"let\" is not supported",
        ),
        (
            "import",
            "import \"strings\"",
            "\"import\" is not supported",
        ),
        ("package", "package policy", "\"package\" is not supported"),
        ("keyword label in", "in: 1", "\"in\" is not supported"),
        // References, selectors and builtins.
        (
            "reference to another field",
            "predicate: count: predicateType",
            "unsupported value",
        ),
        (
            "selector",
            "predicate: count: predicate.count",
            "unsupported value",
        ),
        (
            "builtin len",
            "predicate: count: len(subject)",
            "unsupported value",
        ),
        (
            "package builtin",
            "predicateType: strings.HasPrefix(\"https\")",
            "unsupported value",
        ),
        (
            "type name beyond the subset",
            "predicate: count: int8",
            "unsupported value",
        ),
        ("uint", "predicate: count: uint", "unsupported value"),
        ("float type", "predicate: count: float", "unsupported value"),
        ("bytes type", "predicate: count: bytes", "unsupported value"),
        // Literals the subset cannot compare exactly, or does not read.
        (
            "interpolation",
            "predicateType: \"https://\\(host)/v1\"",
            "interpolation",
        ),
        ("interpolated label", "\"\\(k)\": 1", "interpolation"),
        (
            "multi-line string",
            "predicateType: \"\"\"\n    x\n    \"\"\"",
            "multi-line",
        ),
        ("raw string", "predicateType: #\"x\"#", "unsupported value"),
        ("bytes literal", "predicateType: 'x'", "unsupported value"),
        ("list", "subject: [...]", "unsupported value"),
        ("fraction", "predicate: count: 3.0", "fractional"),
        ("fraction bound", "predicate: count: <3.5", "fractional"),
        ("exponent", "predicate: count: 3e0", "fractional"),
        ("leading-dot fraction", "predicate: count: .5", "fractional"),
        ("hex integer", "predicate: count: 0x3", "unexpected 'x'"),
        (
            "underscored integer",
            "predicate: count: 1_000",
            "unexpected '_'",
        ),
        ("multiplier", "predicate: count: 1Ki", "unexpected 'K'"),
        (
            "bound beyond exact floats",
            "predicate: count: <=9007199254740993",
            "an integer",
        ),
        (
            "integer beyond 64 bits",
            "predicate: count: 18446744073709551616",
            "unsupported value",
        ),
        ("bound on a string", "predicateType: <\"b\"", "an integer"),
        // Attributes and other syntax.
        (
            "attribute",
            "predicate: count: int @go(Count)",
            "unexpected '@'",
        ),
        (
            "declaration attribute",
            "@extern(go)\npredicate: _",
            "expected a field name",
        ),
        (
            "block comment",
            "/* c */ predicate: _",
            "expected a field name",
        ),
        (
            "parenthesised expression",
            "predicate: count: (1)",
            "unsupported value",
        ),
        ("arithmetic", "predicate: count: 1 + 2", "unexpected '+'"),
        (
            "negated match of a bound",
            "predicate: count: !>1",
            "unsupported value",
        ),
        // Regular expressions whose RE2 meaning differs from sigward's engine.
        ("RE2 \\s has no \\v", "predicateType: =~\"a\\\\sb\"", "\\s"),
        (
            "nested class",
            "predicateType: =~\"[a[b]]\"",
            "nested character class",
        ),
        (
            "class intersection",
            "predicateType: =~\"[a-z&&b]\"",
            "set operation",
        ),
        (
            "class difference",
            "predicateType: =~\"[a-z--b]\"",
            "set operation",
        ),
        ("word start", "predicateType: =~\"\\\\<x\"", "word-start"),
        (
            "special word boundary",
            "predicateType: =~\"\\\\b{start}x\"",
            "special word boundary",
        ),
        ("verbose flag", "predicateType: =~\"(?x) a\"", "flag"),
        (
            "case folding in !~",
            "predicateType: !~\"(?i)spdx\"",
            "case folding",
        ),
    ];
    for (form, text, why) in refused {
        match Condition::parse(text) {
            Ok(condition) => panic!("{form}: {text:?} was accepted as {condition:?}"),
            Err(error) => assert!(
                error.to_string().contains(why),
                "{form}: {text:?}: {error} (expected {why:?})"
            ),
        }
    }
}

/// The forms the subset does read give CUE's exact answer (or fail when the answer cannot be
/// known exactly); each row is checked against the same statement.
#[test]
fn forms_inside_the_subset_evaluate_exactly() {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "count": 3, "ratio": 1.0, "near": 2.9999999999999996, "big": 18446744073709551615u64,
            "negative": -5, "name": "a\u{212a}", "flag": false, "nothing": null
        }
    });
    let rows: &[(&str, Result<(), &str>)] = &[
        ("\"_type\": =~\"^https://in-toto\"", Ok(())),
        ("predicate: _", Ok(())),
        ("predicate: _ | _", Ok(())),
        ("predicate: count: 3", Ok(())),
        // `1` is an int, `1.0` a float: different kinds in CUE, and in serde_json.
        ("predicate: ratio: 1", Err("predicate.ratio")),
        ("predicate: count: int", Ok(())),
        ("predicate: ratio: int", Err("predicate.ratio")),
        ("predicate: ratio: number", Ok(())),
        // 1.0 is exactly the bound, but a decimal just below 1 reads as 1.0 too.
        ("predicate: ratio: >=1", Err("too close to the bound")),
        ("predicate: ratio: >0", Ok(())),
        // The float's decimal text may lie on either side of 3: no guess.
        ("predicate: near: <3", Err("too close to the bound")),
        ("predicate: near: >=3", Err("too close to the bound")),
        // Integers compare exactly, beyond 2^53 and beyond i64.
        ("predicate: big: >9007199254740992", Ok(())),
        ("predicate: negative: <-4", Ok(())),
        ("predicate: negative: >=-4", Err("predicate.negative")),
        ("predicate: count: !=3", Err("predicate.count")),
        ("predicate: ratio: !=2", Err("cannot be compared exactly")),
        ("predicate: flag: false | null", Ok(())),
        ("predicate: nothing: null", Ok(())),
        ("predicate: flag: bool, predicate: flag: !=true", Ok(())),
        // ASCII case folding for =~ only narrows what matches (RE2 would fold the Kelvin sign).
        ("predicate: name: =~\"(?i)^aK$\"", Err("predicate.name")),
        ("predicate: name: =~\"^a\"", Ok(())),
        ("predicate: name: !~\"(?P<x>b)\"", Ok(())),
        ("predicate: missing: _", Err("predicate.missing: missing")),
    ];
    for &(text, expected) in rows {
        let condition = Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        match (condition.check(&statement), expected) {
            (Ok(()), Ok(())) => {}
            (Err(error), Err(part)) => assert!(error.contains(part), "{text}: {error}"),
            (got, expected) => panic!("{text}: got {got:?}, expected {expected:?}"),
        }
    }
}
