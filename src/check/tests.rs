//! The rules on the fixtures under tests/fixtures/check/ (each rule fails
//! its `-fail.toml` at the line its `# fails at:` comment names and passes
//! its `-pass.toml`), and the machinery around them: unknown values,
//! references by name, modules, profiles and waivers. docs/check.md's rule
//! table is generated from [`RULES`]; regenerate it with
//! `PGSTACK_UPDATE_DOCS=1 cargo test --lib rules_doc`.

use std::path::{Path, PathBuf};

use crate::config::{LoadOptions, Loaded, Profile, ProfileSource, load};
use crate::diag::{Severity, Span};
use crate::provider::Registry;

use super::*;

const TODAY: &str = "2026-06-15";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load_file(path: &Path) -> Loaded {
    match load(path, &LoadOptions::default(), &Registry::aws()) {
        Ok(l) => l,
        Err((_, d)) => {
            panic!("{} does not load: {:#?}", path.display(), d.0.iter().map(|d| &d.summary).collect::<Vec<_>>())
        }
    }
}

/// Writes `files` (path → text) to a scratch directory and loads `stack.toml`.
fn load_files(files: &[(&str, &str)]) -> (tempfile::TempDir, Loaded) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let loaded = load_file(&dir.path().join("stack.toml"));
    (dir, loaded)
}

fn stack(body: &str) -> (tempfile::TempDir, Loaded) {
    load_files(&[("stack.toml", &format!("[stack]\nname = \"t\"\nregion = \"us-east-1\"\n\n{body}"))])
}

fn report(l: &Loaded) -> Report {
    run(&l.stack, &Registry::aws(), None, TODAY).unwrap_or_else(|d| panic!("{:?}", d.0))
}

fn result<'a>(r: &'a Report, id: &str) -> &'a RuleResult {
    r.results.iter().find(|x| x.rule.id == id).expect("rule")
}

/// `file-name:line` and the text of the line a span starts on.
fn line_of(l: &Loaded, span: &Span) -> (String, String) {
    let (line, _) = l.sources.line_col(span.file, span.range.start);
    let file = l.sources.get(span.file);
    let name = file.path.file_name().unwrap_or_default().to_string_lossy();
    (format!("{name}:{line}"), file.text.lines().nth(line - 1).unwrap_or_default().to_owned())
}

fn fixture(id: &str, kind: &str) -> PathBuf {
    repo().join("tests/fixtures/check").join(format!("{id}-{kind}.toml"))
}

#[test]
fn every_rule_fails_its_failing_fixture_at_the_attribute_and_passes_its_passing_one() {
    for rule in RULES {
        let path = fixture(rule.id, "fail");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let at = text.lines().find_map(|l| l.strip_prefix("# fails at: ")).expect("a `# fails at:` comment");
        let l = load_file(&path);
        let r = report(&l);
        let res = result(&r, rule.id);
        assert_eq!(res.status, Status::Failed, "{}: {:?}", rule.id, res.findings);
        let span = res.findings[0].span.as_ref().expect("a location");
        let (line, source) = line_of(&l, span);
        assert!(source.contains(at), "{}: found at {line} `{source}`, expected the line with `{at}`", rule.id);

        let l = load_file(&fixture(rule.id, "pass"));
        let res = result(&report(&l), rule.id).findings.clone();
        assert_eq!(result(&report(&l), rule.id).status, Status::Passed, "{}: {res:?}", rule.id);
    }
}

#[test]
fn ids_are_unique_and_well_formed() {
    let mut seen = std::collections::BTreeSet::new();
    for r in RULES {
        assert!(seen.insert(r.id), "{} twice", r.id);
        let parts: Vec<&str> = r.id.split('-').collect();
        assert!(
            parts.len() == 3
                && parts[0] == "PG"
                && (2..=3).contains(&parts[1].len())
                && parts[1].chars().all(|c| c.is_ascii_uppercase())
                && parts[2].len() == 3
                && parts[2].chars().all(|c| c.is_ascii_digit()),
            "{} is not PG-AREA-NNN",
            r.id
        );
        assert!(!r.seed.is_empty() && !r.title.is_empty() && !r.fix.is_empty(), "{}", r.id);
    }
}

