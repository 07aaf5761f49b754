//! The stack's `[check]` table: the profile `pgstack check` applies (else
//! the `Profile` tag of `[stack] tags`, which the shipped stacks carry) and
//! the waivers of its rules (docs/check.md). Rule ids are not known here; the
//! check layer reports waivers of rules it does not have.

use crate::diag::Diagnostic;

use super::load::Loader;
use super::model::{CheckSettings, Expr, Profile, ProfileSource, Waiver};
use super::parse::Entry;
use super::resolve::Cx;
use super::scope::Scope;

impl Loader<'_> {
    /// `[check] profile = "..."` and `[check.waive] "ID" = { reason, until }`.
    pub(super) fn check_table(&mut self, scope: &mut Scope, e: Option<&Entry>) -> CheckSettings {
        let mut out = CheckSettings::default();
        let entries = self.table_entries(e, "check", "settings (profile, waive)");
        self.unknown_keys(&entries, &["profile", "waive"], "[check]");
        if let Some(p) = entries.iter().find(|x| x.key == "profile")
            && let Some(name) = self.static_str(scope, &Cx::default(), &p.value, "the check profile")
        {
            match Profile::parse(&name) {
                Some(profile) => out.profile = Some((profile, ProfileSource::Check)),
                None => self.diags.push(
                    Diagnostic::error(format!("unknown check profile `{name}`"))
                        .at(p.value.span.clone())
                        .hint(format!("profiles: {}", Profile::NAMES.join(", "))),
                ),
            }
        }
        if out.profile.is_none() {
            let tag = self.stack.tags.get("Profile").and_then(Expr::as_lit).and_then(|v| v.as_str());
            out.profile = tag.and_then(|t| Profile::parse(&t.to_ascii_lowercase())).map(|p| (p, ProfileSource::Tag));
        }
        let waive = entries.iter().find(|x| x.key == "waive");
        for w in self.table_entries(
            waive,
            "check.waive",
            "waivers like `\"PG-HA-001\" = { reason = \"...\", until = \"2027-03-01\" }`",
        ) {
            if let Some(waiver) = self.waiver(scope, &w) {
                out.waivers.push(waiver);
            }
        }
        out
    }

    fn waiver(&mut self, scope: &mut Scope, w: &Entry) -> Option<Waiver> {
        let table = format!("the waiver of `{}`", w.key);
        let settings = self.table_entries(Some(w), &table, "`reason` and `until`");
        self.unknown_keys(&settings, &["reason", "until"], &table);
        let mut get = |key: &str, what: &str| -> Option<String> {
            match settings.iter().find(|x| x.key == key) {
                Some(x) => self.static_str(scope, &Cx::default(), &x.value, what),
                None => self.fail(
                    Diagnostic::error(format!("{table} has no `{key}`"))
                        .at(w.key_span.clone())
                        .hint("a waiver says why and until when: { reason = \"...\", until = \"YYYY-MM-DD\" }"),
                ),
            }
        };
        let reason = get("reason", "a waiver's reason");
        let until = get("until", "a waiver's end date");
        let (reason, until) = (reason?, until?);
        if reason.trim().is_empty() {
            let at = settings.iter().find(|x| x.key == "reason").map_or(&w.key_span, |x| &x.value.span);
            return self.fail(Diagnostic::error(format!("{table} needs a reason")).at(at.clone()));
        }
        if !is_date(&until) {
            let at = settings.iter().find(|x| x.key == "until").map_or(&w.key_span, |x| &x.value.span);
            return self.fail(
                Diagnostic::error(format!("`until` of {table} is not a date: `{until}`"))
                    .at(at.clone())
                    .hint("write the last day the waiver holds as YYYY-MM-DD, e.g. \"2027-03-01\""),
            );
        }
        Some(Waiver { rule: w.key.clone(), reason, until, span: w.key_span.clone() })
    }
}

/// True for a calendar date written `YYYY-MM-DD`.
pub(super) fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts[..] else { return false };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || !s.chars().all(|c| c.is_ascii_digit() || c == '-') {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else { return false };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

#[cfg(test)]
mod tests {
    use super::is_date;

    #[test]
    fn dates_are_calendar_days() {
        for ok in ["2027-03-01", "2024-02-29", "2000-02-29", "1999-12-31"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "2027-3-01",
            "2023-02-29",
            "1900-02-29",
            "2027-13-01",
            "2027-04-31",
            "2027-00-10",
            "27-03-01",
            "2027/03/01",
            "+027-03-01",
            "",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }
}
