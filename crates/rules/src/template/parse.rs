//! Go's `text/template` syntax: a lexer and a recursive-descent parser producing the tree
//! that `exec` walks, with Go's error messages (`unexpected "*" in operand`, `undefined
//! variable "$x"`, `function "foo" not defined`, `unexpected EOF`, …).
//!
//! The grammar and the checks done at parse time follow Go's `text/template/parse`
//! package: variables are scoped to the control structure that declares them, functions
//! must be known, the first word of a pipeline stage must be executable, and `{{else}}`
//! / `{{end}}` must close something.

use std::collections::BTreeMap;

use promlite_model::go_quote;

/// A parse error: the 1-based line and Go's message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// A list of nodes: the body of a template or of a control structure.
pub(crate) type List = Vec<Node>;

/// One node of the tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Text copied to the output.
    Text(String),
    /// `{{pipeline}}`: the value is printed unless the pipeline declares variables.
    Action(Pipe),
    /// `{{if}}`, `{{with}}` or `{{range}}`.
    Control {
        kind: ControlKind,
        pipe: Pipe,
        list: List,
        else_list: Option<List>,
    },
    /// `{{template "name" pipeline}}`.
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    /// `{{break}}`.
    Break,
    /// `{{continue}}`.
    Continue,
}

/// Which control structure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ControlKind {
    If,
    With,
    Range,
}

/// A pipeline: optional variable declarations and `|`-separated commands.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pipe {
    /// Declared or assigned variables (`$x :=`, `$i, $v :=`).
    pub(crate) decl: Vec<String>,
    /// `=` rather than `:=`.
    pub(crate) is_assign: bool,
    pub(crate) cmds: Vec<Command>,
}

/// One stage of a pipeline: an operand or a function with its arguments.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub(crate) args: Vec<Arg>,
}

/// An argument or the head of a command, with its byte offset in the source.
#[derive(Debug, Clone)]
pub(crate) struct Arg {
    pub(crate) pos: usize,
    pub(crate) kind: ArgKind,
}

/// What an argument is.
#[derive(Debug, Clone)]
pub(crate) enum ArgKind {
    /// `.` alone.
    Dot,
    /// `.a.b`.
    Field(Vec<String>),
    /// `$x.a.b`.
    Variable(String, Vec<String>),
    /// A function name.
    Identifier(String),
    /// `(pipeline).a.b` or `(pipeline)`.
    Chain(Box<Pipe>, Vec<String>),
    /// A quoted string: its value and its text as written.
    Str(String, String),
    /// A number constant, with its text for messages.
    Number(Number, String),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
}

/// Go's untyped numeric constants as a template argument sees them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

/// A parsed set of templates: the main one and those from `{{define}}` / `{{block}}`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    pub(crate) root: List,
    pub(crate) defines: BTreeMap<String, List>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Left,
    Right,
    Space,
    Ident(String),
    Keyword(&'static str),
    Field(String),
    Variable(String),
    Dot,
    Str(String),
    Number(String),
    CharConst(String),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Char(char),
    Eof,
}

impl Tok {
    /// How Go's parser names a token in `unexpected X in Y`.
    fn describe(&self) -> String {
        let quoted = |s: &str| {
            if s.chars().count() > 10 {
                let head: String = s.chars().take(10).collect();
                format!("{}...", go_quote(&head))
            } else {
                go_quote(s)
            }
        };
        match self {
            Tok::Eof => "EOF".into(),
            Tok::Keyword(k) => format!("<{k}>"),
            Tok::Text(s)
            | Tok::Ident(s)
            | Tok::Field(s)
            | Tok::Variable(s)
            | Tok::Str(s)
            | Tok::Number(s)
            | Tok::CharConst(s) => quoted(s),
            Tok::Left => quoted("{{"),
            Tok::Right => quoted("}}"),
            Tok::Space => quoted(" "),
            Tok::Dot => quoted("."),
            Tok::Bool(b) => quoted(if *b { "true" } else { "false" }),
            Tok::Nil => quoted("nil"),
            Tok::Pipe => quoted("|"),
            Tok::LParen => quoted("("),
            Tok::RParen => quoted(")"),
            Tok::Declare => quoted(":="),
            Tok::Assign => quoted("="),
            Tok::Char(c) => quoted(&c.to_string()),
        }
    }
}

