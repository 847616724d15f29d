use super::*;
use crate::ast::AtomKind::*;

fn span(r: std::ops::Range<usize>) -> Span {
    Span::new(r.start, r.end)
}

/// Parses and prints back.
fn t(text: &str) -> String {
    let ast = parse_pattern(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let printed = ast.to_string();
    let again = parse_pattern(&printed).unwrap();
    assert_eq!(
        again.without_spans(),
        ast.without_spans(),
        "{text:?} round trip"
    );
    printed
}

/// The error kind and span.
fn t_err(text: &str) -> (ErrorKind, std::ops::Range<usize>) {
    let e = parse_pattern(text).expect_err(text);
    (e.kind().clone(), e.span())
}

fn atoms(text: &str) -> Vec<AtomKind> {
    parse_expr(text)
        .unwrap()
        .atoms()
        .map(|a| a.kind.clone())
        .collect()
}

// word := (letter | digit | "_")+
#[test]
fn word_names_numbers_skip() {
    assert_eq!(
        atoms("b c1 α_β"),
        [Name("b".into()), Name("c1".into()), Name("α_β".into())]
    );
    assert_eq!(atoms("2 1 17"), [Number(2), Number(1), Number(17)]);
    assert_eq!(atoms("_"), [Skip]);
    assert_eq!(atoms("01"), [Number(1)]);
}

#[test]
fn word_rejects() {
    let name = |n: &str| matches!(t_err(&format!("{n} -> a")).0, ErrorKind::InvalidName { .. });
    assert!(name("_a"));
    assert!(name("a_"));
    assert!(name("2a"));
    assert!(name("__"));
    assert_eq!(t_err("a 0 -> a"), (ErrorKind::ZeroAnonymousAxis, 2..3));
    let big = "a 123456789012345678901234567890 -> a";
    assert!(matches!(t_err(big), (ErrorKind::NumberTooLarge(_), r) if r == (2..32)));
}

// ellipsis := "..."
#[test]
fn ellipsis() {
    assert_eq!(atoms("... a"), [Ellipsis, Name("a".into())]);
    assert_eq!(t_err("a .. -> a"), (ErrorKind::StrayDot, 2..4));
    assert_eq!(t_err("a .... -> a"), (ErrorKind::StrayDot, 2..6));
    assert_eq!(t_err("a . -> a"), (ErrorKind::StrayDot, 2..3));
    assert_eq!(t_err("(a .) -> a"), (ErrorKind::StrayDot, 3..4));
    let glued = |p: &str| match t_err(p) {
        (ErrorKind::InvalidName { name, .. }, span) => (name, span),
        other => panic!("{p}: {other:?}"),
    };
    assert_eq!(glued("a ...b -> a"), ("...b".to_owned(), 2..6));
    assert_eq!(glued("a b... -> a"), ("b...".to_owned(), 2..6));
    // Dots after a word that are not an ellipsis are stray, or a decimal.
    assert_eq!(t_err("a.b -> a b"), (ErrorKind::StrayDot, 1..2));
    assert_eq!(t_err("a b.. -> a b"), (ErrorKind::StrayDot, 3..5));
    assert_eq!(glued("1.5 b -> b"), ("1.5".to_owned(), 0..3));
    assert_eq!(t_err("a 2. -> a"), (ErrorKind::StrayDot, 3..4));
}

// Numerals that are not ASCII digits are numeric, so not a name's start.
#[test]
fn numeric_characters() {
    for p in ["Ⅻ b -> b Ⅻ", "٣a b -> b"] {
        let (kind, _) = t_err(p);
        let ErrorKind::InvalidName { reason, .. } = kind else {
            panic!("{p}: {kind:?}");
        };
        assert!(reason.contains("numeric character"), "{p}: {reason}");
    }
    let (ErrorKind::InvalidName { reason, .. }, _) = t_err("2a -> 2a") else {
        panic!()
    };
    assert_eq!(reason, "a name cannot start with a digit");
}

// group := "(" atom* ")"
#[test]
fn groups() {
    let p = parse_pattern("b (c1 c2) -> b").unwrap();
    let Term::Group { atoms, span: s } = &p.inputs[0].terms[1] else {
        panic!("not a group")
    };
    assert_eq!(atoms.len(), 2);
    assert_eq!(*s, span(2..9));
    assert_eq!(t("() a -> a"), "() a -> a");
    assert_eq!(t_err("(a b -> a b"), (ErrorKind::UnclosedGroup, 0..1));
    assert_eq!(t_err("a (b"), (ErrorKind::UnclosedGroup, 2..3));
    assert_eq!(t_err("a b) -> a b"), (ErrorKind::UnopenedGroup, 3..4));
    assert_eq!(t_err("(a (b c)) -> a b c"), (ErrorKind::NestedGroup, 3..4));
    assert_eq!(t_err("a -> a )"), (ErrorKind::UnopenedGroup, 7..8));
}

// expr := term*  with free spacing
#[test]
fn spacing() {
    assert_eq!(t("b(c h)w->b c h w"), "b (c h) w -> b c h w");
    assert_eq!(t("  a\tb ->\nb a  "), "a b -> b a");
    assert_eq!(t("->"), " -> ");
    assert_eq!(t("a->"), "a -> ");
    let p = parse_pattern("  a b  -> b").unwrap();
    assert_eq!(p.inputs[0].span, span(2..5));
    assert_eq!(p.arrow, span(7..9));
}

/// Past ASCII, spaces and names are told by their characters: a
/// vertical tab and a no-break space are spaces, and `bα` is one name.
#[test]
fn spacing_and_names_beyond_ascii() {
    assert_eq!(t("a\u{b}b\u{a0}-> b\u{3000}a"), "a b -> b a");
    assert_eq!(
        atoms("bα c\u{a0}(d e)"),
        [
            Name("bα".into()),
            Name("c".into()),
            Name("d".into()),
            Name("e".into())
        ]
    );
    let p = parse_pattern("\u{a0}a -> a").unwrap();
    assert_eq!(p.inputs[0].span, span(2..3));
}

// pattern := expr ("," expr)* "->" expr
#[test]
fn pattern_shape() {
    assert_eq!(t("a b, b c -> a c"), "a b, b c -> a c");
    assert_eq!(t_err("a b"), (ErrorKind::MissingArrow, 3..3));
    assert_eq!(t_err("a -> b -> c"), (ErrorKind::ExtraArrow, 7..9));
    assert_eq!(
        t_err("a + b -> a b"),
        (ErrorKind::UnexpectedChar('+'), 2..3)
    );
    assert_eq!(t_err("a - b"), (ErrorKind::UnexpectedChar('-'), 2..3));
    assert_eq!(t_err("a -> b, c"), (ErrorKind::UnexpectedChar(','), 6..7));
    assert_eq!(t_err("a é+ -> a"), (ErrorKind::UnexpectedChar('+'), 4..5));
}

#[test]
fn one_sided_expressions() {
    assert_eq!(atoms("b * c"), [Name("b".into()), Star, Name("c".into())]);
    let e = parse_expr("a -> b").unwrap_err();
    assert_eq!((e.kind(), e.span()), (&ErrorKind::UnexpectedArrow, 2..4));
}

#[test]
fn length_limit() {
    let long = "a ".repeat(MAX_PATTERN_LEN);
    assert!(matches!(
        parse_pattern(&long).unwrap_err().kind(),
        ErrorKind::PatternTooLong { .. }
    ));
}

#[test]
fn print_round_trips() {
    for p in [
        "b (c1 c2) h w -> b (c2 c1) h w",
        "... -> ...",
        "a ... -> (a ...)",
        "b 1 () (h 2) -> b h",
        "α β -> β α",
        "b * c -> b",
    ] {
        t(p);
    }
}