#[test]
fn values_known_only_at_apply_are_not_judged() {
    let (_d, l) = stack(
        r#"
[vpc.main]
cidr_block = "10.0.0.0/16"

[db_cluster.main]
kms_key_id = "arn:aws:kms:us-east-1:${vpc.main.owner_id}:key/1234"

[db_cluster_instance.a]
cluster_identifier = "${db_cluster.main.id}"
instance_class     = "db.r6g.large"
availability_zone  = "${vpc.main.id}"
"#,
    );
    let r = report(&l);
    assert_eq!(result(&r, "PG-ENC-002").status, Status::NotApplicable);
    // One instance is too few whatever the zones; three with an unknown zone would not be judged.
    assert_eq!(result(&r, "PG-HA-001").status, Status::Failed);
    let (_d, l) = stack(
        r#"
[vpc.main]
cidr_block = "10.0.0.0/16"

[db_cluster.main]

[db_cluster_instance.a]
for_each           = ["a", "b", "c"]
cluster_identifier = "${db_cluster.main.id}"
instance_class     = "db.r6g.large"
availability_zone  = "${vpc.main.id}"
"#,
    );
    assert_eq!(result(&report(&l), "PG-HA-001").status, Status::NotApplicable);
}

#[test]
fn literal_names_link_like_references() {
    let (_d, l) = stack(
        r#"
[db_cluster_parameter_group.tls]
name       = "fx-tls"
family     = "aurora-postgresql16"
parameters = { "rds.force_ssl" = 0 }

[db_cluster.main]
cluster_identifier              = "fx"
db_cluster_parameter_group_name = "fx-tls"

[db_cluster_instance.a]
for_each           = { a = "us-east-1a", b = "us-east-1b", c = "us-east-1c" }
cluster_identifier = "fx"
instance_class     = "db.r6g.large"
availability_zone  = "${each.value}"
"#,
    );
    let r = report(&l);
    let tls = result(&r, "PG-TLS-001");
    assert_eq!(tls.status, Status::Failed);
    assert_eq!(tls.findings[0].attribute.as_deref(), Some("parameters.rds.force_ssl"));
    assert_eq!(result(&r, "PG-HA-001").status, Status::Passed);

    // A group named but not in the stack could set anything: not judged.
    let (_d, l) = stack("[db_cluster.main]\ndb_cluster_parameter_group_name = \"elsewhere\"\n");
    assert_eq!(result(&report(&l), "PG-TLS-001").status, Status::NotApplicable);
    // No group at all: the default group, which does not force TLS.
    let (_d, l) = stack("[db_cluster.main]\n");
    let r = report(&l);
    assert_eq!(result(&r, "PG-TLS-001").status, Status::Failed);
    assert_eq!(result(&r, "PG-TLS-001").findings[0].attribute, None);
}

/// A value a module took as an input points at the line that set the input
/// (here one level up, in `outer`), with the module's line as `used_at`; a
/// bare `${var.NAME}` passed on through a module keeps its caller's line.
#[test]
fn a_finding_inside_a_module_points_at_where_the_input_was_set_then_the_module_line() {
    let module = r#"
[input.retention]
type = "number"

[db_cluster.main]
backup_retention_period = "${var.retention}"
"#;
    let stack = r#"[stack]
name   = "t"
region = "us-east-1"

[module.outer]
source = "./outer"
"#;
    let outer = r#"
[module.db]
source    = "../db"
retention = 3
"#;
    let (_d, l) = load_files(&[("stack.toml", stack), ("outer/module.toml", outer), ("db/module.toml", module)]);
    let r = report(&l);
    let f = &result(&r, "PG-BAK-001").findings[0];
    assert_eq!(f.address.as_deref(), Some("module.outer.module.db.db_cluster.main"));
    let (at, text) = line_of(&l, f.span.as_ref().expect("span"));
    assert_eq!((at.as_str(), text.as_str()), ("module.toml:4", "retention = 3"));
    assert!(l.sources.get(f.span.as_ref().unwrap().file).path.ends_with("outer/module.toml"));
    let used = f.used_at.as_ref().expect("used_at");
    let (at, text) = line_of(&l, used);
    assert_eq!((at.as_str(), text.as_str()), ("module.toml:6", "backup_retention_period = \"${var.retention}\""));
    assert!(l.sources.get(used.file).path.ends_with("db/module.toml"));
    let calls: Vec<(String, String)> = f.module_calls.iter().map(|s| line_of(&l, s)).collect();
    assert_eq!(
        calls,
        [
            ("stack.toml:5".to_owned(), "[module.outer]".to_owned()),
            ("module.toml:2".to_owned(), "[module.db]".to_owned())
        ]
    );
}

