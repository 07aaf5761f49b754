//! The only place that prints. Human and JSON renderers for plans, drift and
//! diagnostics, progress lines for the engine, and the confirmation prompt.

pub mod diagnostics;
pub mod json;
pub mod plan;
pub mod progress;

use std::io::{IsTerminal, Write};

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

    /// An error message with hints, as the last thing a failed command prints.
    pub fn error(&self, message: &str, hints: &[String]) {
        let mut s = format!("{}: {message}\n", self.style.red("error"));
        for h in hints {
            s.push_str(&format!("  {}: {h}\n", self.style.cyan("hint")));
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