/// A token with its byte offset and line.
#[derive(Debug, Clone)]
struct Item {
    tok: Tok,
    pos: usize,
    line: usize,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn line_at(src: &str, pos: usize) -> usize {
    1 + src[..pos.min(src.len())].matches('\n').count()
}

/// Splits `src` into tokens, Go's way: text between actions (trimmed next to `{{- ` and
/// ` -}}`), comments dropped, and the words of each action.
fn lex(src: &str) -> Result<Vec<Item>, ParseError> {
    let b = src.as_bytes();
    let mut out: Vec<Item> = Vec::new();
    let mut i = 0;
    let mut trim_next_text = false;
    let err = |pos: usize, m: &str| ParseError {
        line: line_at(src, pos),
        message: m.to_owned(),
    };
    loop {
        // Text up to the next `{{`.
        let start = i;
        let next = src[i..].find("{{").map(|k| i + k);
        let end = next.unwrap_or(b.len());
        let mut text = &src[start..end];
        let left_trim = next.is_some_and(|n| {
            b.get(n + 2) == Some(&b'-') && b.get(n + 3).is_some_and(|&c| is_space(c))
        });
        if trim_next_text {
            text = text.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
        }
        if left_trim {
            text = text.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8));
        }
        if !text.is_empty() {
            out.push(Item {
                tok: Tok::Text(text.to_owned()),
                pos: start,
                line: line_at(src, start),
            });
        }
        trim_next_text = false;
        let Some(open) = next else {
            out.push(Item {
                tok: Tok::Eof,
                pos: b.len(),
                line: line_at(src, b.len()),
            });
            return Ok(out);
        };
        i = open + 2;
        if left_trim {
            i += 2;
        }
        // A comment must open the action.
        if src[i..].starts_with("/*") {
            let Some(close) = src[i + 2..].find("*/") else {
                return Err(err(open, "unclosed comment"));
            };
            let mut j = i + 2 + close + 2;
            if src[j..].starts_with(" -}}")
                || (src[j..].len() >= 4
                    && is_space(b[j])
                    && b[j + 1] == b'-'
                    && src[j + 2..].starts_with("}}"))
            {
                j += 4;
                trim_next_text = true;
            } else if src[j..].starts_with("}}") {
                j += 2;
            } else {
                return Err(err(open, "comment ends before closing delimiter"));
            }
            i = j;
            continue;
        }
        out.push(Item {
            tok: Tok::Left,
            pos: open,
            line: line_at(src, open),
        });
        let mut depth = 0usize;
        loop {
            let Some(&c) = b.get(i) else {
                return Err(err(open, "unclosed action"));
            };
            // The right delimiter; its trim marker ` -}}` needs the space before it.
            let mut j = i;
            while b.get(j).is_some_and(|&c| is_space(c)) {
                j += 1;
            }
            let close = if j > i && src[j..].starts_with("-}}") {
                Some((j, 3, true))
            } else if src[i..].starts_with("}}") {
                Some((i, 2, false))
            } else {
                None
            };
            if let Some((at, len, trim)) = close {
                if depth > 0 {
                    return Err(err(open, "unclosed left paren"));
                }
                out.push(Item {
                    tok: Tok::Right,
                    pos: at,
                    line: line_at(src, at),
                });
                i = at + len;
                trim_next_text = trim;
                break;
            }
            if j > i {
                out.push(Item {
                    tok: Tok::Space,
                    pos: i,
                    line: line_at(src, i),
                });
                i = j;
                continue;
            }
            let start = i;
            let tok = match c {
                b'"' => {
                    i = quoted_end(b, i, b'"')
                        .ok_or_else(|| err(start, "unterminated quoted string"))?;
                    let s = unquote(&src[start..i]).ok_or_else(|| err(start, "invalid syntax"))?;
                    Tok::Str(s)
                }
                b'`' => {
                    let Some(e) = src[i + 1..].find('`') else {
                        return Err(err(start, "unterminated raw quoted string"));
                    };
                    i += e + 2;
                    Tok::Str(src[start + 1..i - 1].to_owned())
                }
                b'\'' => {
                    i = quoted_end(b, i, b'\'')
                        .ok_or_else(|| err(start, "unterminated character constant"))?;
                    Tok::CharConst(src[start..i].to_owned())
                }
                b':' => {
                    if b.get(i + 1) != Some(&b'=') {
                        return Err(err(start, "expected :="));
                    }
                    i += 2;
                    Tok::Declare
                }
                b'=' => {
                    i += 1;
                    Tok::Assign
                }
                b'|' => {
                    i += 1;
                    Tok::Pipe
                }
                b'(' => {
                    depth += 1;
                    i += 1;
                    Tok::LParen
                }
                // An unmatched `)` is left to the parser, which reports it in context
                // (`unexpected ")" in command`), as Go's does.
                b')' => {
                    depth = depth.saturating_sub(1);
                    i += 1;
                    Tok::RParen
                }
                b'$' => {
                    i = word_end(src, i + 1);
                    Tok::Variable(src[start..i].to_owned())
                }
                b'.' => {
                    if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                        i = number_token(src, i, &err)?;
                        Tok::Number(src[start..i].to_owned())
                    } else {
                        i = word_end(src, i + 1);
                        if i == start + 1 {
                            Tok::Dot
                        } else {
                            Tok::Field(src[start + 1..i].to_owned())
                        }
                    }
                }
                b'+' | b'-' | b'0'..=b'9' => {
                    i = number_token(src, i, &err)?;
                    Tok::Number(src[start..i].to_owned())
                }
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                    if is_alnum(ch) {
                        i = word_end(src, i);
                        let w = &src[start..i];
                        match w {
                            "true" => Tok::Bool(true),
                            "false" => Tok::Bool(false),
                            "nil" => Tok::Nil,
                            _ => match KEYWORDS.iter().find(|k| **k == w) {
                                Some(k) => Tok::Keyword(k),
                                None => Tok::Ident(w.to_owned()),
                            },
                        }
                    } else if ch.is_ascii() && !ch.is_ascii_control() {
                        i += 1;
                        Tok::Char(ch)
                    } else {
                        return Err(err(
                            start,
                            &format!(
                                "unrecognized character in action: U+{:04X} {}",
                                ch as u32,
                                go_quote(&ch.to_string()).replace('"', "'")
                            ),
                        ));
                    }
                }
            };
            out.push(Item {
                tok,
                pos: start,
                line: line_at(src, start),
            });
        }
    }
}