#[test]
fn an_input_passed_on_through_modules_points_at_the_stack_line_that_set_it() {
    let module =
        "[input.retention]\ntype = \"number\"\n\n[db_cluster.main]\nbackup_retention_period = \"${var.retention}\"\n";
    let outer = "[input.days]\ntype = \"number\"\n\n[module.db]\nsource    = \"../db\"\nretention = \"${var.days}\"\n";
    let stack = "[stack]\nname = \"t\"\nregion = \"us-east-1\"\n\n[module.outer]\nsource = \"./outer\"\ndays   = 3\n";
    let (_d, l) = load_files(&[("stack.toml", stack), ("outer/module.toml", outer), ("db/module.toml", module)]);
    let r = report(&l);
    let f = &result(&r, "PG-BAK-001").findings[0];
    let (at, text) = line_of(&l, f.span.as_ref().expect("span"));
    assert_eq!((at.as_str(), text.as_str()), ("stack.toml:7", "days   = 3"));
    let (at, _) = line_of(&l, f.used_at.as_ref().expect("used_at"));
    assert_eq!(at, "module.toml:5");
}

#[test]
fn the_profile_comes_from_the_flag_the_check_table_or_the_profile_tag() {
    let body = "[db_cluster.main]\nbackup_retention_period = 7\ndeletion_protection = false\n";
    let (_d, l) = stack(body);
    let r = report(&l);
    assert_eq!((r.profile, r.profile_source), (Profile::Standard, ProfileSource::Default));
    assert_eq!(result(&r, "PG-BAK-001").status, Status::Failed);
    assert_eq!(result(&r, "PG-DEL-001").status, Status::Failed);

    let (_d, l) = stack(&format!("[check]\nprofile = \"lite\"\n\n{body}"));
    let r = report(&l);
    assert_eq!((r.profile, r.profile_source), (Profile::Lite, ProfileSource::Check));
    assert_eq!(result(&r, "PG-BAK-001").status, Status::Passed);
    // Standard-only rules are not part of lite.
    assert_eq!(result(&r, "PG-DEL-001").status, Status::NotApplicable);
    let r = run(&l.stack, &Registry::aws(), Some(Profile::Standard), TODAY).expect("run");
    assert_eq!((r.profile, r.profile_source), (Profile::Standard, ProfileSource::Flag));
    assert_eq!(result(&r, "PG-BAK-001").status, Status::Failed);

    let tagged = load_files(&[(
        "stack.toml",
        &format!("[stack]\nname = \"t\"\nregion = \"us-east-1\"\ntags = {{ Profile = \"Lite\" }}\n\n{body}"),
    )]);
    let r = report(&tagged.1);
    assert_eq!((r.profile, r.profile_source), (Profile::Lite, ProfileSource::Tag));

    // Lite still wants a week of backups.
    let (_d, l) = stack("[check]\nprofile = \"lite\"\n\n[db_cluster.main]\nbackup_retention_period = 6\n");
    assert_eq!(result(&report(&l), "PG-BAK-001").status, Status::Failed);
}

