//! Masking values in the text of variable files, so that no diagnostic
//! snippet can show a secret.
//!
//! Invariant: a masked text has the same lines, the same byte offsets and the
//! same character columns as the original. Every masked character becomes
//! one of the same UTF-8 length ([`mask_char`]) and line breaks are never
//! masked, so spans computed on the original text point at the same place in
//! the masked one and carets stay under the right column. Keys, `=`,
//! brackets, braces, commas, quotes and whitespace between values are kept;
//! what is inside strings, numbers, bools and comments is masked.

use std::ops::Range;

use super::parse::{Node, NodeKind};

/// The replacement for a masked character: one of the same UTF-8 length.
fn mask_char(c: char) -> char {
    match c.len_utf8() {
        1 => '*',
        2 => '·',
        3 => '•',
        _ => '𝟘',
    }
}

/// Characters of a text with a mask flag each.
struct Masker {
    chars: Vec<(usize, char)>,
    masked: Vec<bool>,
}

impl Masker {
    fn new(text: &str) -> Masker {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let masked = vec![false; chars.len()];
        Masker { chars, masked }
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).map(|(_, c)| *c)
    }

    fn starts(&self, i: usize, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.at(i + k) == Some(c))
    }

    /// Masks character `i` unless it is a line break.
    fn hide(&mut self, i: usize) {
        if !matches!(self.at(i), Some('\n' | '\r')) && i < self.masked.len() {
            self.masked[i] = true;
        }
    }

    /// Index of the first character at or after byte offset `b`.
    fn index_of(&self, b: usize) -> usize {
        self.chars.partition_point(|(o, _)| *o < b)
    }

    fn finish(self) -> String {
        self.chars.iter().zip(&self.masked).map(|((_, c), m)| if *m { mask_char(*c) } else { *c }).collect()
    }

    /// Masks the value that starts at `i`, up to `end` (exclusive) or, when
    /// `end` is `None`, up to the first line break outside strings, arrays
    /// and inline tables. Returns the index after the value.
    fn value(&mut self, mut i: usize, end: Option<usize>) -> usize {
        let line_ends = end.is_none();
        let end = end.unwrap_or(self.chars.len()).min(self.chars.len());
        let mut depth = 0usize;
        while i < end {
            let Some(c) = self.at(i) else { break };
            match c {
                '\n' if depth == 0 && line_ends => return i,
                '\n' | '\r' | ' ' | '\t' | ',' | '=' => i += 1,
                '[' | '{' => {
                    depth += 1;
                    i += 1;
                }
                ']' | '}' => {
                    depth = depth.saturating_sub(1);
                    i += 1;
                }
                '#' => i = self.comment(i, end),
                '"' | '\'' => i = self.string(i, end),
                _ => {
                    self.hide(i);
                    i += 1;
                }
            }
        }
        i
    }

    /// A comment from `#` (kept) to the end of the line (masked).
    fn comment(&mut self, mut i: usize, end: usize) -> usize {
        i += 1;
        while i < end && !matches!(self.at(i), Some('\n')) {
            self.hide(i);
            i += 1;
        }
        i
    }

    /// A string starting at `i` (a quote): delimiters kept, content masked.
    /// Single-line strings end at their closing quote or the line's end
    /// (unterminated); multi-line ones at their closing triple quote or `end`.
    fn string(&mut self, i: usize, end: usize) -> usize {
        let Some(q) = self.at(i) else { return i + 1 };
        let escapes = q == '"';
        let triple: String = [q, q, q].iter().collect();
        let multi = self.starts(i, &triple);
        let mut j = if multi { i + 3 } else { i + 1 };
        while j < end {
            match self.at(j) {
                Some('\\') if escapes => {
                    self.hide(j);
                    self.hide(j + 1);
                    j += 2;
                }
                Some('\n') if !multi => return j,
                Some(c) if c == q && (!multi || self.starts(j, &triple)) => {
                    return if multi { j + 3 } else { j + 1 };
                }
                _ => {
                    self.hide(j);
                    j += 1;
                }
            }
        }
        j.min(end)
    }

    /// A dotted key at `i` (`a.b`, `"quoted".c`) followed by `stop`:
    /// the index after `stop`, or `None` when the text is not such a key.
    fn key_then(&self, mut i: usize, stop: &str) -> Option<usize> {
        loop {
            while matches!(self.at(i), Some(' ' | '\t')) {
                i += 1;
            }
            match self.at(i)? {
                q @ ('"' | '\'') => {
                    i += 1;
                    loop {
                        match self.at(i)? {
                            '\n' => return None,
                            '\\' if q == '"' => i += 2,
                            c if c == q => break,
                            _ => i += 1,
                        }
                    }
                    i += 1;
                }
                c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => {
                    while self.at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                        i += 1;
                    }
                }
                _ => return None,
            }
            while matches!(self.at(i), Some(' ' | '\t')) {
                i += 1;
            }
            if self.starts(i, stop) {
                return Some(i + stop.chars().count());
            }
            if self.at(i) != Some('.') {
                return None;
            }
            i += 1;
        }
    }
}

