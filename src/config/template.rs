//! Templates: strings with `${...}` interpolations, parsed into [`TExpr`]
//! (references still unresolved).
//!
//! Grammar inside `${ }`:
//! ```text
//! expr    = term (("+" | "-") term)*
//! term    = unary (("*" | "/" | "%") unary)*
//! unary   = "-" unary | primary
//! primary = INT | FLOAT | STRING | "true" | "false" | "(" expr ")"
//!         | IDENT "(" [expr ("," expr)*] ")" | IDENT step*
//! step    = "." IDENT | "." INT | "[" "*" "]" | "[" expr "]"
//! ```
//! Identifiers may contain `-` after the first character (as resource names
//! may), so subtraction needs spaces: `var.a - 1`. `$${` is a literal `${`.

use std::ops::Range;

use crate::diag::{Diagnostic, FileId, Span};
use crate::value::Value;

use super::functions::BinOp;

/// An expression as written, before references are resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum TExpr {
    Lit(Value),
    /// Interpolation: literal text and expressions, concatenated as strings.
    Concat(Vec<TExpr>),
    Path(Path),
    Binary(BinOp, Box<TExpr>, Box<TExpr>, Span),
    Neg(Box<TExpr>, Span),
    /// `!x`.
    Not(Box<TExpr>, Span),
    /// `cond ? a : b`.
    Cond(Box<[TExpr; 3]>, Span),
    /// Function name, arguments, span of the whole call.
    Call(String, Vec<TExpr>, Span),
    /// `[a, b]`.
    List(Vec<TExpr>, Span),
    /// `{ key = value, ... }`, keys in order.
    Map(Vec<(String, Span, TExpr)>, Span),
}

/// A reference: `var.x`, `each.value["k"]`, `vpc.main.id`, `subnet.db[*].id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub root: String,
    pub steps: Vec<Step>,
    /// The whole reference.
    pub span: Span,
}

/// One step after the first name of a [`Path`].
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `.name` (or `.0`).
    Attr(String, Span),
    /// `[expr]`.
    Index(TExpr, Span),
    /// `[*]`.
    Splat(Span),
}

impl Step {
    pub fn span(&self) -> &Span {
        match self {
            Step::Attr(_, s) | Step::Index(_, s) | Step::Splat(s) => s,
        }
    }
}

/// Maps byte ranges of a decoded string back to the file.
#[derive(Debug, Clone)]
pub struct SpanMap {
    pub file: FileId,
    /// File offset of the decoded string's first byte, when the string has no escapes.
    pub content_start: Option<usize>,
    /// The whole string value (used when offsets cannot be mapped).
    pub whole: Range<usize>,
}

impl SpanMap {
    pub fn span(&self, r: Range<usize>) -> Span {
        match self.content_start {
            Some(b) => Span::new(self.file, b + r.start..b + r.end),
            None => Span::new(self.file, self.whole.clone()),
        }
    }
}

/// Parses a string value. No `${` → a literal string; exactly one `${...}`
/// and nothing else → that expression (keeping its type); otherwise a
/// [`TExpr::Concat`].
pub fn parse_template(s: &str, map: &SpanMap) -> Result<TExpr, Diagnostic> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut pos = 0;
    while pos < s.len() {
        let rest = &s[pos..];
        if rest.starts_with("$${") {
            lit.push_str("${");
            pos += 3;
        } else if rest.starts_with("${") {
            if !lit.is_empty() {
                parts.push(TExpr::Lit(Value::Str(std::mem::take(&mut lit))));
            }
            let (expr, end) = parse_interpolation(s, pos, map)?;
            parts.push(expr);
            pos = end;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            lit.push(c);
            pos += c.len_utf8().max(1);
        }
    }
    if !lit.is_empty() || parts.is_empty() {
        parts.push(TExpr::Lit(Value::Str(lit)));
    }
    Ok(if parts.len() == 1 { parts.remove(0) } else { TExpr::Concat(parts) })
}