#[test]
fn waivers_cover_findings_until_their_day_and_are_listed() {
    let body = |until: &str| {
        format!(
            "[check.waive]\n\"PG-DEL-001\" = {{ reason = \"staging copy\", until = \"{until}\" }}\n\"PG-ENC-004\" = {{ reason = \"legacy key\", until = \"{until}\" }}\n\n[db_cluster.main]\ndeletion_protection = false\n"
        )
    };
    let (_d, l) = stack(&body(TODAY));
    let r = report(&l);
    assert_eq!(result(&r, "PG-DEL-001").status, Status::Waived);
    assert!(!r.failed_errors().contains(&"PG-DEL-001"));
    let states: Vec<(&str, WaiverState)> = r.waivers.iter().map(|(w, s)| (w.rule.as_str(), *s)).collect();
    assert_eq!(states, [("PG-ENC-004", WaiverState::Unused), ("PG-DEL-001", WaiverState::Active)]);
    assert_eq!(r.summary().waived, 1);

    let (_d, l) = stack(&body("2026-06-14"));
    let r = report(&l);
    let del = result(&r, "PG-DEL-001");
    assert_eq!(del.status, Status::Failed);
    assert!(r.failed_errors().contains(&"PG-DEL-001"));
    let expired = del.findings.last().expect("the waiver's finding");
    assert!(expired.message.contains("expired on 2026-06-14"), "{}", expired.message);
    let (_, line) = line_of(&l, expired.span.as_ref().unwrap());
    assert_eq!(line, r#""PG-DEL-001" = { reason = "staging copy", until = "2026-06-14" }"#);
    // An expired waiver counts even when its rule finds nothing.
    assert_eq!(result(&r, "PG-ENC-004").status, Status::Failed);
    let states: Vec<WaiverState> = r.waivers.iter().map(|(_, s)| *s).collect();
    assert_eq!(states, [WaiverState::Expired, WaiverState::Expired]);
}

#[test]
fn waivers_of_unknown_rules_are_errors() {
    let (_d, l) = stack("[check.waive]\n\"PG-DEL-01\" = { reason = \"typo\", until = \"2030-01-01\" }\n");
    let diags = run(&l.stack, &Registry::aws(), None, TODAY).err().expect("an error");
    assert_eq!(diags.0[0].summary, "`PG-DEL-01` in [check.waive] is not a check rule");
    assert_eq!(diags.0[0].hints, ["did you mean `PG-DEL-001`?"]);
}

#[test]
fn user_secrets_without_any_rotation_are_found_at_the_secret() {
    let (_d, l) = stack("[secret.app]\nname = \"x/app\"\n");
    let r = report(&l);
    let f = &result(&r, "PG-SEC-003").findings[0];
    assert_eq!(line_of(&l, f.span.as_ref().unwrap()).1, "[secret.app]");
    assert!(f.message.contains("never rotated"), "{}", f.message);
}

#[test]
fn rds_primaries_need_multi_az_and_a_replica() {
    let (_d, l) = stack(
        "[db_instance.main]\ninstance_class = \"db.r6g.large\"\nmulti_az = true\n\n[db_instance.replica]\ninstance_class = \"db.r6g.large\"\nreplicate_source_db = \"${db_instance.main.id}\"\n",
    );
    let r = report(&l);
    assert_eq!(result(&r, "PG-HA-001").status, Status::Passed);
    // Replicas are not storage owners: the rules on the primary judge them once.
    assert_eq!(result(&r, "PG-BAK-001").findings, []);
    let (_d, l) = stack("[db_instance.main]\ninstance_class = \"db.r6g.large\"\nmulti_az = false\n");
    let r = report(&l);
    assert_eq!(result(&r, "PG-HA-001").findings[0].attribute.as_deref(), Some("multi_az"));
}

#[test]
fn the_shipped_stacks_pass_their_profiles() {
    let env = vec![("rotation_lambda_arn".to_owned(), "arn:aws:lambda:us-east-1:123456789012:function:rot".to_owned())];
    for (file, profile) in [("stacks/prod.toml", Profile::Standard), ("stacks/dev.toml", Profile::Lite)] {
        let opts = LoadOptions { env_vars: env.clone(), ..LoadOptions::default() };
        let l = load(&repo().join(file), &opts, &Registry::aws()).unwrap_or_else(|_| panic!("{file}"));
        let r = report(&l);
        assert_eq!(r.profile, profile, "{file}");
        assert!(l.stack.check.waivers.is_empty(), "{file}");
        let failed: Vec<&str> = r.results.iter().filter(|x| x.status == Status::Failed).map(|x| x.rule.id).collect();
        assert!(failed.is_empty(), "{file}: neither errors nor warnings: {failed:?}");
        assert!(
            r.results.iter().any(|x| x.rule.id == "PG-MON-002" && x.status == Status::Passed)
                == (profile == Profile::Standard),
            "{file}"
        );
    }
}

/// The rules table of docs/check.md.
fn rules_table() -> String {
    let mut out = String::from("| id | severity | profiles | seed | requires | fix |\n|---|---|---|---|---|---|\n");
    for r in RULES {
        let severity = match r.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let profiles = if r.standard_only { "standard" } else { "standard, lite" };
        let cell = |s: &str| s.replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | {severity} | {profiles} | {} | {} | {} |\n",
            r.id,
            cell(r.seed),
            cell(r.title),
            cell(r.fix)
        ));
    }
    out
}