/// Masks every value of a TOML text that may not parse: what follows a
/// well-formed `key =` at the start of a line, and every line that is
/// neither such a key nor a well-formed `[table]` header. Keys and headers
/// are kept.
pub(super) fn mask_all_values(text: &str) -> String {
    let mut m = Masker::new(text);
    let mut i = 0;
    while i < m.chars.len() {
        match m.at(i) {
            Some(' ' | '\t' | '\r' | '\n') => i += 1,
            Some('#') => i = m.comment(i, m.chars.len()),
            Some('[') => {
                let header = m.key_then(i + 2, "]]").filter(|_| m.starts(i, "[["));
                match header.or_else(|| m.key_then(i + 1, "]")) {
                    Some(after) if line_rest_is_blank(&m, after) => i = after,
                    _ => i = m.value(i, None),
                }
            }
            Some(_) => match m.key_then(i, "=") {
                Some(after) => i = m.value(after, None),
                None => i = m.value(i, None),
            },
            None => break,
        }
    }
    m.finish()
}

/// True when only spaces and a comment follow `i` on its line.
fn line_rest_is_blank(m: &Masker, mut i: usize) -> bool {
    while matches!(m.at(i), Some(' ' | '\t' | '\r')) {
        i += 1;
    }
    matches!(m.at(i), None | Some('\n' | '#'))
}

/// Masks, in a parsed variable file, the values of the top-level entries for
/// which `top(name)` is true, and inside the other values those of entries
/// for which `nested(name)` is true (a secret pasted under the wrong header).
pub(super) fn mask_entries(
    text: &str,
    root: &Node,
    top: &dyn Fn(&str) -> bool,
    nested: &dyn Fn(&str) -> bool,
) -> String {
    let mut regions = Vec::new();
    for e in root.as_table().unwrap_or_default() {
        if top(&e.key) {
            value_regions(text, &e.value, &mut regions);
        } else {
            nested_regions(text, &e.value, nested, &mut regions);
        }
    }
    let mut m = Masker::new(text);
    for r in regions {
        let (start, end) = (m.index_of(r.start), m.index_of(r.end));
        m.value(start, Some(end));
    }
    m.finish()
}

/// The text ranges holding a value: its own span, and those of the values
/// inside it. A table opened by a `[header]` (or made by dotted keys) has
/// the header as its span and its values below it, so only those count.
/// Ranges may overlap; masking twice is masking once.
fn value_regions(text: &str, node: &Node, out: &mut Vec<Range<usize>>) {
    match &node.kind {
        NodeKind::Table(entries) => {
            if text.get(node.span.range.clone()).is_some_and(|t| t.starts_with('{')) {
                out.push(node.span.range.clone());
            }
            for e in entries {
                value_regions(text, &e.value, out);
            }
        }
        NodeKind::Array(items) => {
            out.push(node.span.range.clone());
            for item in items {
                value_regions(text, item, out);
            }
        }
        _ => out.push(node.span.range.clone()),
    }
}

/// The values of entries named `hide` anywhere inside `node`.
fn nested_regions(text: &str, node: &Node, hide: &dyn Fn(&str) -> bool, out: &mut Vec<Range<usize>>) {
    match &node.kind {
        NodeKind::Table(entries) => {
            for e in entries {
                if hide(&e.key) {
                    value_regions(text, &e.value, out);
                } else {
                    nested_regions(text, &e.value, hide, out);
                }
            }
        }
        NodeKind::Array(items) => items.iter().for_each(|i| nested_regions(text, i, hide, out)),
        _ => {}
    }
}

