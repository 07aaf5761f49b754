//! The only place that prints. Human and JSON renderers for plans, drift and
//! diagnostics, progress lines for the engine, and the confirmation prompt.

pub mod check;
pub mod cost;
pub mod diagnostics;
pub mod drift;
pub mod generate;
pub mod json;
pub mod plan;
pub mod progress;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

/// `s` with every control character escaped as `\n`, `\r`, `\t` or
/// `\u{1b}`: C0, DEL, C1 and the bidirectional overrides. Every string that
/// came from input (stack files, state, AWS replies, paths) goes through this
/// (or [`safe_lines`]) before it is printed, so it cannot move the cursor,
/// recolour or retitle the terminal, ring it, or reorder what is shown.
pub fn safe(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// [`safe`], keeping line breaks: for messages whose lines pgstack composes.
pub fn safe_lines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// [`safe`] of a value's `Display` form.
pub fn safe_display(x: &impl std::fmt::Display) -> String {
    safe(&x.to_string()).into_owned()
}

/// `s` as one word of a shell command shown to be copied: as is when it
/// holds only letters, digits and `-_.:/@=+,`; otherwise in single quotes
/// (a `'` inside as `'\''`), control characters escaped as by [`safe`].
pub fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/@=+,".contains(c)) {
        return s.to_owned();
    }
    format!("'{}'", safe(&s.replace('\'', "'\\''")))
}

fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !(keep_newlines && c == '\n')) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Colour on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colour when stderr is a terminal, unless `--no-color` or `NO_COLOR`.
    pub fn detect(no_color: bool) -> Self {
        Style { color: !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal() }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// Writes to stdout (results) and stderr (diagnostics, progress, errors).
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub style: Style,
    pub verbose: bool,
}

impl Ui {
    pub fn out(&self, s: &str) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
    }

    pub fn err(&self, s: &str) {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(s.as_bytes());
        let _ = e.flush();
    }

    /// An error message with hints, as the last thing a failed command
    /// prints; control characters in them are escaped ([`safe_lines`]).
    pub fn error(&self, message: &str, hints: &[String]) {
        self.notice(&self.style.red("error"), message, hints);
    }

    /// A warning with hints; the command goes on. Escaped like [`Ui::error`].
    pub fn warn(&self, message: &str, hints: &[String]) {
        self.notice(&self.style.yellow("warning"), message, hints);
    }

    fn notice(&self, label: &str, message: &str, hints: &[String]) {
        let mut s = format!("{label}: {}\n", safe_lines(message));
        for h in hints {
            s.push_str(&format!("  {}: {}\n", self.style.cyan("hint"), safe_lines(h)));
        }
        self.err(&s);
    }

    /// Asks for `yes`; anything else (or no terminal) is a no.
    pub fn confirm(&self, question: &str) -> bool {
        self.err(&format!(
            "\n{}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ",
            self.style.bold(question)
        ));
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).is_ok() && line.trim() == "yes"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_escapes_controls_and_borrows_clean_text() {
        assert!(matches!(safe("vpc.main \"é\" ✓"), Cow::Borrowed(_)));
        assert_eq!(safe("\u{1b}[31mred\u{7}"), "\\u{1b}[31mred\\u{7}");
        assert_eq!(safe("a\r\nb\tc\u{7f}\u{9b}2J\u{202e}"), "a\\r\\nb\\tc\\u{7f}\\u{9b}2J\\u{202e}");
        assert_eq!(safe_lines("one\ntwo\u{1b}]0;title\u{7}"), "one\ntwo\\u{1b}]0;title\\u{7}");
    }

    #[test]
    fn shell_words_are_quoted_unless_plain() {
        assert_eq!(shell_word("stacks/prod.toml"), "stacks/prod.toml");
        assert_eq!(shell_word("5b0c-1d2e"), "5b0c-1d2e");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("my stack.toml"), "'my stack.toml'");
        assert_eq!(shell_word("a'b;rm -rf /"), "'a'\\''b;rm -rf /'");
        assert_eq!(shell_word("x\ny\u{1b}"), "'x\\ny\\u{1b}'");
    }
}