#[test]
fn rules_doc() {
    const BEGIN: &str = "<!-- rules: generated by `PGSTACK_UPDATE_DOCS=1 cargo test --lib rules_doc` -->\n";
    const END: &str = "<!-- end of rules -->";
    let path = repo().join("docs/check.md");
    let text = std::fs::read_to_string(&path).expect("docs/check.md");
    let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        panic!("docs/check.md lacks the markers")
    };
    let wanted = format!("{}{BEGIN}{}{}", &text[..start], rules_table(), &text[end..]);
    if std::env::var_os("PGSTACK_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &wanted).expect("write docs/check.md");
    } else {
        assert!(text == wanted, "docs/check.md is out of date: run PGSTACK_UPDATE_DOCS=1 cargo test --lib rules_doc");
    }
}

#[test]
fn the_database_port_open_to_the_world_in_pieces_fails_like_the_whole() {
    let sg = |blocks: &str| {
        format!(
            "[vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\n[security_group.db]\nname = \"db\"\ndescription = \"db\"\n\
             vpc_id = \"${{vpc.main.id}}\"\ningress = [\n  {{ from_port = 5432, to_port = 5432, protocol = \"tcp\", cidr_blocks = [\"10.0.0.0/8\"] }},\n\
               {{ from_port = 0, to_port = 65535, protocol = \"tcp\", {blocks} }},\n]\n"
        )
    };
    for (blocks, how) in [
        ("cidr_blocks = [\"0.0.0.0/1\", \"128.0.0.0/1\"]", "in pieces: 0.0.0.0/1 + 128.0.0.0/1"),
        ("ipv6_cidr_blocks = [\"::/1\", \"8000::/1\"]", "in pieces: ::/1 + 8000::/1"),
    ] {
        let (_dir, l) = stack(&sg(blocks));
        let r = report(&l);
        let res = result(&r, "PG-NET-002");
        assert_eq!(res.status, Status::Failed, "{blocks}");
        assert!(
            res.findings[0].message.ends_with(&format!("admits port 5432 from anywhere ({how})")),
            "{:?}",
            res.findings
        );
        let (_, line) = line_of(&l, res.findings[0].span.as_ref().expect("a location"));
        assert!(line.contains(blocks), "{line}");
    }
    let (_dir, l) = stack(&sg("cidr_blocks = [\"0.0.0.0/1\", \"128.0.0.0/2\"]"));
    assert_eq!(result(&report(&l), "PG-NET-002").status, Status::Passed);
}