/// Parses a bare reference such as `vpc.main` or `subnet.db["a"]` (used by
/// `depends_on`) written at `range` of `s`.
pub fn parse_path(s: &str, range: Range<usize>, map: &SpanMap) -> Result<Path, Diagnostic> {
    let whole = map.span(range.clone());
    let Some(text) = s.get(..range.end) else {
        return Err(Diagnostic::error("expected a resource address like `TYPE.NAME`").at(whole));
    };
    let toks = lex(text, range.start, map, false)?;
    let mut p = Parser { toks, pos: 0, map, end: range.end, depth: 0 };
    let path = match p.peek_kind() {
        Some(Tok::Ident(_)) => p.primary()?,
        _ => return Err(p.error_here("expected a resource address like `TYPE.NAME`")),
    };
    if p.pos < p.toks.len() {
        return Err(p.error_here("unexpected text after the address"));
    }
    match path {
        TExpr::Path(path) => Ok(path),
        _ => Err(Diagnostic::error("expected a resource address like `TYPE.NAME`").at(whole)),
    }
}

/// Parses `${ expr }` starting at `start` (the `$`); returns the expression
/// and the offset after the closing `}`.
fn parse_interpolation(s: &str, start: usize, map: &SpanMap) -> Result<(TExpr, usize), Diagnostic> {
    let toks = lex(s, start + 2, map, true)?;
    let Some(close) = toks.iter().position(|t| t.kind == Tok::Close) else {
        return Err(Diagnostic::error("unterminated `${` (missing `}`)").at(map.span(start..start + 2)));
    };
    let end = toks[close].range.end;
    let mut p = Parser { toks: toks[..close].to_vec(), pos: 0, map, end: toks[close].range.start, depth: 0 };
    if p.toks.is_empty() {
        return Err(Diagnostic::error("empty `${}`").at(map.span(start..end)));
    }
    let e = p.expr()?;
    if p.pos < p.toks.len() {
        return Err(p.error_here("unexpected text in expression"));
    }
    Ok((e, end))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    Punct(char),
    /// A two-character operator: `==`, `!=`, `<=`, `>=`, `&&`, `||`.
    Op(&'static str),
    /// The `}` closing an interpolation.
    Close,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: Tok,
    range: Range<usize>,
}

/// Splits `s[start..]` into tokens. With `stop_at_close`, lexing ends after
/// the first `}` outside a string literal.
fn lex(s: &str, start: usize, map: &SpanMap, stop_at_close: bool) -> Result<Vec<Token>, Diagnostic> {
    let mut out = Vec::new();
    let mut chars = s[start..].char_indices().map(|(i, c)| (i + start, c)).peekable();
    // Open `{` of table constructors: their `}` does not close the interpolation.
    let mut braces = 0usize;
    while let Some((i, c)) = chars.next() {
        let kind = match c {
            ' ' | '\t' | '\n' | '\r' => continue,
            '{' => {
                braces += 1;
                Tok::Punct('{')
            }
            '}' if braces > 0 => {
                braces -= 1;
                Tok::Punct('}')
            }
            '}' if stop_at_close => {
                out.push(Token { kind: Tok::Close, range: i..i + 1 });
                return Ok(out);
            }
            '=' | '!' | '<' | '>' | '&' | '|'
                if chars.peek().is_some_and(|&(_, n)| n == '=' || (n == c && "&|".contains(c))) =>
            {
                let (j, n) = chars.next().unwrap_or((i, c));
                let op = match (c, n) {
                    ('=', '=') => "==",
                    ('!', '=') => "!=",
                    ('<', '=') => "<=",
                    ('>', '=') => ">=",
                    ('&', '&') => "&&",
                    _ => "||",
                };
                out.push(Token { kind: Tok::Op(op), range: i..j + 1 });
                continue;
            }
            '+' | '-' | '*' | '/' | '%' | '(' | ')' | '[' | ']' | '.' | ',' | '!' | '<' | '>' | '?' | ':' | '=' => {
                Tok::Punct(c)
            }
            '"' => {
                let mut text = String::new();
                let mut closed = None;
                while let Some((j, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = Some(j + 1);
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, e @ ('"' | '\\'))) => text.push(e),
                            Some((j, _)) => {
                                return Err(Diagnostic::error("unsupported escape in string (only \\\" and \\\\)")
                                    .at(map.span(j - 1..j + 1)));
                            }
                            None => break,
                        },
                        c => text.push(c),
                    }
                }
                let Some(end) = closed else {
                    return Err(Diagnostic::error("unterminated string in expression").at(map.span(i..i + 1)));
                };
                out.push(Token { kind: Tok::Str(text), range: i..end });
                continue;
            }
            c if c.is_ascii_digit() => {
                let mut end = i + 1;
                let mut is_float = false;
                while let Some(&(j, d)) = chars.peek() {
                    let next_is_digit = s[j + d.len_utf8()..].starts_with(|x: char| x.is_ascii_digit());
                    if d.is_ascii_digit() || d == '_' || (d == '.' && !is_float && next_is_digit) {
                        is_float |= d == '.';
                        end = j + 1;
                        chars.next();
                    } else {
                        break;
                    }
                }
                let text: String = s[i..end].chars().filter(|&c| c != '_').collect();
                let bad = |why: String| Diagnostic::error(why).at(map.span(i..end));
                let kind = if is_float {
                    match text.parse::<f64>() {
                        Ok(f) if f.is_finite() => Tok::Float(f),
                        Ok(_) => return Err(bad("number out of range (at most about 1.8e308)".into())),
                        Err(_) => return Err(bad(format!("invalid number `{}`", &s[i..end]))),
                    }
                } else {
                    let too_big = || bad("integer out of range (64-bit signed integers only)".into());
                    Tok::Int(text.parse().map_err(|_| too_big())?)
                };
                out.push(Token { kind, range: i..end });
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = i + 1;
                while let Some(&(j, d)) = chars.peek() {
                    if crate::addr::is_ident_char(d) {
                        end = j + 1;
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token { kind: Tok::Ident(s[i..end].to_owned()), range: i..end });
                continue;
            }
            other => {
                return Err(Diagnostic::error(format!("unexpected `{other}` in expression"))
                    .at(map.span(i..i + other.len_utf8())));
            }
        };
        out.push(Token { kind, range: i..i + 1 });
    }
    Ok(out)
}

