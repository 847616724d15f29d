//! The pattern grammar: text in, [`ast`](crate::ast) out.
//!
//! One function per production, each headed by its concrete syntax. The
//! input stays a `&str`; byte offsets are `total - rest.len()`, where
//! `total` is the length of the whole pattern. Once a production has seen
//! enough to know what it is parsing, its errors are `Failure`s (nom's
//! `cut`), so the error points at the real problem instead of at the start
//! of an alternative that happened not to match.

use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::char;
use nom::combinator::{cut, map};
use nom::error::{ErrorKind as NomErrorKind, ParseError};
use nom::{IResult, Parser};
use smallvec::{SmallVec, smallvec};

use crate::ast::{Atom, AtomKind, Expr, Pattern, Term};
use crate::error::{Error, ErrorKind};
use crate::span::Span;

/// The longest pattern accepted, in bytes (see *Input safety* in the crate
/// docs).
pub(crate) const MAX_PATTERN_LEN: usize = 4096;

/// How the grammar keeps a name: copied into a `String`, or as the `&str`
/// it is in the pattern.
pub(crate) trait Name<'a>: Sized {
    fn new(name: &'a str) -> Self;
}

impl<'a> Name<'a> for String {
    fn new(name: &'a str) -> String {
        name.to_owned()
    }
}

impl<'a> Name<'a> for &'a str {
    fn new(name: &'a str) -> &'a str {
        name
    }
}

/// Parses a pattern with `->`: `a b, b c -> a c`.
pub(crate) fn parse_pattern(text: &str) -> Result<Pattern, Error> {
    parse_pattern_as(text)
}

/// [`parse_pattern`], with names borrowed from `text`.
pub(crate) fn parse_pattern_borrowed(text: &str) -> Result<Pattern<&str>, Error> {
    parse_pattern_as(text)
}

fn parse_pattern_as<'a, N: Name<'a>>(text: &'a str) -> Result<Pattern<N>, Error> {
    check_length(text)?;
    let total = text.len();
    let (rest, inputs) = inputs(total, text).map_err(|e| convert(text, e))?;
    let arrow_start = total - rest.len();
    let Ok((rest, _)) = tag::<_, _, PError>("->").parse(rest) else {
        return Err(unexpected(text, rest, Expecting::Arrow));
    };
    let arrow = Span::new(arrow_start, arrow_start + 2);
    let (rest, output) = expr(total, rest).map_err(|e| convert(text, e))?;
    if !rest.is_empty() {
        return Err(unexpected(text, rest, Expecting::End));
    }
    Ok(Pattern {
        inputs,
        arrow,
        output,
    })
}

/// Parses one side without `->`: `b * c` (pack), `b _ h w` (parse_shape).
pub(crate) fn parse_expr(text: &str) -> Result<Expr, Error> {
    check_length(text)?;
    let (rest, expr) = expr(text.len(), text).map_err(|e| convert(text, e))?;
    if !rest.is_empty() {
        return Err(unexpected(text, rest, Expecting::NoArrow));
    }
    Ok(expr)
}

fn check_length(text: &str) -> Result<(), Error> {
    if text.len() > MAX_PATTERN_LEN {
        let kind = ErrorKind::PatternTooLong {
            len: text.len(),
            limit: MAX_PATTERN_LEN,
        };
        // Point at the part past the limit, on a character boundary.
        let mut at = MAX_PATTERN_LEN;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        return Err(Error::new(text, kind, Span::new(at, text.len())));
    }
    Ok(())
}

/// A parse failure: where it starts, how long it is, and (once committed)
/// what it is. `kind: None` is nom's "this alternative did not match".
/// The kind is boxed so that every result the grammar passes around stays
/// small; only a failed parse allocates it.
#[derive(Debug)]
struct PError<'a> {
    at: &'a str,
    len: usize,
    kind: Option<Box<ErrorKind>>,
}

