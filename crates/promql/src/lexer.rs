//! The PromQL lexer: a pull-based state machine that follows Prometheus's `lex.go` state
//! for state, so the same inputs produce the same tokens and the same lexical errors.
//!
//! The lexer, not the parser, tracks braces, brackets and parenthesis depth: inside `{…}`
//! keywords are plain identifiers, inside `[…]` only duration syntax is accepted, and an
//! unclosed `(` is reported at the end of input. Comments (`# …`) are skipped here.

use crate::go::{quote_rune, unicode_hash};

/// Token kinds. Keyword kinds are produced case-insensitively from identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum T {
    Eof,
    /// A lexical error; the message is in [`Lexer::error`].
    Error,
    Comma,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Colon,
    Eql,
    At,
    // Operators.
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    EqlC,
    Neq,
    Lte,
    Lss,
    Gte,
    Gtr,
    TrimUpper,
    TrimLower,
    EqlRegex,
    NeqRegex,
    And,
    Or,
    Unless,
    Atan2,
    // Aggregators.
    Avg,
    Bottomk,
    Count,
    CountValues,
    Group,
    Max,
    Min,
    Quantile,
    Stddev,
    Stdvar,
    Sum,
    Topk,
    Limitk,
    LimitRatio,
    // Keywords.
    Bool,
    By,
    GroupLeft,
    GroupRight,
    Fill,
    FillLeft,
    FillRight,
    Ignoring,
    Offset,
    Smoothed,
    Anchored,
    On,
    Without,
    // Preprocessors.
    Start,
    End,
    Step,
    Range,
    MaxOf,
    MinOf,
    // Literals.
    Identifier,
    MetricIdentifier,
    Number,
    Duration,
    String,
}

impl T {
    /// Whether the kind is one of Prometheus's aggregation keywords.
    pub(crate) fn is_aggregator(self) -> bool {
        matches!(
            self,
            T::Avg
                | T::Bottomk
                | T::Count
                | T::CountValues
                | T::Group
                | T::Max
                | T::Min
                | T::Quantile
                | T::Stddev
                | T::Stdvar
                | T::Sum
                | T::Topk
                | T::Limitk
                | T::LimitRatio
        )
    }

    fn is_operator(self) -> bool {
        matches!(
            self,
            T::Add
                | T::Sub
                | T::Mul
                | T::Div
                | T::Mod
                | T::Pow
                | T::EqlC
                | T::Neq
                | T::Lte
                | T::Lss
                | T::Gte
                | T::Gtr
                | T::TrimUpper
                | T::TrimLower
                | T::EqlRegex
                | T::NeqRegex
                | T::And
                | T::Or
                | T::Unless
                | T::At
                | T::Atan2
        )
    }

    fn is_keyword(self) -> bool {
        matches!(
            self,
            T::Bool
                | T::By
                | T::GroupLeft
                | T::GroupRight
                | T::Fill
                | T::FillLeft
                | T::FillRight
                | T::Ignoring
                | T::Offset
                | T::Smoothed
                | T::Anchored
                | T::On
                | T::Without
        )
    }
}

/// A token: its kind and byte range in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: T,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// Describes a token the way Prometheus's `Item.desc()` does in "unexpected …" messages.
pub(crate) fn describe(tok: Token, src: &[u8]) -> String {
    let text = String::from_utf8_lossy(&src[tok.start as usize..tok.end as usize]);
    match tok.kind {
        T::Eof => "end of input".to_owned(),
        T::Identifier => format!("identifier {}", promlite_model::go_quote(&text)),
        T::MetricIdentifier => format!("metric identifier {}", promlite_model::go_quote(&text)),
        T::Number | T::Duration | T::String => {
            let what = match tok.kind {
                T::Number => "number",
                T::Duration => "duration",
                _ => "string",
            };
            if text.chars().count() > 10 {
                format!("{what} {}...", crate::go::quote_prefix10(&text))
            } else {
                format!("{what} {}", promlite_model::go_quote(&text))
            }
        }
        k if k.is_keyword() => format!("<{text}>"),
        k if k.is_operator() => format!("<op:{text}>"),
        k if k.is_aggregator() => format!("<aggr:{text}>"),
        _ => promlite_model::go_quote(&text),
    }
}