/// Deepest nesting of parentheses, brackets and unary minus accepted.
const MAX_DEPTH: usize = 64;

struct Parser<'m> {
    toks: Vec<Token>,
    pos: usize,
    map: &'m SpanMap,
    /// Offset just past the last token (for "expected ..." at the end).
    end: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek_kind(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.kind)
    }

    fn at_punct(&self, c: char) -> bool {
        self.peek_kind() == Some(&Tok::Punct(c))
    }

    fn here(&self) -> Range<usize> {
        self.toks.get(self.pos).map_or(self.end..self.end, |t| t.range.clone())
    }

    fn start(&self) -> usize {
        self.here().start
    }

    /// End offset of the last consumed token.
    fn last_end(&self) -> usize {
        self.pos.checked_sub(1).and_then(|i| self.toks.get(i)).map_or(self.end, |t| t.range.end)
    }

    fn error_here(&self, msg: &str) -> Diagnostic {
        let what = match self.toks.get(self.pos) {
            None => "end of expression".to_owned(),
            Some(t) => match &t.kind {
                Tok::Ident(s) => format!("`{s}`"),
                Tok::Int(i) => format!("`{i}`"),
                Tok::Float(f) => format!("`{f}`"),
                Tok::Str(s) => format!("{s:?}"),
                Tok::Punct(c) => format!("`{c}`"),
                Tok::Op(o) => format!("`{o}`"),
                Tok::Close => "`}`".to_owned(),
            },
        };
        Diagnostic::error(format!("{msg}, found {what}")).at(self.map.span(self.here()))
    }

    fn expect(&mut self, c: char) -> Result<(), Diagnostic> {
        if self.at_punct(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error_here(&format!("expected `{c}`")))
        }
    }

    fn nest(&mut self) -> Result<(), Diagnostic> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diagnostic::error("expression nested too deeply").at(self.map.span(self.here())));
        }
        Ok(())
    }

    /// `cond ? a : b` (right-associative), over `||`, `&&`, equality,
    /// comparison, then arithmetic: Terraform's order.
    fn expr(&mut self) -> Result<TExpr, Diagnostic> {
        let start = self.start();
        let cond = self.or()?;
        if !self.at_punct('?') {
            return Ok(cond);
        }
        self.pos += 1;
        self.nest()?;
        let yes = self.expr()?;
        self.expect(':')?;
        let no = self.expr()?;
        self.depth -= 1;
        Ok(TExpr::Cond(Box::new([cond, yes, no]), self.map.span(start..self.last_end())))
    }

    fn or(&mut self) -> Result<TExpr, Diagnostic> {
        self.binary_level(&[(Tok::Op("||"), BinOp::Or)], Self::and)
    }

    fn and(&mut self) -> Result<TExpr, Diagnostic> {
        self.binary_level(&[(Tok::Op("&&"), BinOp::And)], Self::equality)
    }

    fn equality(&mut self) -> Result<TExpr, Diagnostic> {
        self.binary_level(&[(Tok::Op("=="), BinOp::Eq), (Tok::Op("!="), BinOp::Ne)], Self::comparison)
    }

    fn comparison(&mut self) -> Result<TExpr, Diagnostic> {
        let ops = [
            (Tok::Punct('<'), BinOp::Lt),
            (Tok::Op("<="), BinOp::Le),
            (Tok::Punct('>'), BinOp::Gt),
            (Tok::Op(">="), BinOp::Ge),
        ];
        self.binary_level(&ops, Self::sum)
    }

    fn sum(&mut self) -> Result<TExpr, Diagnostic> {
        self.binary_level(&[(Tok::Punct('+'), BinOp::Add), (Tok::Punct('-'), BinOp::Sub)], Self::term)
    }

    fn term(&mut self) -> Result<TExpr, Diagnostic> {
        let ops = [(Tok::Punct('*'), BinOp::Mul), (Tok::Punct('/'), BinOp::Div), (Tok::Punct('%'), BinOp::Mod)];
        self.binary_level(&ops, Self::unary)
    }

    fn binary_level(
        &mut self,
        ops: &[(Tok, BinOp)],
        next: fn(&mut Self) -> Result<TExpr, Diagnostic>,
    ) -> Result<TExpr, Diagnostic> {
        let start = self.start();
        let mut left = next(self)?;
        while let Some(op) = ops.iter().find(|(t, _)| self.peek_kind() == Some(t)).map(|(_, op)| *op) {
            self.pos += 1;
            let right = next(self)?;
            left = TExpr::Binary(op, Box::new(left), Box::new(right), self.map.span(start..self.last_end()));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<TExpr, Diagnostic> {
        if self.at_punct('-') || self.at_punct('!') {
            let not = self.at_punct('!');
            let start = self.start();
            self.pos += 1;
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            let span = self.map.span(start..self.last_end());
            return Ok(if not { TExpr::Not(Box::new(inner), span) } else { TExpr::Neg(Box::new(inner), span) });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<TExpr, Diagnostic> {
        let Some(tok) = self.toks.get(self.pos).cloned() else {
            return Err(self.error_here("expected a value"));
        };
        match tok.kind {
            Tok::Int(i) => {
                self.pos += 1;
                Ok(TExpr::Lit(Value::Int(i)))
            }
            Tok::Float(f) => {
                self.pos += 1;
                Ok(TExpr::Lit(Value::Float(f)))
            }
            Tok::Str(s) => {
                self.pos += 1;
                Ok(TExpr::Lit(Value::Str(s)))
            }
            Tok::Punct('(') => {
                self.pos += 1;
                self.nest()?;
                let e = self.expr()?;
                self.depth -= 1;
                self.expect(')')?;
                Ok(e)
            }
            Tok::Punct('[') => {
                self.pos += 1;
                self.nest()?;
                let mut items = Vec::new();
                while !self.at_punct(']') {
                    items.push(self.expr()?);
                    if !self.at_punct(']') {
                        self.expect(',')?;
                    }
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(TExpr::List(items, self.map.span(tok.range.start..self.last_end())))
            }
            Tok::Punct('{') => {
                self.pos += 1;
                self.nest()?;
                let mut entries = Vec::new();
                while !self.at_punct('}') {
                    let key_at = self.here();
                    let key = match self.peek_kind() {
                        Some(Tok::Ident(k) | Tok::Str(k)) => k.clone(),
                        _ => return Err(self.error_here("expected a key (a name or a string)")),
                    };
                    self.pos += 1;
                    self.expect('=')?;
                    entries.push((key, self.map.span(key_at), self.expr()?));
                    if !self.at_punct('}') {
                        self.expect(',')?;
                    }
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(TExpr::Map(entries, self.map.span(tok.range.start..self.last_end())))
            }
            Tok::Ident(name) => {
                self.pos += 1;
                if self.at_punct('(') {
                    return self.call(name, tok.range.start);
                }
                let steps = self.steps()?;
                match name.as_str() {
                    "true" | "false" if steps.is_empty() => Ok(TExpr::Lit(Value::Bool(name == "true"))),
                    _ => Ok(TExpr::Path(Path {
                        root: name,
                        steps,
                        span: self.map.span(tok.range.start..self.last_end()),
                    })),
                }
            }
            _ => Err(self.error_here("expected a value")),
        }
    }

    fn call(&mut self, name: String, start: usize) -> Result<TExpr, Diagnostic> {
        self.pos += 1; // `(`
        self.nest()?;
        let mut args = Vec::new();
        if !self.at_punct(')') {
            loop {
                args.push(self.expr()?);
                if self.at_punct(',') {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.expect(')')?;
        self.depth -= 1;
        Ok(TExpr::Call(name, args, self.map.span(start..self.last_end())))
    }

    fn steps(&mut self) -> Result<Vec<Step>, Diagnostic> {
        let mut steps = Vec::new();
        loop {
            let start = self.start();
            if self.at_punct('.') {
                self.pos += 1;
                let step = match self.peek_kind() {
                    Some(Tok::Ident(n)) => n.clone(),
                    Some(Tok::Int(i)) if *i >= 0 => i.to_string(),
                    _ => return Err(self.error_here("expected a name after `.`")),
                };
                self.pos += 1;
                steps.push(Step::Attr(step, self.map.span(start..self.last_end())));
            } else if self.at_punct('[') {
                self.pos += 1;
                if self.at_punct('*') {
                    self.pos += 1;
                    self.expect(']')?;
                    steps.push(Step::Splat(self.map.span(start..self.last_end())));
                } else {
                    self.nest()?;
                    let index = self.expr()?;
                    self.depth -= 1;
                    self.expect(']')?;
                    steps.push(Step::Index(index, self.map.span(start..self.last_end())));
                }
            } else {
                return Ok(steps);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(len: usize) -> SpanMap {
        SpanMap { file: FileId(0), content_start: Some(100), whole: 99..101 + len }
    }

    fn parse(s: &str) -> Result<TExpr, Diagnostic> {
        parse_template(s, &map(s.len()))
    }

    fn path(root: &str, steps: &[&str]) -> (String, Vec<String>) {
        (root.to_owned(), steps.iter().map(|s| s.to_string()).collect())
    }

    fn shape(p: &Path) -> (String, Vec<String>) {
        let steps = p
            .steps
            .iter()
            .map(|s| match s {
                Step::Attr(a, _) => format!(".{a}"),
                Step::Index(TExpr::Lit(v), _) => format!("[{v}]"),
                Step::Index(_, _) => "[expr]".to_owned(),
                Step::Splat(_) => "[*]".to_owned(),
            })
            .collect();
        (p.root.clone(), steps)
    }

    #[test]
    fn plain_strings_and_escapes() {
        assert_eq!(parse("hello"), Ok(TExpr::Lit(Value::str("hello"))));
        assert_eq!(parse(""), Ok(TExpr::Lit(Value::str(""))));
        assert_eq!(parse("a $${b} c"), Ok(TExpr::Lit(Value::str("a ${b} c"))));
        assert_eq!(parse("$ and $x é"), Ok(TExpr::Lit(Value::str("$ and $x é"))));
    }

    #[test]
    fn single_reference_keeps_expression_and_span() {
        let TExpr::Path(p) = parse("${subnet.db[\"a\"].id}").unwrap() else { panic!("not a path") };
        assert_eq!(shape(&p), path("subnet", &[".db", "[\"a\"]", ".id"]));
        // Offsets: "${" is 2 bytes, the reference is the rest minus "}".
        assert_eq!(p.span.range, 102..119);
        let TExpr::Path(p) = parse("${ subnet.db[*].id }").unwrap() else { panic!("not a path") };
        assert_eq!(shape(&p), path("subnet", &[".db", "[*]", ".id"]));
        let TExpr::Path(p) = parse("${each.value.0}").unwrap() else { panic!("not a path") };
        assert_eq!(shape(&p), path("each", &[".value", ".0"]));
    }

    #[test]
    fn interpolation_is_concat() {
        let TExpr::Concat(parts) = parse("db-${var.env}-x").unwrap() else { panic!("not concat") };
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], TExpr::Lit(Value::str("db-")));
        assert!(matches!(&parts[1], TExpr::Path(p) if p.span.range == (105..112)));
        assert_eq!(parts[2], TExpr::Lit(Value::str("-x")));
    }

    #[test]
    fn precedence_and_parentheses() {
        let e = parse("${1 + 2 * 3 - (4 - 1) % 2}").unwrap();
        // ((1 + (2*3)) - ((4-1) % 2))
        let TExpr::Binary(BinOp::Sub, l, r, _) = e else { panic!("{e:?}") };
        assert!(matches!(*l, TExpr::Binary(BinOp::Add, _, ref m, _) if matches!(**m, TExpr::Binary(BinOp::Mul, ..))));
        assert!(matches!(*r, TExpr::Binary(BinOp::Mod, ref m, _, _) if matches!(**m, TExpr::Binary(BinOp::Sub, ..))));
        assert!(matches!(parse("${-var.x}").unwrap(), TExpr::Neg(..)));
        assert_eq!(parse("${2.5}"), Ok(TExpr::Lit(Value::Float(2.5))));
        assert_eq!(parse("${true}"), Ok(TExpr::Lit(Value::Bool(true))));
    }

    #[test]
    fn calls_and_index_expressions() {
        let TExpr::Call(name, args, span) = parse("${max(1, var.x)}").unwrap() else { panic!() };
        assert_eq!((name.as_str(), args.len(), span.range), ("max", 2, 102..115));
        assert!(matches!(parse("${f()}").unwrap(), TExpr::Call(_, a, _) if a.is_empty()));
        let TExpr::Path(p) = parse("${subnet.db[each.key].id}").unwrap() else { panic!() };
        assert_eq!(shape(&p), path("subnet", &[".db", "[expr]", ".id"]));
    }

    #[test]
    fn conditions_comparisons_and_logic_follow_terraforms_order() {
        // `a || b && c == 1 + 2 ? x : y` is `(a || (b && (c == (1 + 2)))) ? x : y`.
        let TExpr::Cond(parts, _) = parse("${a || b && c == 1 + 2 ? x : y}").unwrap() else { panic!() };
        let TExpr::Binary(BinOp::Or, _, right, _) = &parts[0] else { panic!("{:?}", parts[0]) };
        let TExpr::Binary(BinOp::And, _, eq, _) = right.as_ref() else { panic!("{right:?}") };
        let TExpr::Binary(BinOp::Eq, _, sum, _) = eq.as_ref() else { panic!("{eq:?}") };
        assert!(matches!(sum.as_ref(), TExpr::Binary(BinOp::Add, ..)));
        // Right-associative: `a ? b : c ? d : e` nests in the else branch.
        let TExpr::Cond(parts, _) = parse("${a ? b : c ? d : e}").unwrap() else { panic!() };
        assert!(matches!(&parts[2], TExpr::Cond(..)));
        for (text, op) in [("<", BinOp::Lt), ("<=", BinOp::Le), (">", BinOp::Gt), (">=", BinOp::Ge), ("!=", BinOp::Ne)]
        {
            let parsed = parse(&format!("${{1 {text} 2}}")).unwrap();
            assert!(matches!(parsed, TExpr::Binary(o, ..) if o == op), "{text}");
        }
        assert!(matches!(parse("${!a}").unwrap(), TExpr::Not(..)));
        assert!(matches!(parse("${!!a}").unwrap(), TExpr::Not(inner, _) if matches!(*inner, TExpr::Not(..))));
    }

    #[test]
    fn lists_and_tables_are_built_inside_expressions() {
        let TExpr::List(items, _) = parse("${[1, var.a, [], ]}").unwrap() else { panic!() };
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[2], TExpr::List(inner, _) if inner.is_empty()));
        let TExpr::Map(entries, _) = parse("${{ a = 1, \"b-c\" = { d = var.x } }}").unwrap() else { panic!() };
        let keys: Vec<&str> = entries.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b-c"]);
        assert!(matches!(&entries[1].2, TExpr::Map(..)));
        // A table's `}` does not end the interpolation; the next one does.
        let TExpr::Concat(parts) = parse("x-${ {a = 1} }-y").unwrap() else { panic!() };
        assert!(matches!(&parts[..], [TExpr::Lit(_), TExpr::Map(..), TExpr::Lit(Value::Str(end))] if end == "-y"));
        assert!(matches!(parse("${c ? [1] : []}").unwrap(), TExpr::Cond(..)));
    }

    #[test]
    fn hyphens_belong_to_names() {
        let TExpr::Path(p) = parse("${var.db-name}").unwrap() else { panic!() };
        assert_eq!(shape(&p), path("var", &[".db-name"]));
        assert!(matches!(parse("${var.a - 1}").unwrap(), TExpr::Binary(BinOp::Sub, ..)));
    }

    #[test]
    fn errors_point_into_the_string() {
        let cases = [
            ("${var.x", "unterminated `${` (missing `}`)", 100),
            ("ab${}", "empty `${}`", 102),
            ("${var.}", "expected a name after `.`, found end of expression", 106),
            ("${1 +}", "expected a value, found end of expression", 105),
            ("${a b}", "unexpected text in expression, found `b`", 104),
            ("${x[1}", "expected `]`, found end of expression", 105),
            ("${\"ab}", "unterminated string in expression", 102),
            ("${a ? b}", "expected `:`, found end of expression", 107),
            ("${a ? b : }", "expected a value, found end of expression", 110),
            ("${a = b}", "unexpected text in expression, found `=`", 104),
            ("${[1, 2}", "expected `,`, found end of expression", 107),
            ("${{a 1}}", "expected `=`, found `1`", 105),
            ("${{1 = 2}}", "expected a key (a name or a string), found `1`", 103),
            ("${a & b}", "unexpected `&` in expression", 104),
            ("${f(1,)}", "expected a value, found `)`", 106),
            ("${f(1,}", "expected a value, found end of expression", 106),
            ("${9223372036854775808}", "integer out of range (64-bit signed integers only)", 102),
        ];
        for (input, msg, at) in cases {
            let d = parse(input).unwrap_err();
            assert_eq!(d.summary, msg, "{input}");
            assert_eq!(d.span.unwrap().range.start, at, "{input}");
        }
    }

    #[test]
    fn number_literals_beyond_the_float_range_are_errors() {
        let huge = format!("${{{}.5 * 1}}", "9".repeat(400));
        let d = parse(&huge).unwrap_err();
        assert_eq!(d.summary, "number out of range (at most about 1.8e308)");
        assert_eq!(d.span.unwrap().range, 102..504, "the whole literal");
        assert_eq!(parse("${9223372036854775807}"), Ok(TExpr::Lit(Value::Int(i64::MAX))));
    }

    #[test]
    fn strings_with_escapes_point_at_the_whole_value() {
        let m = SpanMap { file: FileId(0), content_start: None, whole: 10..30 };
        let d = parse_template("${var.}", &m).unwrap_err();
        assert_eq!(d.span.unwrap().range, 10..30);
    }

    #[test]
    fn bare_paths_for_depends_on() {
        let m = map(20);
        let p = parse_path("subnet.db[\"a\"]", 0..14, &m).unwrap();
        assert_eq!(shape(&p), path("subnet", &[".db", "[\"a\"]"]));
        let p = parse_path("${vpc.main}", 2..10, &m).unwrap();
        assert_eq!((shape(&p), p.span.range), (path("vpc", &[".main"]), 102..110));
        assert!(parse_path("1 + 2", 0..5, &m).is_err());
        assert!(parse_path("vpc.main x", 0..10, &m).is_err());
        assert!(parse_path("", 0..0, &m).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("${{{}1{}}}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(parse(&deep).unwrap_err().summary, "expression nested too deeply");
        let negs = format!("${{{}1}}", "-".repeat(5000));
        assert!(parse(&negs).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet: Vec<char> = "${}[]().,*+-/%\"\\ ab1_é$".chars().collect();
        let mut seed: u64 = 42;
        for _ in 0..5000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = (seed >> 40) as usize % 24;
            let s: String = (0..len)
                .map(|i| {
                    let x = seed.rotate_left(i as u32 * 7) >> 33;
                    alphabet[x as usize % alphabet.len()]
                })
                .collect();
            let _ = parse(&format!("${{{s}"));
            let _ = parse(&s);
            let _ = parse_path(&s, 0..s.len(), &map(s.len()));
        }
    }
}