impl<'a> ParseError<&'a str> for PError<'a> {
    fn from_error_kind(input: &'a str, _: NomErrorKind) -> Self {
        PError {
            at: input,
            len: 0,
            kind: None,
        }
    }

    fn append(_: &'a str, _: NomErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = IResult<&'a str, T, PError<'a>>;

fn failure<'a, T>(at: &'a str, len: usize, kind: ErrorKind) -> PResult<'a, T> {
    Err(nom::Err::Failure(PError {
        at,
        len,
        kind: Some(Box::new(kind)),
    }))
}

fn convert(text: &str, err: nom::Err<PError<'_>>) -> Error {
    match err {
        nom::Err::Error(e) | nom::Err::Failure(e) => match e.kind {
            Some(kind) => {
                let start = text.len() - e.at.len();
                Error::new(text, *kind, Span::new(start, start + e.len))
            }
            None => unexpected(text, e.at, Expecting::End),
        },
        // Only streaming parsers return Incomplete; ours are all complete.
        nom::Err::Incomplete(_) => Error::new(
            text,
            ErrorKind::MissingArrow,
            Span::new(text.len(), text.len()),
        ),
    }
}

/// What may follow the point where parsing stopped.
#[derive(Clone, Copy)]
enum Expecting {
    /// `->` (after the inputs of a full pattern).
    Arrow,
    /// The end of a full pattern (after its output).
    End,
    /// The end of a one-sided pattern, which has no `->` at all.
    NoArrow,
}

/// The error for leftover input `rest`: names the first character.
fn unexpected(text: &str, rest: &str, expecting: Expecting) -> Error {
    let start = text.len() - rest.len();
    let Some(c) = rest.chars().next() else {
        return Error::new(text, ErrorKind::MissingArrow, Span::new(start, start));
    };
    let (kind, len) = match c {
        ')' => (ErrorKind::UnopenedGroup, 1),
        '.' => (
            ErrorKind::StrayDot,
            rest.len() - rest.trim_start_matches('.').len(),
        ),
        '-' if rest.starts_with("->") => match expecting {
            Expecting::End => (ErrorKind::ExtraArrow, 2),
            Expecting::NoArrow => (ErrorKind::UnexpectedArrow, 2),
            Expecting::Arrow => unreachable_arrow(),
        },
        c => (ErrorKind::UnexpectedChar(c), c.len_utf8()),
    };
    Error::new(text, kind, Span::new(start, start + len))
}