/// The source text of the string literal at `pos`, quotes included.
fn literal_text(src: &str, pos: usize) -> &str {
    let b = src.as_bytes();
    let end = match b.get(pos) {
        Some(b'`') => src[pos + 1..].find('`').map(|e| pos + e + 2),
        Some(&q) => quoted_end(b, pos, q),
        None => None,
    };
    end.map_or("", |e| &src[pos..e])
}

/// The index after the closing `quote` of the literal opening at `open`; `None` when a
/// newline or the end comes first.
fn quoted_end(b: &[u8], open: usize, quote: u8) -> Option<usize> {
    let mut i = open + 1;
    loop {
        match *b.get(i)? {
            b'\n' => return None,
            b'\\' => i += 2,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
}

fn word_end(s: &str, from: usize) -> usize {
    s[from..]
        .char_indices()
        .find(|&(_, c)| !is_alnum(c))
        .map_or(s.len(), |(j, _)| from + j)
}

/// The end of the number at `from`, or Go's `bad number syntax` when an alphanumeric
/// character follows it.
fn number_token(
    s: &str,
    from: usize,
    err: &dyn Fn(usize, &str) -> ParseError,
) -> Result<usize, ParseError> {
    let (end, ok) = scan_number(s, from);
    if ok {
        Ok(end)
    } else {
        Err(err(
            from,
            &format!("bad number syntax: {}", go_quote(&s[from..end])),
        ))
    }
}

/// Go's `scanNumber`: sign, base prefix, digits with `_`, fraction, exponent (`e` for
/// decimal, `p` for hexadecimal), imaginary `i`. Returns the end and whether the next
/// character is not alphanumeric (when it is, it is included in the end).
fn scan_number(s: &str, from: usize) -> (usize, bool) {
    let b = s.as_bytes();
    let accept = |i: &mut usize, set: &[u8]| {
        let hit = b.get(*i).is_some_and(|c| set.contains(c));
        if hit {
            *i += 1;
        }
        hit
    };
    let run = |i: &mut usize, set: &[u8]| {
        while b.get(*i).is_some_and(|c| set.contains(c)) {
            *i += 1;
        }
    };
    let mut i = from;
    accept(&mut i, b"+-");
    let mut digits: &[u8] = b"0123456789_";
    if accept(&mut i, b"0") {
        if accept(&mut i, b"xX") {
            digits = b"0123456789abcdefABCDEF_";
        } else if accept(&mut i, b"oO") {
            digits = b"01234567_";
        } else if accept(&mut i, b"bB") {
            digits = b"01_";
        }
    }
    run(&mut i, digits);
    if accept(&mut i, b".") {
        run(&mut i, digits);
    }
    if digits.len() == 11 && accept(&mut i, b"eE") {
        accept(&mut i, b"+-");
        run(&mut i, b"0123456789_");
    }
    if digits.len() == 23 && accept(&mut i, b"pP") {
        accept(&mut i, b"+-");
        run(&mut i, b"0123456789_");
    }
    accept(&mut i, b"i");
    match s[i..].chars().next() {
        Some(c) if is_alnum(c) => (i + c.len_utf8(), false),
        _ => (i, true),
    }
}

/// Go's `strconv.Unquote` of a double-quoted string.
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(n).collect();
                let v = u32::from_str_radix(&hex, 16).ok()?;
                out.push(char::from_u32(v)?);
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{e}{rest}"), 8).ok()?;
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Go's parsing of a numeric constant: an integer (any base, `_` separators, or a
/// character constant) stays an integer, anything with a fraction or exponent is a float.
fn parse_number(text: &str, is_char: bool) -> Option<Number> {
    if is_char {
        let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
        let c = if let Some(esc) = inner.strip_prefix('\\') {
            match esc {
                "n" => '\n',
                "t" => '\t',
                "r" => '\r',
                "\\" => '\\',
                "'" => '\'',
                "0" => '\0',
                _ => return None,
            }
        } else {
            let mut cs = inner.chars();
            let c = cs.next()?;
            if cs.next().is_some() {
                return None;
            }
            c
        };
        return Some(Number::Int(c as i64));
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bn) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        i64::from_str_radix(bn, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else if body.bytes().all(|c| c.is_ascii_digit()) {
        body.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(v) = int {
        return Some(Number::Int(if neg { -v } else { v }));
    }
    if body.starts_with("0x") || body.starts_with("0X") {
        return None;
    }
    let v: f64 = body.parse().ok()?;
    // Go accepts `1.` and `.5`; Rust's parser does too. Words such as `inf` are not
    // numbers in Go.
    if body
        .bytes()
        .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E')
    {
        return None;
    }
    Some(Number::Float(if neg { -v } else { v }))
}

/// The parser state.
struct Parser<'a> {
    src: &'a str,
    items: Vec<Item>,
    at: usize,
    vars: Vec<String>,
    range_depth: usize,
    funcs: &'a dyn Fn(&str) -> bool,
    defines: BTreeMap<String, List>,
}

type PResult<T> = Result<T, ParseError>;

/// Parses `src`; `funcs` says which function names exist; `$` is always defined.
pub(crate) fn parse(src: &str, funcs: &dyn Fn(&str) -> bool) -> PResult<Tree> {
    let items = lex(src)?;
    let mut p = Parser {
        src,
        items,
        at: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        funcs,
        defines: BTreeMap::new(),
    };
    let mut root = List::new();
    while p.peek().tok != Tok::Eof {
        if p.peek().tok == Tok::Left {
            let save = p.at;
            p.next();
            if p.next_non_space().tok == Tok::Keyword("define") {
                p.define()?;
                continue;
            }
            p.at = save;
        }
        match p.text_or_action()? {
            Parsed::Node(n) => root.push(n),
            Parsed::End(line) => return Err(p.error_at(line, "unexpected {{end}}")),
            Parsed::Else(line, _) => return Err(p.error_at(line, "unexpected {{else}}")),
        }
    }
    Ok(Tree {
        root,
        defines: p.defines,
    })
}

enum Parsed {
    Node(Node),
    End(usize),
    /// `{{else}}`, with `if`/`with` when it is `{{else if …}}` / `{{else with …}}`.
    Else(usize, Option<&'static str>),
}

impl Parser<'_> {
    fn peek(&self) -> &Item {
        &self.items[self.at.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let it = self.items[self.at.min(self.items.len() - 1)].clone();
        if self.at < self.items.len() {
            self.at += 1;
        }
        it
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.tok != Tok::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let save = self.at;
        let it = self.next_non_space();
        self.at = save;
        it
    }

    fn skip_spaces(&mut self) {
        while self.peek().tok == Tok::Space {
            self.at += 1;
        }
    }

    #[allow(clippy::unused_self)] // A method so that call sites read like Go's t.errorf.
    fn error_at(&self, line: usize, m: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: m.into(),
        }
    }

    fn unexpected(&self, it: &Item, context: &str) -> ParseError {
        self.error_at(
            it.line,
            format!("unexpected {} in {context}", it.tok.describe()),
        )
    }

    fn expect_right(&mut self, context: &str) -> PResult<()> {
        let it = self.next_non_space();
        if it.tok != Tok::Right {
            return Err(self.unexpected(&it, context));
        }
        Ok(())
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Text(s) => Ok(Parsed::Node(Node::Text(s))),
            Tok::Left => self.action(),
            _ => Err(self.unexpected(&it, "input")),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Keyword("block") => self.block(it.line).map(Parsed::Node),
            Tok::Keyword("break") => {
                if self.range_depth == 0 {
                    return Err(self.error_at(it.line, "{{break}} outside {{range}}"));
                }
                self.expect_right("{{break}}")?;
                Ok(Parsed::Node(Node::Break))
            }
            Tok::Keyword("continue") => {
                if self.range_depth == 0 {
                    return Err(self.error_at(it.line, "{{continue}} outside {{range}}"));
                }
                self.expect_right("{{continue}}")?;
                Ok(Parsed::Node(Node::Continue))
            }
            Tok::Keyword("else") => {
                let p = self.peek_non_space();
                if let Tok::Keyword(k @ ("if" | "with")) = p.tok {
                    Ok(Parsed::Else(it.line, Some(k)))
                } else {
                    self.expect_right("else")?;
                    Ok(Parsed::Else(it.line, None))
                }
            }
            Tok::Keyword("end") => {
                self.expect_right("end")?;
                Ok(Parsed::End(it.line))
            }
            Tok::Keyword("if") => self.control(ControlKind::If).map(Parsed::Node),
            Tok::Keyword("range") => self.control(ControlKind::Range).map(Parsed::Node),
            Tok::Keyword("with") => self.control(ControlKind::With).map(Parsed::Node),
            Tok::Keyword("template") => self.template("template clause").map(Parsed::Node),
            Tok::Keyword("define") => Err(self.unexpected(&it, "command")),
            _ => {
                self.at -= 1;
                let pipe = self.pipeline("command", &Tok::Right)?;
                Ok(Parsed::Node(Node::Action(pipe)))
            }
        }
    }

    /// `{{define "name"}} … {{end}}`, after the `define` keyword.
    fn define(&mut self) -> PResult<()> {
        let name_tok = self.next_non_space();
        let Tok::Str(name) = name_tok.tok.clone() else {
            return Err(self.unexpected(&name_tok, "define clause"));
        };
        self.expect_right("define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if let Parsed::Else(line, _) = end {
            return Err(self.error_at(line, "unexpected {{else}}"));
        }
        self.add_define(name, list, name_tok.line)
    }

    fn add_define(&mut self, name: String, list: List, line: usize) -> PResult<()> {
        // Go allows redefining a template only when one of the two is empty.
        if let Some(old) = self.defines.get(&name)
            && !old.is_empty()
            && !list
                .iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        {
            return Err(self.error_at(
                line,
                format!(
                    "template: multiple definition of template {}",
                    go_quote(&name)
                ),
            ));
        }
        self.defines.insert(name, list);
        Ok(())
    }

    fn block(&mut self, line: usize) -> PResult<Node> {
        let name_tok = self.next_non_space();
        let Tok::Str(name) = name_tok.tok.clone() else {
            return Err(self.unexpected(&name_tok, "block clause"));
        };
        let pipe = self.pipeline("block clause", &Tok::Right)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if let Parsed::Else(l, _) = end {
            return Err(self.error_at(l, "unexpected {{else}}"));
        }
        self.add_define(name.clone(), list, line)?;
        Ok(Node::Template {
            pos: name_tok.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn template(&mut self, context: &str) -> PResult<Node> {
        let name_tok = self.next_non_space();
        let Tok::Str(name) = name_tok.tok.clone() else {
            return Err(self.unexpected(&name_tok, context));
        };
        let pipe = if self.peek_non_space().tok == Tok::Right {
            self.next_non_space();
            None
        } else {
            Some(self.pipeline(context, &Tok::Right)?)
        };
        Ok(Node::Template {
            pos: name_tok.pos,
            name,
            pipe,
        })
    }

    /// Nodes up to `{{end}}` or `{{else}}`.
    fn item_list(&mut self) -> PResult<(List, Parsed)> {
        let mut list = List::new();
        while self.peek_non_space().tok != Tok::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                end => return Ok((list, end)),
            }
        }
        let line = self.peek().line;
        Err(self.error_at(line, "unexpected EOF"))
    }

    fn control(&mut self, kind: ControlKind) -> PResult<Node> {
        let context = match kind {
            ControlKind::If => "if",
            ControlKind::With => "with",
            ControlKind::Range => "range",
        };
        let vars_len = self.vars.len();
        let pipe = self.pipeline(context, &Tok::Right)?;
        if kind == ControlKind::Range {
            self.range_depth += 1;
        }
        let (list, end) = self.item_list()?;
        if kind == ControlKind::Range {
            self.range_depth -= 1;
        }
        let else_list = match end {
            Parsed::End(_) | Parsed::Node(_) => None,
            Parsed::Else(line, chained) => {
                if let Some(k) = chained {
                    // `{{else if …}}` is `{{else}}{{if …}}…{{end}}{{end}}` sharing one
                    // `{{end}}`.
                    if (k == "if" && kind != ControlKind::If)
                        || (k == "with" && kind != ControlKind::With)
                    {
                        return Err(self.error_at(line, format!("unexpected <{k}> in else")));
                    }
                    self.next_non_space();
                    let inner = self.control(kind)?;
                    Some(vec![inner])
                } else {
                    let (l, end) = self.item_list()?;
                    if let Parsed::Else(line, _) = end {
                        return Err(self.error_at(line, "expected end; found {{else}}"));
                    }
                    Some(l)
                }
            }
        };
        self.vars.truncate(vars_len);
        Ok(Node::Control {
            kind,
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> PResult<Pipe> {
        let mut pipe = Pipe::default();
        let first = self.peek_non_space();
        if let Tok::Variable(_) = &first.tok {
            // Go's declaration loop: `$x :=`, `$x =`, and in `range` `$i, $v :=`. Assigned
            // variables are not checked here; assigning an undefined one fails when run.
            loop {
                let save = self.at;
                let v = self.next_non_space();
                let Tok::Variable(name) = v.tok.clone() else {
                    self.at = save;
                    break;
                };
                let after = self.peek_non_space();
                match after.tok {
                    Tok::Declare | Tok::Assign => {
                        self.next_non_space();
                        pipe.is_assign = after.tok == Tok::Assign;
                        pipe.decl.push(name.clone());
                        self.vars.push(name);
                        break;
                    }
                    Tok::Char(',') => {
                        self.next_non_space();
                        pipe.decl.push(name.clone());
                        self.vars.push(name);
                        if context == "range" && pipe.decl.len() < 2 {
                            match self.peek_non_space().tok {
                                Tok::Variable(_) | Tok::Right | Tok::RParen => continue,
                                _ => {
                                    return Err(self
                                        .error_at(v.line, "range can only initialize variables"));
                                }
                            }
                        }
                        return Err(
                            self.error_at(v.line, format!("too many declarations in {context}"))
                        );
                    }
                    _ => {
                        self.at = save;
                        break;
                    }
                }
            }
        }
        loop {
            let it = self.next_non_space();
            if it.tok == *end {
                self.check_pipeline(&pipe, context, it.line)?;
                return Ok(pipe);
            }
            match it.tok {
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LParen => {
                    self.at -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&it, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str, line: usize) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.error_at(line, format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(Arg {
                kind:
                    ArgKind::Bool(_)
                    | ArgKind::Dot
                    | ArgKind::Nil
                    | ArgKind::Number(..)
                    | ArgKind::Str(..),
                ..
            }) = c.args.first()
            {
                return Err(self.error_at(
                    line,
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let mut cmd = Command { args: Vec::new() };
        loop {
            self.skip_spaces();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let it = self.next();
            match it.tok {
                Tok::Space => continue,
                Tok::Right | Tok::RParen => self.at -= 1,
                Tok::Pipe => {}
                _ => return Err(self.unexpected(&it, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            let line = self.peek().line;
            return Err(self.error_at(line, "empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(mut term) = self.term()? else {
            return Ok(None);
        };
        let mut chain = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            chain.push(f.clone());
            self.at += 1;
        }
        if chain.is_empty() {
            return Ok(Some(term));
        }
        term.kind = match term.kind {
            ArgKind::Field(mut f) => {
                f.extend(chain);
                ArgKind::Field(f)
            }
            ArgKind::Variable(v, mut f) => {
                f.extend(chain);
                ArgKind::Variable(v, f)
            }
            ArgKind::Chain(p, mut f) => {
                f.extend(chain);
                ArgKind::Chain(p, f)
            }
            ArgKind::Bool(_)
            | ArgKind::Str(..)
            | ArgKind::Number(..)
            | ArgKind::Nil
            | ArgKind::Dot => {
                let line = line_at(self.src, term.pos);
                return Err(self.error_at(line, "unexpected . after term"));
            }
            ArgKind::Identifier(name) => {
                // Go allows `fn.Field` only on a parenthesised call.
                let line = line_at(self.src, term.pos);
                return Err(
                    self.error_at(line, format!("unexpected . after term {}", go_quote(&name)))
                );
            }
        };
        Ok(Some(term))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let it = self.next_non_space();
        let kind = match it.tok {
            Tok::Ident(name) => {
                if !(self.funcs)(&name) {
                    return Err(
                        self.error_at(it.line, format!("function {} not defined", go_quote(&name)))
                    );
                }
                ArgKind::Identifier(name)
            }
            Tok::Dot => ArgKind::Dot,
            Tok::Nil => ArgKind::Nil,
            Tok::Variable(v) => {
                self.use_var(&v, it.line)?;
                ArgKind::Variable(v, Vec::new())
            }
            Tok::Field(f) => ArgKind::Field(vec![f]),
            Tok::Bool(b) => ArgKind::Bool(b),
            Tok::Number(ref t) | Tok::CharConst(ref t) => {
                let is_char = matches!(it.tok, Tok::CharConst(_));
                let n = parse_number(t, is_char).ok_or_else(|| {
                    let m = if is_char {
                        format!("malformed character constant: {t}")
                    } else {
                        format!("illegal number syntax: {}", go_quote(t))
                    };
                    self.error_at(it.line, m)
                })?;
                // Go rejects what only parses as a float but is written as an integer
                // (too large, or `08`).
                if matches!(n, Number::Float(_))
                    && !is_char
                    && !t.contains(['.', 'e', 'E', 'p', 'P'])
                {
                    return Err(
                        self.error_at(it.line, format!("integer overflow: {}", go_quote(t)))
                    );
                }
                ArgKind::Number(n, t.clone())
            }
            Tok::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RParen)?;
                ArgKind::Chain(Box::new(pipe), Vec::new())
            }
            Tok::Str(s) => ArgKind::Str(s, literal_text(self.src, it.pos).to_owned()),
            _ => {
                self.at -= 1;
                return Ok(None);
            }
        };
        Ok(Some(Arg { pos: it.pos, kind }))
    }

    fn use_var(&self, name: &str, line: usize) -> PResult<()> {
        if self.vars.iter().any(|v| v == name) {
            Ok(())
        } else {
            Err(self.error_at(line, format!("undefined variable {}", go_quote(name))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Result<Tree, String> {
        parse(src, &|f| f == "printf" || f == "len")
            .map_err(|e| format!("{}: {}", e.line, e.message))
    }

    #[test]
    fn parse_errors_follow_go() {
        let cases = [
            ("{{ if }}", "1: missing value for if"),
            (
                "{{ 1 | 2 }}",
                "1: non executable command in pipeline stage 2",
            ),
            (
                "{{ range $a, $b, $c := . }}{{end}}",
                "1: too many declarations in range",
            ),
            ("{{ $a, $b := 1 }}", "1: too many declarations in command"),
            ("{{ break }}", "1: {{break}} outside {{range}}"),
            (
                "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
                "1: expected end; found {{else}}",
            ),
            ("{{ (1 }}", "1: unclosed left paren"),
            ("{{ 1) }}", "1: unexpected \")\" in command"),
            ("{{ 1.a }}", "1: bad number syntax: \"1.a\""),
            (
                "{{ if 1 }}{{ $x := 1 }}{{ end }}{{ $x }}",
                "1: undefined variable \"$x\"",
            ),
            ("{{ template x }}", "1: unexpected \"x\" in template clause"),
            ("{{ 0x }}", "1: illegal number syntax: \"0x\""),
        ];
        for (src, want) in cases {
            assert_eq!(p(src).err().as_deref(), Some(want), "{src}");
        }
    }

    #[test]
    fn numbers_keep_go_kinds() {
        assert!(matches!(parse_number("10", false), Some(Number::Int(10))));
        assert!(matches!(parse_number("0x1F", false), Some(Number::Int(31))));
        assert!(matches!(
            parse_number("1_000", false),
            Some(Number::Int(1000))
        ));
        assert!(matches!(parse_number("1.5", false), Some(Number::Float(_))));
        assert!(matches!(parse_number("1e3", false), Some(Number::Float(_))));
        assert!(matches!(parse_number("'a'", true), Some(Number::Int(97))));
    }
}