/// A lexical error: where the failing token starts and Prometheus's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) start: u32,
    pub(crate) message: String,
}

/// The lexer. Call [`Lexer::next_token`] until it returns [`T::Eof`] or [`T::Error`].
// The flags are Prometheus's lexer state, one independent bit each.
#[allow(clippy::struct_excessive_bools)]
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    start: usize,
    width: usize,
    paren_depth: i64,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    got_duration: bool,
    in_duration_expr: bool,
    done: bool,
    pub(crate) error: Option<LexError>,
}

type Lexed = Result<T, String>;

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a [u8]) -> Self {
        Lexer {
            src,
            pos: 0,
            start: 0,
            width: 0,
            paren_depth: 0,
            brace_open: false,
            bracket_open: false,
            got_colon: false,
            got_duration: false,
            in_duration_expr: false,
            done: false,
            error: None,
        }
    }

    /// The next token; after an error or the end of input only `Eof` follows.
    pub(crate) fn next_token(&mut self) -> Token {
        if self.done {
            let p = self.src.len() as u32;
            return Token {
                kind: T::Eof,
                start: p,
                end: p,
            };
        }
        let res = if self.brace_open {
            self.lex_inside_braces()
        } else if self.in_duration_expr {
            self.lex_duration_expr()
        } else {
            self.lex_statements()
        };
        match res {
            Ok(kind) => {
                let tok = Token {
                    kind,
                    start: self.start as u32,
                    end: self.pos as u32,
                };
                self.start = self.pos;
                if kind == T::Eof {
                    self.done = true;
                }
                tok
            }
            Err(message) => {
                self.done = true;
                self.error = Some(LexError {
                    start: self.start as u32,
                    message,
                });
                Token {
                    kind: T::Error,
                    start: self.start as u32,
                    end: self.src.len() as u32,
                }
            }
        }
    }

    /// Reads the next character; invalid UTF-8 reads as U+FFFD with width 1, as in Go.
    #[inline]
    fn next(&mut self) -> Option<char> {
        let Some(&b) = self.src.get(self.pos) else {
            self.width = 0;
            return None;
        };
        if b < 0x80 {
            self.width = 1;
            self.pos += 1;
            return Some(b as char);
        }
        let len = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        let end = (self.pos + len).min(self.src.len());
        match std::str::from_utf8(&self.src[self.pos..end]) {
            Ok(s) if s.len() == len => {
                self.width = len;
                self.pos += len;
                s.chars().next()
            }
            _ => {
                self.width = 1;
                self.pos += 1;
                Some('\u{FFFD}')
            }
        }
    }

    #[inline]
    fn backup(&mut self) {
        self.pos -= self.width;
        self.width = 0;
    }

    #[inline]
    fn peek(&mut self) -> Option<char> {
        let c = self.next();
        self.backup();
        c
    }

    #[inline]
    fn peek_byte(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    #[inline]
    fn accept(&mut self, set: &[u8]) -> bool {
        match self.peek_byte() {
            Some(b) if b < 0x80 && set.contains(&b) => {
                self.pos += 1;
                self.width = 1;
                true
            }
            _ => false,
        }
    }

    #[inline]
    fn is(&self, set: &[u8]) -> bool {
        matches!(self.peek_byte(), Some(b) if b < 0x80 && set.contains(&b))
    }

    fn accept_run(&mut self, set: &[u8]) {
        while self.accept(set) {}
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek_byte(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
        self.start = self.pos;
    }

    fn skip_comment(&mut self) {
        while !matches!(self.peek_byte(), None | Some(b'\n' | b'\r')) {
            self.pos += 1;
        }
        self.start = self.pos;
    }

    fn lex_statements(&mut self) -> Lexed {
        loop {
            if self.peek_byte() == Some(b'#') {
                self.skip_comment();
                continue;
            }
            let Some(c) = self.next() else {
                if self.paren_depth != 0 {
                    return Err("unclosed left parenthesis".into());
                }
                if self.bracket_open {
                    return Err("unclosed left bracket".into());
                }
                return Ok(T::Eof);
            };
            return match c {
                ',' => Ok(T::Comma),
                ' ' | '\t' | '\n' | '\r' => {
                    self.skip_spaces();
                    continue;
                }
                '*' => Ok(T::Mul),
                '/' => Ok(T::Div),
                '%' => Ok(T::Mod),
                '+' => Ok(T::Add),
                '-' => Ok(T::Sub),
                '^' => Ok(T::Pow),
                '=' => match self.peek_byte() {
                    Some(b'=') => {
                        self.pos += 1;
                        Ok(T::EqlC)
                    }
                    Some(b'~') => Err(format!(
                        "unexpected character after '=': {}",
                        quote_rune(Some('~'))
                    )),
                    _ => Ok(T::Eql),
                },
                '!' => {
                    let t = self.next();
                    if t == Some('=') {
                        Ok(T::Neq)
                    } else {
                        Err(format!("unexpected character after '!': {}", quote_rune(t)))
                    }
                }
                '<' => Ok(if self.accept(b"=") {
                    T::Lte
                } else if self.accept(b"/") {
                    T::TrimUpper
                } else {
                    T::Lss
                }),
                '>' => Ok(if self.accept(b"=") {
                    T::Gte
                } else if self.accept(b"/") {
                    T::TrimLower
                } else {
                    T::Gtr
                }),
                '0'..='9' => {
                    self.backup();
                    self.lex_number_or_duration()
                }
                '.' if matches!(self.peek_byte(), Some(b'0'..=b'9')) => {
                    self.backup();
                    self.lex_number_or_duration()
                }
                '"' | '\'' => self.lex_string(c as u8),
                '`' => self.lex_raw_string(),
                c if is_alpha(c) || c == ':' => {
                    if !self.bracket_open {
                        self.backup();
                        return Ok(self.lex_keyword_or_identifier());
                    }
                    if c == ':' {
                        if self.got_colon {
                            return Err(format!("unexpected colon {}", quote_rune(Some(c))));
                        }
                        self.got_colon = true;
                        return Ok(T::Colon);
                    }
                    if is_duration_keyword_start(c)
                        && let Some(k) = self.scan_duration_keyword()
                    {
                        return Ok(k);
                    }
                    Err(format!(
                        "unexpected character: {}, expected {}",
                        quote_rune(Some(c)),
                        quote_rune(Some(':'))
                    ))
                }
                '(' => {
                    self.paren_depth += 1;
                    Ok(T::LParen)
                }
                ')' => self.right_paren(),
                '{' => {
                    self.brace_open = true;
                    Ok(T::LBrace)
                }
                '[' => {
                    if self.bracket_open {
                        return Err(format!("unexpected left bracket {}", quote_rune(Some(c))));
                    }
                    self.got_colon = false;
                    self.bracket_open = true;
                    self.in_duration_expr = true;
                    Ok(T::LBracket)
                }
                ']' => {
                    if !self.bracket_open {
                        return Err(format!("unexpected right bracket {}", quote_rune(Some(c))));
                    }
                    self.bracket_open = false;
                    Ok(T::RBracket)
                }
                '@' => Ok(T::At),
                c => Err(format!("unexpected character: {}", quote_rune(Some(c)))),
            };
        }
    }

    /// `)`: Prometheus emits the token and then reports underflow positioned after it.
    fn right_paren(&mut self) -> Lexed {
        self.paren_depth -= 1;
        if self.paren_depth < 0 {
            self.start = self.pos;
            return Err(format!(
                "unexpected right parenthesis {}",
                quote_rune(Some(')'))
            ));
        }
        Ok(T::RParen)
    }

    fn lex_duration_expr(&mut self) -> Lexed {
        loop {
            let Some(c) = self.next() else {
                return Err("unexpected end of input in duration expression".into());
            };
            return match c {
                ']' => {
                    self.bracket_open = false;
                    self.got_colon = false;
                    self.in_duration_expr = false;
                    Ok(T::RBracket)
                }
                ':' => {
                    if !self.got_duration {
                        self.start = self.pos;
                        return Err(
                            "unexpected colon before duration in duration expression".into()
                        );
                    }
                    if self.got_colon {
                        self.start = self.pos;
                        return Err("unexpected repeated colon in duration expression".into());
                    }
                    self.got_colon = true;
                    Ok(T::Colon)
                }
                '(' => {
                    self.paren_depth += 1;
                    Ok(T::LParen)
                }
                ')' => self.right_paren(),
                ' ' | '\t' | '\n' | '\r' => {
                    self.skip_spaces();
                    continue;
                }
                '+' => Ok(T::Add),
                '-' => Ok(T::Sub),
                '*' => Ok(T::Mul),
                '/' => Ok(T::Div),
                '%' => Ok(T::Mod),
                '^' => Ok(T::Pow),
                ',' => Ok(T::Comma),
                c if is_duration_keyword_start(c) => {
                    self.scan_duration_keyword().ok_or_else(|| {
                        format!(
                            "unexpected character in duration expression: {}",
                            quote_rune(Some(c))
                        )
                    })
                }
                '0'..='9' => {
                    self.backup();
                    self.got_duration = true;
                    self.in_duration_expr = false;
                    self.lex_number_or_duration()
                }
                '.' if matches!(self.peek_byte(), Some(b'0'..=b'9')) => {
                    self.backup();
                    self.got_duration = true;
                    self.in_duration_expr = false;
                    self.lex_number_or_duration()
                }
                c => Err(format!(
                    "unexpected character in duration expression: {}",
                    quote_rune(Some(c))
                )),
            };
        }
    }

    fn lex_inside_braces(&mut self) -> Lexed {
        loop {
            if self.peek_byte() == Some(b'#') {
                self.skip_comment();
                continue;
            }
            let Some(c) = self.next() else {
                return Err("unexpected end of input inside braces".into());
            };
            return match c {
                ' ' | '\t' | '\n' | '\r' => {
                    self.skip_spaces();
                    continue;
                }
                c if is_alpha(c) => {
                    while matches!(self.peek_byte(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
                    {
                        self.pos += 1;
                    }
                    Ok(T::Identifier)
                }
                ',' => Ok(T::Comma),
                '"' | '\'' => self.lex_string(c as u8),
                '`' => self.lex_raw_string(),
                '=' => Ok(if self.accept(b"~") {
                    T::EqlRegex
                } else {
                    T::Eql
                }),
                '!' => match self.next() {
                    Some('~') => Ok(T::NeqRegex),
                    Some('=') => Ok(T::Neq),
                    nr => Err(format!(
                        "unexpected character after '!' inside braces: {}",
                        quote_rune(nr)
                    )),
                },
                '{' => Err(format!("unexpected left brace {}", quote_rune(Some(c)))),
                '}' => {
                    self.brace_open = false;
                    Ok(T::RBrace)
                }
                c => Err(format!(
                    "unexpected character inside braces: {}",
                    quote_rune(Some(c))
                )),
            };
        }
    }

    fn lex_string(&mut self, quote: u8) -> Lexed {
        loop {
            match self.next() {
                Some('\\') => self.lex_escape(quote)?,
                Some('\u{FFFD}') => return Err("invalid UTF-8 rune".into()),
                None | Some('\n') => return Err("unterminated quoted string".into()),
                Some(c) if c as u32 == u32::from(quote) => return Ok(T::String),
                Some(_) => {}
            }
        }
    }

    fn lex_escape(&mut self, quote: u8) -> Result<(), String> {
        let mut ch = self.next();
        let (mut n, base, max) = match ch {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return Ok(()),
            Some(c) if c as u32 == u32::from(quote) => return Ok(()),
            Some('0'..='7') => (3, 8, 255),
            Some('x') => {
                ch = self.next();
                (2, 16, 255)
            }
            Some('u') => {
                ch = self.next();
                (4, 16, 0x10_FFFF)
            }
            Some('U') => {
                ch = self.next();
                (8, 16, 0x10_FFFF)
            }
            None => return Err("escape sequence not terminated".into()),
            Some(c) => return Err(format!("unknown escape sequence {}", unicode_hash(Some(c)))),
        };
        let mut x: u64 = 0;
        while n > 0 {
            let d = ch.and_then(|c| c.to_digit(16)).unwrap_or(16);
            if d >= base {
                return Err(match ch {
                    None => "escape sequence not terminated".into(),
                    c => format!("illegal character {} in escape sequence", unicode_hash(c)),
                });
            }
            x = x * u64::from(base) + u64::from(d);
            n -= 1;
            if n > 0 {
                ch = self.next();
            }
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return Err("escape sequence is an invalid Unicode code point".into());
        }
        Ok(())
    }

    fn lex_raw_string(&mut self) -> Lexed {
        loop {
            match self.next() {
                Some('\u{FFFD}') => return Err("invalid UTF-8 rune".into()),
                None => return Err("unterminated raw string".into()),
                Some('`') => return Ok(T::String),
                Some(_) => {}
            }
        }
    }

    fn lex_number_or_duration(&mut self) -> Lexed {
        if self.scan_number() {
            return Ok(T::Number);
        }
        if self.accept_remaining_duration() {
            self.backup();
            return Ok(T::Duration);
        }
        Err(format!(
            "bad number or duration syntax: {}",
            promlite_model::go_quote(&String::from_utf8_lossy(&self.src[self.start..self.pos]))
        ))
    }

    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept(b"smhdwy") {
            return false;
        }
        self.accept(b"s");
        while self.accept(DIGITS) {
            while self.accept(DIGITS) {}
            if !self.accept(b"smhdw") {
                return false;
            }
            self.accept(b"s");
        }
        !is_alnum(self.next())
    }

    /// Prometheus's `scanNumber`: accepts a superset of valid numbers; the parser converts.
    fn scan_number(&mut self) -> bool {
        const DEC_ALL: &[u8] = b"0123456789._eE";
        const HEX_ALL: &[u8] = b"0123456789abcdefABCDEF._eE";
        let initial = self.pos;
        let mut digits = DIGITS;
        let mut all = DEC_ALL;
        if self.accept(b"0") && self.accept(b"xX") {
            self.accept(b"_");
            digits = HEX_DIGITS;
            all = HEX_ALL;
        }
        self.accept(b".");
        self.accept(digits);
        let mut dot = false;
        let mut exp = false;
        while self.is(all) {
            if self.is(b".") && dot {
                self.accept(b".");
                return false;
            }
            if self.is(b"eE") && exp {
                self.accept(b"eE");
                return false;
            }
            if self.accept(b".") {
                dot = true;
                if self.accept(b"_.") {
                    return false;
                }
                if digits.len() > 10 {
                    return false;
                }
                continue;
            }
            if self.accept(b"eE") {
                exp = true;
                self.accept(b"+-");
                if self.accept(b"._eE") || self.peek_byte().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept(b"_") {
                if self.accept(b"._eE") || self.peek_byte().is_none() {
                    return false;
                }
                continue;
            }
            self.accept_run(digits);
        }
        if self.pos == initial {
            return false;
        }
        !is_alnum(self.peek())
    }

    fn lex_keyword_or_identifier(&mut self) -> T {
        while matches!(self.peek_byte(), Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            self.pos += 1;
        }
        let word = &self.src[self.start..self.pos];
        if let Some(kw) = keyword(word) {
            // fill, fill_left and fill_right are keywords only before `(`, so that existing
            // metrics with those names keep working.
            if matches!(kw, T::Fill | T::FillLeft | T::FillRight) && !self.followed_by_lparen() {
                return T::Identifier;
            }
            return kw;
        }
        if word.contains(&b':') {
            T::MetricIdentifier
        } else {
            T::Identifier
        }
    }

    fn followed_by_lparen(&self) -> bool {
        self.src[self.pos..]
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            == Some(&b'(')
    }

    fn scan_duration_keyword(&mut self) -> Option<T> {
        while matches!(self.peek_byte(), Some(b) if b.is_ascii_alphabetic() || b == b'_') {
            self.pos += 1;
        }
        let word = self.src[self.start..self.pos].to_ascii_lowercase();
        match word.as_slice() {
            b"step" => Some(T::Step),
            b"range" => Some(T::Range),
            b"max_of" => Some(T::MaxOf),
            b"min_of" => Some(T::MinOf),
            _ => None,
        }
    }
}

const DIGITS: &[u8] = b"0123456789";
const HEX_DIGITS: &[u8] = b"0123456789abcdefABCDEF";

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: Option<char>) -> bool {
    matches!(c, Some(c) if c == '_' || c.is_ascii_alphanumeric())
}

fn is_duration_keyword_start(c: char) -> bool {
    matches!(c.to_ascii_lowercase(), 's' | 'r' | 'm')
}

/// Case-insensitive keyword lookup; `inf` and `nan` are numbers.
fn keyword(word: &[u8]) -> Option<T> {
    if word.len() > 12 || word.len() < 2 {
        return None;
    }
    let mut buf = [0u8; 12];
    let lower = &mut buf[..word.len()];
    lower.copy_from_slice(word);
    lower.make_ascii_lowercase();
    Some(match &*lower {
        b"and" => T::And,
        b"or" => T::Or,
        b"unless" => T::Unless,
        b"atan2" => T::Atan2,
        b"sum" => T::Sum,
        b"avg" => T::Avg,
        b"count" => T::Count,
        b"min" => T::Min,
        b"max" => T::Max,
        b"group" => T::Group,
        b"stddev" => T::Stddev,
        b"stdvar" => T::Stdvar,
        b"topk" => T::Topk,
        b"bottomk" => T::Bottomk,
        b"count_values" => T::CountValues,
        b"quantile" => T::Quantile,
        b"limitk" => T::Limitk,
        b"limit_ratio" => T::LimitRatio,
        b"offset" => T::Offset,
        b"smoothed" => T::Smoothed,
        b"anchored" => T::Anchored,
        b"by" => T::By,
        b"without" => T::Without,
        b"on" => T::On,
        b"ignoring" => T::Ignoring,
        b"group_left" => T::GroupLeft,
        b"group_right" => T::GroupRight,
        b"fill" => T::Fill,
        b"fill_left" => T::FillLeft,
        b"fill_right" => T::FillRight,
        b"bool" => T::Bool,
        b"start" => T::Start,
        b"end" => T::End,
        b"step" => T::Step,
        b"range" => T::Range,
        b"max_of" => T::MaxOf,
        b"min_of" => T::MinOf,
        b"inf" | b"nan" => T::Number,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<T> {
        let mut lx = Lexer::new(s.as_bytes());
        let mut out = Vec::new();
        loop {
            let t = lx.next_token();
            out.push(t.kind);
            if matches!(t.kind, T::Eof | T::Error) {
                return out;
            }
        }
    }

    #[test]
    fn lexes_selectors_and_durations() {
        assert_eq!(
            kinds(r#"rate(foo{a=~"b"}[5m:1m])"#),
            [
                T::Identifier,
                T::LParen,
                T::Identifier,
                T::LBrace,
                T::Identifier,
                T::EqlRegex,
                T::String,
                T::RBrace,
                T::LBracket,
                T::Duration,
                T::Colon,
                T::Duration,
                T::RBracket,
                T::RParen,
                T::Eof
            ]
        );
        assert_eq!(kinds("Inf nan"), [T::Number, T::Number, T::Eof]);
        assert_eq!(
            kinds("fill + fill"),
            [T::Identifier, T::Add, T::Identifier, T::Eof]
        );
        assert_eq!(
            kinds("a </ 1"),
            [T::Identifier, T::TrimUpper, T::Number, T::Eof]
        );
    }

    #[test]
    fn reports_lexical_errors() {
        let mut lx = Lexer::new(b"0deadbeef");
        assert_eq!(lx.next_token().kind, T::Error);
        assert_eq!(
            lx.error.unwrap().message,
            r#"bad number or duration syntax: "0de""#
        );
    }
}