/// `parse_pattern` only reports `Expecting::Arrow` after failing to match
/// `->`, so `rest` cannot start with it there.
fn unreachable_arrow() -> (ErrorKind, usize) {
    (ErrorKind::MissingArrow, 0)
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

// space*   (cannot fail: a plain function rather than a nom parser, since
// it runs before every term)
#[inline]
fn spaces(i: &str) -> &str {
    skip_while(i, is_ascii_space, is_space)
}

/// `i.trim_start_matches(full)`, with the ASCII prefix checked byte by
/// byte by `byte` (which agrees with `full` on ASCII): a character is
/// decoded only from the first non-ASCII byte on.
#[inline(always)]
fn skip_while(i: &str, byte: impl Fn(u8) -> bool, full: impl Fn(char) -> bool) -> &str {
    let ascii = i.bytes().take_while(|&b| byte(b)).count();
    let rest = &i[ascii..];
    if rest.as_bytes().first().is_some_and(|b| !b.is_ascii()) {
        rest.trim_start_matches(full)
    } else {
        rest
    }
}

/// `is_space` for ASCII: `\t`, `\n`, vertical tab, form feed, `\r` and
/// the space (not `u8::is_ascii_whitespace`, which leaves out the
/// vertical tab).
fn is_ascii_space(b: u8) -> bool {
    b == b' ' || (b'\t'..=b'\r').contains(&b)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

// inputs := expr ("," expr)*
fn inputs<'a, N: Name<'a>>(total: usize, i: &'a str) -> PResult<'a, SmallVec<[Expr<N>; 1]>> {
    let (mut i, first) = expr(total, i)?;
    let mut all = smallvec![first];
    while let Ok((rest, _)) = char::<_, PError>(',').parse(i) {
        let (rest, next) = expr(total, rest)?;
        all.push(next);
        i = rest;
    }
    Ok((i, all))
}

/// `p*`: nom's `many0`, called directly. The grammar's repetitions run
/// once per term, where going through nom's generic parser plumbing cost
/// more than the parsing itself.
fn many<'a, T>(
    mut i: &'a str,
    mut p: impl FnMut(&'a str) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let mut all = Vec::with_capacity(4);
    loop {
        match p(i) {
            Ok((rest, t)) => {
                // As `many0`: a success that consumes nothing would loop.
                if rest.len() == i.len() {
                    let kind = NomErrorKind::Many0;
                    return Err(nom::Err::Error(PError::from_error_kind(i, kind)));
                }
                all.push(t);
                i = rest;
            }
            Err(nom::Err::Error(_)) => return Ok((i, all)),
            Err(e) => return Err(e),
        }
    }
}

// expr := (space* term)* space*
fn expr<'a, N: Name<'a>>(total: usize, i: &'a str) -> PResult<'a, Expr<N>> {
    let i = spaces(i);
    let start = total - i.len();
    let (i, terms) = many(i, |i| term(total, i))?;
    let end = terms.last().map_or(start, |t| t.span().end);
    let i = spaces(i);
    Ok((
        i,
        Expr {
            terms,
            span: Span::new(start, end),
        },
    ))
}

// term := space* (group | atom)
//
// The first character decides the alternative (only a group starts with
// `(`), so no alternative is tried in vain, and where the side ends.
fn term<'a, N: Name<'a>>(total: usize, i: &'a str) -> PResult<'a, Term<N>> {
    let i = spaces(i);
    match i.as_bytes().first() {
        Some(b'(') => group(total, i),
        // What may follow a side (`)` only as an error): no term at all.
        None | Some(b'-' | b',' | b')') => {
            let kind = NomErrorKind::Alt;
            Err(nom::Err::Error(PError::from_error_kind(i, kind)))
        }
        Some(_) => {
            let (i, atom) = atom(total, i)?;
            Ok((i, Term::Atom(atom)))
        }
    }
}

// group := "(" (space* atom)* space* ")"
fn group<'a, N: Name<'a>>(total: usize, i: &'a str) -> PResult<'a, Term<N>> {
    let open = i;
    let (i, _) = char('(').parse(i)?;
    let (i, atoms) = cut(|i| many(i, |i| atom(total, spaces(i)))).parse(i)?;
    let i = spaces(i);
    match i.chars().next() {
        Some(')') => {
            let start = total - open.len();
            let end = total - i.len() + 1;
            Ok((
                &i[1..],
                Term::Group {
                    atoms,
                    span: Span::new(start, end),
                },
            ))
        }
        Some('(') => failure(i, 1, ErrorKind::NestedGroup),
        Some('.') => failure(
            i,
            i.len() - i.trim_start_matches('.').len(),
            ErrorKind::StrayDot,
        ),
        Some('-') if i.starts_with("->") => failure(open, 1, ErrorKind::UnclosedGroup),
        Some(',') => failure(open, 1, ErrorKind::UnclosedGroup),
        Some(c) => failure(i, c.len_utf8(), ErrorKind::UnexpectedChar(c)),
        None => failure(open, 1, ErrorKind::UnclosedGroup),
    }
}

// atom := ellipsis | "*" | word
//
// As in `term`, the first character picks the alternative: `.` an
// ellipsis, `*` a star, anything else a word.
fn atom<'a, N: Name<'a>>(total: usize, i: &'a str) -> PResult<'a, Atom<N>> {
    let start = total - i.len();
    let (rest, kind) = match i.as_bytes().first() {
        Some(b'.') => ellipsis(i)?,
        Some(b'*') => map(char('*'), |_| AtomKind::Star).parse(i)?,
        _ => word(i)?,
    };
    let end = total - rest.len();
    Ok((
        rest,
        Atom {
            kind,
            span: Span::new(start, end),
        },
    ))
}

// ellipsis := "..."   (and no further dot)
fn ellipsis<'a, N>(i: &'a str) -> PResult<'a, AtomKind<N>> {
    let (rest, dots) = take_while1(|c| c == '.').parse(i)?;
    if dots.len() != 3 {
        return failure(i, dots.len(), ErrorKind::StrayDot);
    }
    // `...b` is one token to einops (an invalid name), not `... b`.
    let glued = rest.len() - rest.trim_start_matches(is_word_char).len();
    if glued > 0 {
        return failure(i, 3 + glued, glued_ellipsis(&i[..3 + glued]));
    }
    Ok((rest, AtomKind::Ellipsis))
}

fn glued_ellipsis(token: &str) -> ErrorKind {
    ErrorKind::InvalidName {
        name: token.to_owned(),
        reason: "separate `...` from a name with a space",
    }
}

// word := (letter | digit | "_")+   classified as a name, a number or `_`
fn word<'a, N: Name<'a>>(i: &'a str) -> PResult<'a, AtomKind<N>> {
    let (rest, w) = word_chars(i)?;
    if rest.starts_with('.') {
        return dots_after_word(i, w, rest);
    }
    let invalid = |reason| {
        failure(
            i,
            w.len(),
            ErrorKind::InvalidName {
                name: w.to_owned(),
                reason,
            },
        )
    };
    if w.bytes().all(|b| b.is_ascii_digit()) {
        return match w.parse::<usize>() {
            Ok(0) => failure(i, w.len(), ErrorKind::ZeroAnonymousAxis),
            Ok(n) => Ok((rest, AtomKind::Number(n))),
            Err(_) => failure(i, w.len(), ErrorKind::NumberTooLarge(w.to_owned())),
        };
    }
    if w == "_" {
        return Ok((rest, AtomKind::Skip));
    }
    if w.starts_with(|c: char| c.is_ascii_digit()) {
        return invalid("a name cannot start with a digit");
    }
    if w.starts_with(|c: char| c.is_numeric()) {
        // `Ⅻ`, `٣`, `½`: numeric to Unicode, though not digits to a reader.
        return invalid(
            "a name cannot start with a numeric character (a numeral or a digit of any script)",
        );
    }
    if w.starts_with('_') || w.ends_with('_') {
        return invalid("a name cannot start or end with `_`");
    }
    Ok((rest, AtomKind::Name(N::new(w))))
}

/// `(letter | digit | "_")+`: nom's `take_while1(is_word_char)`, with
/// ASCII checked byte by byte (a character is decoded only at a non-ASCII
/// byte).
#[inline]
fn word_chars(i: &str) -> PResult<'_, &str> {
    let rest = skip_while(i, |b| b.is_ascii_alphanumeric() || b == b'_', is_word_char);
    let len = i.len() - rest.len();
    if len == 0 {
        let kind = NomErrorKind::TakeWhile1;
        return Err(nom::Err::Error(PError::from_error_kind(i, kind)));
    }
    Ok((rest, &i[..len]))
}

/// The error for dots right after a word `w` (at `i`; `rest` starts
/// with the dots): `b...` wants a space, `1.5` is not a whole number, and
/// any other dots are stray.
fn dots_after_word<'a, N>(i: &'a str, w: &str, rest: &'a str) -> PResult<'a, AtomKind<N>> {
    let dots = rest.len() - rest.trim_start_matches('.').len();
    if dots == 3 {
        let len = w.len() + dots;
        return failure(i, len, glued_ellipsis(&i[..len]));
    }
    let after = &rest[dots..];
    let fraction = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if dots == 1 && fraction > 0 && w.bytes().all(|b| b.is_ascii_digit()) {
        let len = w.len() + 1 + fraction;
        let kind = ErrorKind::InvalidName {
            name: i[..len].to_owned(),
            reason: "an anonymous axis is a whole number of at least 1, such as `2`",
        };
        return failure(i, len, kind);
    }
    failure(rest, dots, ErrorKind::StrayDot)
}

#[cfg(test)]
mod tests;