/// Whether a parser message may quote masked text: it contains a masked run
/// of at least three characters, or a shorter one in quotes.
pub(super) fn quotes_masked(message: &str, original: &str, masked: &str) -> bool {
    let mut runs = Vec::new();
    let mut run = String::new();
    for (o, m) in original.chars().zip(masked.chars()) {
        if o != m {
            run.push(o);
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    runs.push(run);
    runs.iter().filter(|r| !r.trim().is_empty()).any(|r| {
        let r = r.trim();
        (r.chars().count() >= 3 && message.contains(r))
            || ["`", "'", "\""].iter().any(|q| message.contains(&format!("{q}{r}{q}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse::parse_document;
    use crate::diag::{FileId, line_col};

    /// The masked text keeps lines, byte offsets and columns of the original.
    fn same_shape(a: &str, b: &str) {
        assert_eq!(a.len(), b.len(), "{a:?} -> {b:?}");
        assert_eq!(a.chars().count(), b.chars().count(), "{a:?} -> {b:?}");
        for (i, _) in a.char_indices() {
            assert_eq!(line_col(a, i), line_col(b, i), "{a:?} -> {b:?} at {i}");
        }
    }

    #[test]
    fn broken_files_lose_every_value_and_keep_keys() {
        let cases = [
            ("pw = \"Hunter2EEE\"\npw = \"Hunter2EEE\"\n", "pw = \"**********\"\npw = \"**********\"\n"),
            ("pw = \"Hunter2EEE\n", "pw = \"**********\n"),
            ("pw = Hunter2EEE x\nn = 1\n", "pw = ********** *\nn = *\n"),
            ("pw = [\"Hunter2EEE\",\n  'a b']\n", "pw = [\"**********\",\n  '***']\n"),
            ("pw = \"\"\"\nHunter2EEE\nsecond = 2\n", "pw = \"\"\"\n**********\n**********\n"),
            ("'pw'.x = { a = \"é\" } # note\n", "'pw'.x = { * = \"·\" } #*****\n"),
            ("[pw]\nx = 'Hunter2EEE'\n[pw\nHunter2EEE\n", "[pw]\nx = '**********'\n[**\n**********\n"),
            ("pw \"Hunter2EEE\" = 1\n", "** \"**********\" = *\n"),
            ("= \"Hunter2EEE\"\n", "= \"**********\"\n"),
            ("pw = \"a\\\"Hunter2EEE\"\n", "pw = \"*************\"\n"),
            ("pw = {\n  x = \"Hunter2EEE\" }\n", "pw = {\n  * = \"**********\" }\n"),
        ];
        for (text, want) in cases {
            let got = mask_all_values(text);
            assert_eq!(got, want, "{text:?}");
            same_shape(text, &got);
        }
    }

    #[test]
    fn only_chosen_entries_are_masked_in_a_parsed_file() {
        let text = "n = 3\npw = [\"Hunter2EEE\", 'x'] # pw\nzz = { a = \"Hunter2EEE\" }\nt.pw = \"Hunter2EEE\"\n[pq]\nb = \"Hunter2EEE\"\n[s]\npw = 'Hunter2EEE'\nok = \"shown\"\n[[yy]]\nc = \"Hunter2EEE\"\n[[u]]\npw = \"Hunter2EEE\"\n";
        let (root, diags) = parse_document(FileId(0), text);
        assert!(diags.is_empty(), "{diags:?}");
        let got = mask_entries(text, &root, &|k| ["pw", "pq", "zz", "yy"].contains(&k), &|k| k == "pw");
        same_shape(text, &got);
        assert!(!got.contains("Hunter2EEE"), "{got}");
        assert!(got.starts_with("n = 3\npw = [\"**********\", '*'] # pw\nzz = { * = \"**********\" }\n"), "{got}");
        assert!(got.contains("ok = \"shown\"\n"), "{got}");
        assert!(got.ends_with("\nc = \"**********\"\n[[u]]\npw = \"**********\"\n"), "{got}");
    }

    #[test]
    fn multibyte_characters_keep_their_length() {
        let text = "pw = \"é€😀x\"\n";
        let got = mask_all_values(text);
        same_shape(text, &got);
        assert_eq!(got, "pw = \"·•𝟘*\"\n");
    }

    #[test]
    fn parser_messages_quoting_masked_text_are_caught() {
        let original = "pw = \"Hunter2EEE\nq = x\n";
        let masked = mask_all_values(original);
        assert!(quotes_masked("invalid string `Hunter2EEE`", original, &masked));
        assert!(quotes_masked("unexpected `x`", original, &masked));
        assert!(!quotes_masked("invalid basic string, expected `\"`", original, &masked));
        assert!(!quotes_masked("unexpected x", original, &masked), "a short run only counts when quoted");
    }
}
