//! How errors show the pattern for every input: invisible and
//! bidirectional characters escaped, carets aligned by display width (wide
//! CJK names), and a window around the span for long patterns.

use ndarray::{ArrayD, IxDyn};

fn rearrange_error(shape: &[usize], pattern: &str) -> String {
    let x = ArrayD::<u8>::zeros(IxDyn(shape));
    einplan::rearrange(&x, pattern, &[])
        .unwrap_err()
        .to_string()
}

#[test]
fn bidirectional_and_invisible_characters_are_escaped() {
    // A right-to-left override would reorder the rest of the line.
    assert_eq!(
        rearrange_error(&[2, 3], "a \u{202e}b -> a b"),
        "a \\u{202e}b -> a b\n  ^^^^^^^^\nerror: unexpected character `\\u{202e}`"
    );
    // A zero-width space inside what looks like one name.
    assert_eq!(
        rearrange_error(&[2, 3], "a\u{200b}b -> b a"),
        "a\\u{200b}b -> b a\n ^^^^^^^^\nerror: unexpected character `\\u{200b}`"
    );
    // A left-to-right isolate glued to an arrow.
    assert_eq!(
        rearrange_error(&[2, 3], "a b \u{2066}-> b a c"),
        "a b \\u{2066}-> b a c\n    ^^^^^^^^\nerror: unexpected character `\\u{2066}`"
    );
    // Tabs and line breaks show as spaces, one column each.
    assert_eq!(
        rearrange_error(&[2, 3], "a\tb\n-> b a c"),
        "a b -> b a c\n           ^\nerror: axis `c` appears only on the output side (use repeat to add axes)"
    );
}

#[test]
fn carets_align_under_wide_characters() {
    assert_eq!(
        rearrange_error(&[2, 3], "行 列 -> 列 行 深"),
        "行 列 -> 列 行 深\n               ^^\nerror: axis `深` appears only on the output side (use repeat to add axes)"
    );
    assert_eq!(
        rearrange_error(&[2, 3], "行 列 -> 列 行 行"),
        "行 列 -> 列 行 行\n            -- ^^\n\
         error: axis `行` appears twice on the output side\n\
         note: `-` marks its first occurrence"
    );
}

#[test]
fn long_patterns_show_a_window_around_the_span() {
    let long: String = (0..40).map(|i| format!("a{i} ")).collect::<String>() + "-> a1 a0 a1";
    assert_eq!(
        rearrange_error(&[2, 3], &long),
        "…36 a37 a38 a39 -> a1 a0 a1\n                   --    ^^\n\
         error: axis `a1` appears twice on the output side\n\
         note: `-` marks its first occurrence"
    );
    // The first occurrence is out of the window: no `-` at a wrong place.
    let names: String = (10..70).map(|i| format!("c{i} ")).collect();
    let far = format!("a0 {names}-> a0 {names}a0");
    let text = rearrange_error(&[1; 61], &far);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("…c64 c65 c66 c67 c68 c69 a0"));
    assert_eq!(lines.next(), Some(&*format!("{}^^", " ".repeat(25))));
    // An error in the middle of a long pattern: cut on both sides.
    let middle = format!("{}(a -> a {}", "b ".repeat(100), "c ".repeat(100));
    let text = rearrange_error(&[2], &middle);
    assert_eq!(
        text,
        format!(
            "…{}(a -> a {}…\n{}^\nerror: this `(` is never closed",
            "b ".repeat(12),
            "c ".repeat(24),
            " ".repeat(25)
        )
    );
}

#[test]
fn a_megabyte_pattern_gives_a_short_message() {
    let huge = "a ".repeat(500_000) + "-> a";
    let text = rearrange_error(&[2, 3], &huge);
    assert!(text.len() < 300, "{} bytes:\n{text}", text.len());
    assert_eq!(
        text,
        format!(
            "…{}…\n{}{}\nerror: the pattern is 1000004 bytes long; the limit is 4096",
            "a ".repeat(40),
            " ".repeat(25),
            "^".repeat(56)
        )
    );
}
