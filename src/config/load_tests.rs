//! Tests of the whole loader: stacks written to a temporary directory,
//! loaded against the fake resource type's schema plus a small non-taggable one.

use std::path::Path;

use super::*;
use crate::config::functions::BinOp;
use crate::config::model::Ref;
use crate::diag::Severity;
use crate::provider::fake::FAKE_SCHEMA;
use crate::schema::{Attr, AttrType, Ownership, Pricing, Schema, Schemas};

static RULE: [Attr; 2] = [Attr::required("port", AttrType::Int), Attr::optional("cidr", AttrType::Str)];
static PLAIN_SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::required("name", AttrType::Str),
        Attr::optional("count", AttrType::Int),
        Attr::optional("rules", AttrType::List(&AttrType::Object(&RULE))),
        Attr::optional("zones", AttrType::List(&AttrType::Str)),
        Attr::optional("password", AttrType::Str).write_only(),
    ],
    guarded: false,
    taggable: false,
    ownership: Ownership::Untagged,
    pricing: Pricing::Free,
};

/// The schemas the loader is tested against: the fake type's and a
/// non-taggable one (`plain`) with a required attribute, object fields and a
/// write-only attribute.
struct TestSchemas;

impl Schemas for TestSchemas {
    fn schema_of(&self, rtype: &str) -> Option<&'static Schema> {
        match rtype {
            "fake" => Some(&FAKE_SCHEMA),
            "plain" => Some(&PLAIN_SCHEMA),
            _ => None,
        }
    }

    fn type_names(&self) -> Vec<&'static str> {
        vec!["fake", "plain"]
    }
}

fn registry() -> TestSchemas {
    TestSchemas
}

const HEAD: &str = "[stack]\nname = \"demo\"\nregion = \"us-east-1\"\n";

/// Writes `files` under a new temporary directory; the first is the stack file.
fn setup(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn run(files: &[(&str, &str)], opts: &LoadOptions) -> (tempfile::TempDir, Result<Loaded, (SourceMap, Diagnostics)>) {
    let dir = setup(files);
    let opts = LoadOptions { var_files: opts.var_files.iter().map(|f| dir.path().join(f)).collect(), ..opts.clone() };
    let r = load(&dir.path().join(files[0].0), &opts, &registry());
    (dir, r)
}

/// `summary @ file:line:col` of every diagnostic.
fn render(dir: &Path, sources: &SourceMap, diags: &Diagnostics) -> Vec<String> {
    diags
        .0
        .iter()
        .map(|d| match &d.span {
            None => d.summary.clone(),
            Some(s) => {
                let f = sources.get(s.file);
                let rel = f.path.strip_prefix(dir).unwrap_or(&f.path).display().to_string();
                let (l, c) = sources.line_col(s.file, s.range.start);
                format!("{} @ {rel}:{l}:{c}", d.summary)
            }
        })
        .collect()
}

fn ok_with(files: &[(&str, &str)], opts: &LoadOptions) -> Loaded {
    match run(files, opts) {
        (_, Ok(l)) => l,
        (dir, Err((sources, diags))) => panic!("load failed: {:#?}", render(dir.path(), &sources, &diags)),
    }
}

fn ok(files: &[(&str, &str)]) -> Stack {
    ok_with(files, &LoadOptions::default()).stack
}

fn errs_with(files: &[(&str, &str)], opts: &LoadOptions) -> Vec<String> {
    match run(files, opts) {
        (_, Ok(_)) => panic!("load succeeded"),
        (dir, Err((sources, diags))) => render(dir.path(), &sources, &diags),
    }
}

fn errs(files: &[(&str, &str)]) -> Vec<String> {
    errs_with(files, &LoadOptions::default())
}

fn stack_with(body: &str) -> String {
    format!("{HEAD}{body}")
}

fn addr(s: &str) -> ResourceAddr {
    s.parse().unwrap()
}

fn attr<'a>(st: &'a Stack, a: &str, name: &str) -> &'a Expr {
    &st.resources[&addr(a)].attrs[name]
}

fn lit<'a>(st: &'a Stack, a: &str, name: &str) -> &'a Value {
    attr(st, a, name).as_lit().unwrap_or_else(|| panic!("{a}.{name} is not a literal: {:?}", attr(st, a, name)))
}

fn the_ref(e: &Expr) -> &Ref {
    match e {
        Expr::Ref(r) => r,
        other => panic!("not a reference: {other:?}"),
    }
}

#[test]
fn references_keep_their_type_and_spans() {
    let text = stack_with(
        "[vars]\nsizes = [1, 2]\nn = 3\n\n[fake.a]\nname = \"a-${var.n}\"\nsize = \"${var.n}\"\nrefs = \"${var.sizes}\"\n\n[fake.b]\nref = \"${fake.a.id}\"\nname = \"b-${fake.a.name}\"\n",
    );
    let st = ok(&[("stack.toml", &text)]);
    assert_eq!(lit(&st, "fake.a", "name"), &Value::str("a-3"));
    assert_eq!(lit(&st, "fake.a", "size"), &Value::Int(3));
    // A list where strings are expected: numbers are converted to strings.
    assert_eq!(lit(&st, "fake.a", "refs"), &Value::List(vec![Value::str("1"), Value::str("2")]));
    let r = the_ref(attr(&st, "fake.b", "ref"));
    assert_eq!((r.target.to_string(), r.splat, r.path.clone()), ("fake.a".to_owned(), false, vec!["id".to_owned()]));
    assert_eq!(&text[r.span.range.clone()], "fake.a.id");
    let Expr::Concat(parts) = attr(&st, "fake.b", "name") else { panic!("not a concat") };
    assert_eq!(parts[0], Expr::Lit(Value::str("b-")));
    assert_eq!(&text[the_ref(&parts[1]).span.range.clone()], "fake.a.name");
    let rc = &st.resources[&addr("fake.b")];
    assert_eq!(&text[rc.span.range.clone()], "[fake.b]");
    assert_eq!(&text[rc.attr_spans["ref"].range.clone()], "\"${fake.a.id}\"");
    assert_eq!(rc.region, "us-east-1");
    assert_eq!(st.name, "demo");
}

#[test]
fn arithmetic_folds_when_known_and_defers_otherwise() {
    let text = stack_with(
        "[vars]\npods = 10\nconns = 20\nratio = 0.25\n\n[fake.a]\nsize = \"${var.pods * var.conns + 15}\"\nname = \"${var.pods * var.ratio}\"\n\n[fake.b]\nsize = \"${max(fake.a.size, 2) * 2}\"\nname = \"${-var.pods % 3}\"\n",
    );
    let st = ok(&[("stack.toml", &text)]);
    assert_eq!(lit(&st, "fake.a", "size"), &Value::Int(215));
    assert_eq!(lit(&st, "fake.a", "name"), &Value::str("2.5"));
    assert_eq!(lit(&st, "fake.b", "name"), &Value::str("-1"));
    let e = attr(&st, "fake.b", "size");
    assert!(matches!(e, Expr::Binary(BinOp::Mul, l, _) if matches!(**l, Expr::Call(ref c) if c.name == "max")));
    let resolve = |_: &Ref| Ok(Value::Int(7));
    assert_eq!(e.eval(&resolve), Ok(Value::Int(14)));
}

#[test]
fn arithmetic_errors_point_at_the_expression() {
    let text = stack_with(
        "[vars]\nz = 0\n\n[fake.a]\nsize = \"${10 / var.z}\"\nname = '${\"x\" * fake.b.size}'\n\n[fake.b]\nname = \"${nope(1)}\"\nsize = \"${mx(1, 2)}\"\nref = \"${lower()}\"\n",
    );
    assert_eq!(
        errs(&[("stack.toml", &text)]),
        [
            "division by zero @ stack.toml:8:11",
            "arithmetic needs numbers, got string @ stack.toml:9:11",
            "unknown function `nope` @ stack.toml:12:11",
            "unknown function `mx` @ stack.toml:13:11",
            "`lower` takes lower(string); got 0 arguments @ stack.toml:14:10",
        ]
    );
}

#[test]
fn for_each_over_a_map_and_a_list() {
    let text = stack_with(
        "[vars]\nzones = [\"a\", \"b\"]\n\n[fake.sub]\nfor_each = { a = { n = 1 }, b = { n = 2 } }\nname = \"sub-${each.key}-${each.value[\\\"n\\\"] * 10}\"\nsize = \"${each.value.n}\"\n\n[fake.z]\nfor_each = \"${var.zones}\"\nname = \"${each.value}\"\nregion = \"us-west-${length(each.key)}\"\nref = \"${fake.sub[each.key].id}\"\n\n[fake.all]\nrefs = \"${fake.sub[*].id}\"\nref = \"${fake.sub[\\\"b\\\"].name}\"\n",
    );
    let st = ok(&[("stack.toml", &text)]);
    let keys: Vec<String> = st.resources.keys().map(ToString::to_string).collect();
    assert_eq!(keys, ["fake.all", "fake.sub[\"a\"]", "fake.sub[\"b\"]", "fake.z[\"a\"]", "fake.z[\"b\"]"]);
    assert_eq!(lit(&st, "fake.sub[\"b\"]", "name"), &Value::str("sub-b-20"));
    assert_eq!(lit(&st, "fake.sub[\"b\"]", "size"), &Value::Int(2));
    assert_eq!(lit(&st, "fake.z[\"a\"]", "name"), &Value::str("a"));
    assert_eq!(st.resources[&addr("fake.z[\"b\"]")].region, "us-west-1");
    let r = the_ref(attr(&st, "fake.z[\"a\"]", "ref"));
    assert_eq!(r.target, addr("fake.sub[\"a\"]"));
    let splat = the_ref(attr(&st, "fake.all", "refs"));
    assert_eq!((splat.target.clone(), splat.splat), (addr("fake.sub"), true));
    // The string has escapes, so the reference points at the whole value.
    let r = the_ref(attr(&st, "fake.all", "ref"));
    assert_eq!(
        (r.target.clone(), &text[r.span.range.clone()]),
        (addr("fake.sub[\"b\"]"), "\"${fake.sub[\\\"b\\\"].name}\"")
    );
}

#[test]
fn for_each_errors() {
    let text = stack_with(
        "[fake.a]\nfor_each = [\"x\", \"y\"]\n\n[fake.b]\nref = \"${fake.a.id}\"\nname = '${fake.a[\"q\"].id}'\n\n[fake.c]\nfor_each = \"${fake.b.id}\"\n\n[fake.d]\nfor_each = [1]\n\n[fake.e]\nname = \"${each.key}\"\nfor_each = [\"k\", \"k\"]\n\n[fake.f]\nname = \"${each.value}\"\n\n[fake.g]\nfor_each = [\"a\"]\nenabled = \"${each.key}\"\n",
    );
    assert_eq!(
        errs(&[("stack.toml", &text)]),
        [
            "`fake.a` has `for_each`; say which instance @ stack.toml:8:10",
            "`fake.a` has no instance \"q\" @ stack.toml:9:17",
            "`for_each` must be known before apply; it cannot reference `fake.b` @ stack.toml:12:15",
            "`for_each` list items must be strings, got integer @ stack.toml:15:12",
            "duplicate `for_each` key \"k\" @ stack.toml:19:12",
            "`each` is only available in a resource with `for_each` @ stack.toml:22:11",
            "`enabled` cannot use `each` @ stack.toml:26:14",
        ]
    );
}

#[test]
fn enabled_drops_resources_and_references_to_them_fail() {
    let text = stack_with(
        "[vars]\non = false\n\n[fake.off]\nenabled = \"${var.on}\"\n\n[fake.on]\nenabled = true\nrefs = \"${fake.off[*].id}\"\n\n[fake.bad]\nref = \"${fake.off.id}\"\n",
    );
    let e = errs(&[("stack.toml", &text)]);
    assert_eq!(e, ["`fake.off` is disabled (`enabled = false`) @ stack.toml:15:10"]);
    let text = stack_with(
        "[vars]\non = false\n\n[fake.off]\nenabled = \"${var.on}\"\n\n[fake.on]\nrefs = \"${fake.off[*].id}\"\n",
    );
    let st = ok(&[("stack.toml", &text)]);
    assert_eq!(st.resources.keys().map(ToString::to_string).collect::<Vec<_>>(), ["fake.on"]);
    assert_eq!(lit(&st, "fake.on", "refs"), &Value::List(vec![]));
    let opts = LoadOptions { vars: vec![("on".into(), "true".into())], ..Default::default() };
    let st = ok_with(&[("stack.toml", &text)], &opts).stack;
    assert_eq!(st.resources.len(), 2);
}

#[test]
fn variable_precedence_default_env_file_cli() {
    let text = stack_with(
        "[vars]\na = \"default\"\nb = \"default\"\nc = \"default\"\nd = \"default\"\n\n[env.prod]\nvars = { b = \"env\", c = \"env\", d = \"env\" }\n\n[env.dev]\nvars = { a = \"dev\" }\n\n[fake.x]\nrefs = [\"${var.a}\", \"${var.b}\", \"${var.c}\", \"${var.d}\"]\n",
    );
    let files = [("stack.toml", text.as_str()), ("prod.vars.toml", "c = \"file\"\nd = \"file\"\n")];
    let opts = LoadOptions {
        vars: vec![("d".into(), "cli".into())],
        var_files: vec!["prod.vars.toml".into()],
        env: Some("prod".into()),
        ..Default::default()
    };
    let st = ok_with(&files, &opts).stack;
    assert_eq!(lit(&st, "fake.x", "refs").string_list(), ["default", "env", "file", "cli"]);
    // Without the env, file and --var, defaults stay.
    let st = ok(&files);
    assert_eq!(lit(&st, "fake.x", "refs").string_list(), ["default"; 4]);
}

#[test]
fn cli_vars_are_parsed_to_the_declared_type() {
    let text = stack_with(
        "[vars]\nn = 1\nratio = 0.5\non = true\nzones = [\"a\"]\nname = \"x\"\n\n[fake.x]\nsize = \"${var.n}\"\nrefs = \"${var.zones}\"\nname = \"${var.name}-${var.ratio}-${var.on}\"\n",
    );
    let opts = LoadOptions {
        vars: vec![
            ("n".into(), "42".into()),
            ("ratio".into(), "2".into()),
            ("on".into(), "false".into()),
            ("zones".into(), "[\"b\", \"c\"]".into()),
            ("name".into(), "42".into()),
        ],
        ..Default::default()
    };
    let st = ok_with(&[("stack.toml", &text)], &opts).stack;
    assert_eq!(lit(&st, "fake.x", "size"), &Value::Int(42));
    assert_eq!(lit(&st, "fake.x", "refs").string_list(), ["b", "c"]);
    assert_eq!(lit(&st, "fake.x", "name"), &Value::str("42-2-false"));

    let bad = LoadOptions {
        vars: vec![("n".into(), "many".into()), ("zones".into(), "[1,".into()), ("nn".into(), "1".into())],
        env: Some("prd".into()),
        ..Default::default()
    };
    let e = errs_with(&[("stack.toml", &text)], &bad);
    assert_eq!(
        e,
        [
            "unknown environment `prd`",
            "invalid value for `--var n`: expected an integer, got `many`",
            "invalid value for `--var zones`: `[1,` is not a TOML value: unclosed array, expected `]`",
            "`--var nn=...`: undeclared variable `nn`",
        ]
    );
}

#[test]
fn variable_file_and_env_errors() {
    let text =
        stack_with("[vars]\nn = 1\n\n[env.prod]\nvars = { m = 2, n = \"x\" }\n\n[fake.a]\nsize = \"${var.nn}\"\n");
    let files = [("stack.toml", text.as_str()), ("v.toml", "n = \"${var.n}\"\nzz = 1\n")];
    let opts = LoadOptions { var_files: vec!["v.toml".into()], ..Default::default() };
    assert_eq!(
        errs_with(&files, &opts),
        [
            "undeclared variable `m` @ stack.toml:8:10",
            "wrong type for variable `n`: expected integer, got string @ stack.toml:8:21",
            "undeclared variable `nn` @ stack.toml:11:11",
            "variable values cannot use `${...}` @ v.toml:1:5",
            "undeclared variable `zz` @ v.toml:2:1",
        ]
    );
}

#[test]
fn stack_tags_merge_under_resource_tags_with_ownership_tags() {
    let text = "[stack]\nname = \"shop-${var.env}\"\nregion = \"us-east-1\"\ntags = { Env = \"${var.env}\", Team = \"db\", Replicas = 3 }\n\n[vars]\nenv = \"prod\"\n\n[fake.a]\nfor_each = [\"k\"]\ntags = { Team = \"data\", \"pgstack:stack\" = \"mine\" }\n\n[plain.p]\nname = \"p\"\n";
    let loaded = ok_with(&[("stack.toml", text)], &LoadOptions::default());
    let st = &loaded.stack;
    assert_eq!(st.name, "shop-prod");
    let Expr::Map(tags) = attr(st, "fake.a[\"k\"]", "tags") else { panic!("tags are not a map") };
    let tags: BTreeMap<&str, &Value> = tags.iter().map(|(k, v)| (k.as_str(), v.as_lit().unwrap())).collect();
    assert_eq!(
        tags,
        BTreeMap::from([
            ("Env", &Value::str("prod")),
            ("Replicas", &Value::str("3")),
            ("Team", &Value::str("data")),
            ("pgstack:address", &Value::str("fake.a[\"k\"]")),
            ("pgstack:stack", &Value::str("shop-prod")),
        ])
    );
    // Non-taggable types get no tags.
    assert!(!st.resources[&addr("plain.p")].attrs.contains_key("tags"));
    let w: Vec<(Severity, &str)> = loaded.warnings.0.iter().map(|d| (d.severity, d.summary.as_str())).collect();
    assert_eq!(w, [(Severity::Warning, "tag `pgstack:stack` is set by pgstack; this value is ignored")]);
}

#[test]
fn resources_without_tags_still_get_ownership_tags() {
    let st = ok(&[("stack.toml", &stack_with("[fake.a]\nname = \"a\"\n"))]);
    let Expr::Map(tags) = attr(&st, "fake.a", "tags") else { panic!("tags are not a map") };
    assert_eq!(tags.keys().collect::<Vec<_>>(), ["pgstack:address", "pgstack:stack"]);
}

#[test]
fn regions_depends_on_ignore_changes_state_and_outputs() {
    let text = "[stack]\nname = \"demo\"\nregion = \"us-east-1\"\n\n[regions]\ndr = \"us-west-2\"\n\n[state]\npath = \"state/x.json\"\n\n[fake.a]\nregion = \"dr\"\nfor_each = [\"k\"]\n\n[fake.b]\nregion = \"eu-west-1\"\ndepends_on = [\"fake.a\", \"${fake.a[\\\"k\\\"]}\", \"fake.c\"]\nignore_changes = [\"size\", \"tags\"]\n\n[fake.c]\nname = \"c\"\n\n[output.ids]\nvalue = \"${fake.a[*].id}\"\ndescription = \"ids\"\nsensitive = true\n";
    let dir = setup(&[("stack.toml", text)]);
    let loaded = load(&dir.path().join("stack.toml"), &LoadOptions::default(), &registry()).unwrap();
    let st = loaded.stack;
    assert_eq!(st.regions["dr"], "us-west-2");
    assert_eq!(st.resources[&addr("fake.a[\"k\"]")].region, "us-west-2");
    let b = &st.resources[&addr("fake.b")];
    assert_eq!(b.region, "eu-west-1");
    assert_eq!(b.depends_on, [addr("fake.a"), addr("fake.a[\"k\"]"), addr("fake.c")]);
    assert_eq!(b.ignore_changes, ["size", "tags"]);
    assert!(!b.attrs.contains_key("depends_on") && !b.attrs.contains_key("region"));
    assert_eq!(st.state_path, Some(dir.path().join("state/x.json")));
    assert_eq!(st.root_dir, dir.path());
    let o = &st.outputs["ids"];
    assert!(o.sensitive);
    assert_eq!(o.description.as_deref(), Some("ids"));
    assert!(the_ref(&o.value).splat);
}

#[test]
fn create_before_destroy_is_a_bool_meta_argument() {
    let text =
        stack_with("[fake.a]\ncreate_before_destroy = true\n\n[fake.b]\n\n[fake.c]\ncreate_before_destroy = 1\n");
    assert_eq!(
        errs(&[("stack.toml", &text)]),
        ["`create_before_destroy` must be a bool, got integer @ stack.toml:10:25"]
    );
    let text = text.replace("= 1", "= false");
    let dir = setup(&[("stack.toml", &text)]);
    let st = load(&dir.path().join("stack.toml"), &LoadOptions::default(), &registry()).unwrap().stack;
    let cbd = |a: &str| st.resources[&addr(a)].create_before_destroy;
    assert_eq!((cbd("fake.a"), cbd("fake.b"), cbd("fake.c")), (Some(true), None, Some(false)));
    assert!(!st.resources[&addr("fake.a")].attrs.contains_key("create_before_destroy"));
}

#[test]
fn meta_argument_errors() {
    let text = stack_with(
        "[regions]\ndr = \"mars\"\n\n[fake.a]\nregion = \"dx\"\ndepends_on = [\"fake.nope\", \"var.x\", \"fake.b.id\", 3]\nignore_changes = [\"sise\"]\nenabled = \"yes\"\n\n[fake.b]\ndepends_on = \"fake.a\"\n\n[output.o]\ndescription = \"no value\"\nsensitiv = true\n",
    );
    assert_eq!(
        errs(&[("stack.toml", &text)]),
        [
            "`mars` is not an AWS region id @ stack.toml:5:6",
            "`enabled` must be a bool, got string @ stack.toml:11:11",
            "`depends_on` must be a list of resource addresses @ stack.toml:14:14",
            "output `o` is missing `value` @ stack.toml:16:1",
            "unknown setting `sensitiv` in [output.o] @ stack.toml:18:1",
        ]
    );
    // With `enabled` fixed, the block's own settings are checked.
    let text = text.replace("enabled = \"yes\"", "enabled = true");
    let e = errs(&[("stack.toml", &text)]);
    assert_eq!(
        e[1..5],
        [
            "unknown region `dx` @ stack.toml:8:10",
            "reference to undeclared resource `fake.nope` @ stack.toml:9:16",
            "`depends_on` takes resource addresses; `var.x` is not one @ stack.toml:9:29",
            "`depends_on` takes resource addresses; `fake.b.id` is not one @ stack.toml:9:38",
        ]
    );
    assert_eq!(
        e[5..7],
        [
            "`depends_on` items must be strings, got integer @ stack.toml:9:50",
            "`ignore_changes` names unknown attribute `sise` of `fake.a` @ stack.toml:10:19",
        ]
    );
}

#[test]
fn schema_diagnostics_with_positions_and_hints() {
    let text = stack_with(
        "[fake.a]\nnme = \"x\"\nid = \"i\"\nsize = \"big\"\n\n[fkae.main]\nx = 1\n\n[plain.p]\nrules = [{ port = 1, cidrr = \"x\" }, { cidr = \"y\" }]\ncount = \"${fake.a.sise}\"\nzones = \"${fake.b.id}\"\n",
    );
    let dir = setup(&[("stack.toml", &text)]);
    let Err((sources, diags)) = load(&dir.path().join("stack.toml"), &LoadOptions::default(), &registry()) else {
        panic!("load succeeded")
    };
    assert_eq!(
        render(dir.path(), &sources, &diags),
        [
            "unknown attribute `nme` on `fake.a` @ stack.toml:5:1",
            "`id` on `fake.a` is computed by AWS and cannot be set @ stack.toml:6:1",
            "wrong type for `size` on `fake.a`: expected integer, got string @ stack.toml:7:8",
            "unknown resource type `fkae` @ stack.toml:9:2",
            "missing required attribute `name` on `plain.p` @ stack.toml:12:1",
            "unknown field `cidrr` in `rules[0]` on `plain.p` @ stack.toml:13:22",
            "missing required field `port` in `rules[1]` on `plain.p` @ stack.toml:13:37",
            "`fake.a` has no attribute `sise` @ stack.toml:14:12",
            "reference to undeclared resource `fake.b` @ stack.toml:15:12",
        ]
    );
    let hints: Vec<&[String]> = diags.0.iter().map(|d| d.hints.as_slice()).collect();
    assert_eq!(hints[0], ["did you mean `name`?"]);
    assert_eq!(hints[3], ["did you mean `fake`?"]);
    assert_eq!(hints[5], ["did you mean `cidr`?"]);
    assert_eq!(hints[7], ["did you mean `size`?"]);
    assert_eq!(hints[8], ["did you mean `fake.a`?"]);
}

#[test]
fn stack_table_problems() {
    assert_eq!(errs(&[("stack.toml", "[vars]\nx = 1\n")]), ["missing [stack] table @ stack.toml:1:1"]);
    assert_eq!(
        errs(&[("stack.toml", "[stack]\nnam = \"x\"\n")]),
        [
            "missing `name` in [stack] @ stack.toml:1:1",
            "missing `region` in [stack] @ stack.toml:1:1",
            "unknown setting `nam` in [stack] @ stack.toml:2:1",
        ]
    );
    assert_eq!(
        errs(&[("stack.toml", "[stack]\nname = \"a b\"\nregion = 5\nfoo = 1\n[input.x]\n")]),
        [
            "invalid stack name `a b` @ stack.toml:2:8",
            "the stack region must be a string, got integer @ stack.toml:3:10",
            "unknown setting `foo` in [stack] @ stack.toml:4:1",
            "[input.*] belongs in a module's module.toml @ stack.toml:5:2",
        ]
    );
}

#[test]
fn syntax_errors_suppress_follow_up_errors_in_that_file_only() {
    let text = stack_with("[module.m]\nsource = \"m\"\n\n[fake.a]\nsize = \"${var.nope}\"\n");
    let module = "[fake.x]\nname = \"x\nsize = \"${var.q}\"\n";
    let e = errs(&[("stack.toml", &text), ("modules/m/module.toml", module)]);
    assert_eq!(
        e,
        [
            "undeclared variable `nope` @ stack.toml:8:11",
            "invalid TOML: invalid basic string, expected `\"` @ modules/m/module.toml:2:10",
        ]
    );
}

#[test]
fn modules_with_inputs_outputs_and_nesting() {
    let stack = stack_with(
        "[vars]\ncidr = \"10.0.0.0/16\"\n\n[module.net]\nsource = \"network\"\ncidr = \"${var.cidr}\"\nazs = [\"a\", \"b\"]\n\n[fake.app]\nref = \"${module.net.vpc_id}\"\nrefs = \"${module.net.subnet_ids}\"\nname = \"${module.net.first_az}\"\ndepends_on = [\"module.net\"]\n\n[output.vpc]\nvalue = \"${module.net.vpc_id}\"\n",
    );
    let network = "[input.cidr]\ntype = \"string\"\n\n[input.azs]\ntype = \"list\"\n\n[input.prefix]\ndefault = \"net\"\n\n[fake.vpc]\nname = \"${var.prefix}-${var.cidr}\"\n\n[fake.subnet]\nfor_each = \"${var.azs}\"\nref = \"${fake.vpc.id}\"\n\n[module.sg]\nsource = \"../sg\"\nvpc = \"${fake.vpc.id}\"\n\n[output.vpc_id]\nvalue = \"${fake.vpc.id}\"\n\n[output.subnet_ids]\nvalue = \"${fake.subnet[*].id}\"\n\n[output.first_az]\nvalue = \"${var.azs[0]}\"\n\n[output.sg]\nvalue = \"${module.sg.id}\"\n";
    let sg = "[input.vpc]\n\n[fake.sg]\nref = \"${var.vpc}\"\n\n[output.id]\nvalue = \"${fake.sg.id}\"\n";
    let st = ok(&[("stack.toml", &stack), ("modules/network/module.toml", network), ("modules/sg/module.toml", sg)]);
    let keys: Vec<String> = st.resources.keys().map(ToString::to_string).collect();
    assert_eq!(
        keys,
        [
            "fake.app",
            "module.net.fake.subnet[\"a\"]",
            "module.net.fake.subnet[\"b\"]",
            "module.net.fake.vpc",
            "module.net.module.sg.fake.sg",
        ]
    );
    let vpc = addr("module.net.fake.vpc");
    assert_eq!(lit(&st, "module.net.fake.vpc", "name"), &Value::str("net-10.0.0.0/16"));
    assert_eq!(the_ref(attr(&st, "module.net.fake.subnet[\"a\"]", "ref")).target, vpc);
    assert_eq!(the_ref(attr(&st, "module.net.module.sg.fake.sg", "ref")).target, vpc);
    assert_eq!(the_ref(attr(&st, "fake.app", "ref")).target, vpc);
    let splat = the_ref(attr(&st, "fake.app", "refs"));
    assert_eq!((splat.target.clone(), splat.splat), (addr("module.net.fake.subnet"), true));
    assert_eq!(lit(&st, "fake.app", "name"), &Value::str("a"));
    assert_eq!(
        st.resources[&addr("fake.app")].depends_on,
        [addr("module.net.fake.subnet"), addr("module.net.fake.vpc"), addr("module.net.module.sg.fake.sg")]
    );
    assert_eq!(the_ref(&st.outputs["vpc"].value).target, vpc);
    let Expr::Map(tags) = attr(&st, "module.net.module.sg.fake.sg", "tags") else { panic!() };
    assert_eq!(tags["pgstack:address"], Expr::Lit(Value::str("module.net.module.sg.fake.sg")));
}

#[test]
fn module_errors() {
    let stack = stack_with(
        "[module.net]\nsource = \"network\"\ncidrr = \"x\"\ndepends_on = [\"fake.a\"]\n\n[module.gone]\nsource = \"nowhere\"\n\n[module.loop]\nsource = \"loop\"\n\n[fake.a]\nref = \"${module.net.vpc}\"\nname = \"${module.nett.vpc_id}\"\n",
    );
    let network = "[input.cidr]\ntype = \"string\"\n\n[input.n]\ntype = \"number\"\ndefault = \"x\"\n\n[stack]\n\n[fake.vpc]\nname = \"${var.cidr}\"\n\n[output.vpc_id]\nvalue = \"${fake.vpc.id}\"\n";
    let looped = "[module.again]\nsource = \"../loop\"\n";
    let e =
        errs(&[("stack.toml", &stack), ("modules/network/module.toml", network), ("modules/loop/module.toml", looped)]);
    assert_eq!(
        e,
        [
            "module `net` is missing input `cidr` @ stack.toml:4:1",
            "module `net` has no input `cidrr` @ stack.toml:6:1",
            "`depends_on` is not supported on modules @ stack.toml:7:1",
            "module source `nowhere` not found @ stack.toml:10:10",
            "module `net` has no output `vpc` @ stack.toml:16:10",
            "unknown module `nett` @ stack.toml:17:11",
            "default of input `n` must be a number, got string @ modules/network/module.toml:6:11",
            "[stack] belongs in a stack file, not in a module @ modules/network/module.toml:8:2",
            "module `again` includes itself @ modules/loop/module.toml:2:10",
        ]
    );
    let (dir, Err((sources, diags))) = run(
        &[("stack.toml", &stack), ("modules/network/module.toml", network), ("modules/loop/module.toml", looped)],
        &LoadOptions::default(),
    ) else {
        panic!("load succeeded")
    };
    let hints = |summary: &str| {
        diags.0.iter().find(|d| d.summary.starts_with(summary)).map(|d| d.hints.clone()).unwrap_or_default()
    };
    assert_eq!(hints("module `net` has no input `cidrr`"), ["did you mean `cidr`?"]);
    assert_eq!(hints("unknown module `nett`"), ["did you mean `net`?"]);
    assert_eq!(hints("module `net` has no output `vpc`"), ["its outputs: vpc_id"]);
    assert!(hints("module source `nowhere` not found")[0].starts_with("looked for modules/nowhere/module.toml in `"));
    assert_eq!(sources.files().len(), 3, "{:?}", render(dir.path(), &sources, &diags));
}

#[test]
fn module_input_types_and_cycles_between_modules() {
    let stack = stack_with(
        "[module.a]\nsource = \"./m\"\nx = \"${module.b.out}\"\n\n[module.b]\nsource = \"./m\"\nx = \"${module.a.out}\"\n\n[module.c]\nsource = \"./m\"\nx = 5\n",
    );
    let m = "[input.x]\ntype = \"string\"\n\n[output.out]\nvalue = \"${var.x}\"\n";
    let e = errs(&[("stack.toml", &stack), ("m/module.toml", m)]);
    assert_eq!(
        e,
        [
            "module `a` depends on its own outputs @ stack.toml:10:8",
            "input `x` of module `c` must be a string, got integer @ stack.toml:14:5",
        ]
    );
}

#[test]
fn modules_are_found_walking_up_from_the_stack_file() {
    let stack = stack_with("[module.m]\nsource = \"thing\"\n");
    let module = "[fake.x]\nname = \"x\"\n";
    let st = ok(&[("stacks/prod.toml", &stack), ("modules/thing/module.toml", module)]);
    assert!(st.resources.contains_key(&addr("module.m.fake.x")));
}

#[test]
fn a_module_used_twice_is_read_once_and_errors_are_not_repeated() {
    let stack = stack_with("[module.a]\nsource = \"m\"\n\n[module.b]\nsource = \"m\"\n");
    let m = "[fake.x]\nsise = 1\n";
    let dir = setup(&[("stack.toml", &stack), ("modules/m/module.toml", m)]);
    let Err((sources, diags)) = load(&dir.path().join("stack.toml"), &LoadOptions::default(), &registry()) else {
        panic!("load succeeded")
    };
    assert_eq!(sources.files().len(), 2);
    assert_eq!(
        render(dir.path(), &sources, &diags),
        [
            "unknown attribute `sise` on `module.a.fake.x` @ modules/m/module.toml:2:1",
            "unknown attribute `sise` on `module.b.fake.x` @ modules/m/module.toml:2:1",
        ]
    );
}

#[test]
fn digest_covers_sources_and_variable_values() {
    let text = stack_with("[vars]\nn = 1\n\n[module.m]\nsource = \"m\"\n\n[fake.a]\nsize = \"${var.n}\"\n");
    let files = [("stacks/s.toml", text.as_str()), ("modules/m/module.toml", "")];
    let a = ok(&files).digest;
    assert_eq!(a.len(), 64);
    // The same files in another directory (each run uses a new one) hash the same.
    assert_eq!(ok(&files).digest, a);
    let b = ok_with(&files, &LoadOptions { vars: vec![("n".into(), "2".into())], ..Default::default() }).stack.digest;
    assert_ne!(a, b);
    let c = ok(&[files[0], ("modules/m/module.toml", "# changed\n")]).digest;
    assert_ne!(a, c);
}

#[test]
fn stack_names_resolve_to_the_stacks_directory() {
    let dir = setup(&[("stacks/demo.toml", HEAD), ("demo2.toml", HEAD)]);
    let cwd = dir.path();
    assert_eq!(super::stack_path_in(cwd, "demo"), Path::new("stacks/demo.toml"));
    // Not a name: a path with a directory or a .toml suffix, or no such stack.
    assert_eq!(super::stack_path_in(cwd, "demo2"), Path::new("demo2"));
    assert_eq!(super::stack_path_in(cwd, "demo.toml"), Path::new("demo.toml"));
    assert_eq!(super::stack_path_in(cwd, "./demo"), Path::new("./demo"));
}

#[test]
fn unreadable_files_are_reported() {
    let e = errs_with(
        &[("stack.toml", HEAD)],
        &LoadOptions { var_files: vec!["missing.toml".into()], ..Default::default() },
    );
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("cannot read `") && e[0].contains("missing.toml"), "{e:?}");
}

#[test]
fn truncated_and_mangled_stacks_never_panic() {
    let text = stack_with(
        "[vars]\nn = 2\nazs = [\"a\", \"b\"]\n\n[module.m]\nsource = \"m\"\nx = \"${fake.a[\\\"a\\\"].id}\"\n\n[fake.a]\nfor_each = \"${var.azs}\"\nsize = \"${var.n * (3 + max(1, 2))}\"\ndepends_on = [\"module.m\"]\ntags = { a = \"${each.key}\" }\n\n[output.o]\nvalue = \"${module.m.y}\"\n",
    );
    let module = "[input.x]\n[fake.b]\nref = \"${var.x}\"\n[output.y]\nvalue = \"${fake.b.id}\"\n";
    let dir = setup(&[("stack.toml", &text), ("modules/m/module.toml", module)]);
    let path = dir.path().join("stack.toml");
    let reg = registry();
    for cut in (0..text.len()).filter(|i| text.is_char_boundary(*i)) {
        std::fs::write(&path, &text[..cut]).unwrap();
        let _ = load(&path, &LoadOptions::default(), &reg);
        let mut mangled = text.clone();
        mangled.insert(cut, ['"', '$', '{', '}', '[', '\n'][cut % 6]);
        std::fs::write(&path, &mangled).unwrap();
        let _ = load(&path, &LoadOptions::default(), &reg);
    }
    std::fs::write(&path, &text).unwrap();
    assert!(load(&path, &LoadOptions::default(), &reg).is_ok());
}

#[test]
fn splat_lists_cannot_be_indexed_before_apply() {
    let stack = stack_with("[module.m]\nsource = \"./m\"\n\n[fake.a]\nref = \"${module.m.ids[0]}\"\n");
    let m = "[fake.x]\nfor_each = [\"a\"]\n\n[output.ids]\nvalue = \"${fake.x[*].id}\"\n";
    assert_eq!(
        errs(&[("stack.toml", &stack), ("m/module.toml", m)]),
        ["`module.m.ids` is a list known only at apply time and cannot be indexed @ stack.toml:8:22"]
    );
}

#[test]
fn escapes_stay_literal_and_lists_cannot_be_interpolated() {
    let text = stack_with("[vars]\nazs = [\"a\"]\n\n[fake.a]\nname = \"$${var.azs} is literal\"\n");
    assert_eq!(lit(&ok(&[("stack.toml", &text)]), "fake.a", "name"), &Value::str("${var.azs} is literal"));
    let text = stack_with("[vars]\nazs = [\"a\"]\n\n[fake.a]\nname = \"zones: ${var.azs}\"\n");
    assert_eq!(errs(&[("stack.toml", &text)]), ["cannot interpolate a list into a string @ stack.toml:8:18"]);
}

#[test]
fn timeouts_are_parsed_per_operation() {
    let text = stack_with(
        "[vars]\nslow = \"2h 30m\"\n\n[fake.a]\nfor_each = [\"x\"]\ntimeouts = { create = \"${var.slow}\", delete = \"45m\" }\n\n[fake.b]\nname = \"b\"\n",
    );
    let st = ok(&[("stack.toml", &text)]);
    let a = &st.resources[&addr("fake.a[\"x\"]")];
    assert_eq!(
        a.timeouts,
        BTreeMap::from([
            ("create".to_owned(), std::time::Duration::from_secs(9000)),
            ("delete".to_owned(), std::time::Duration::from_secs(2700)),
        ])
    );
    assert!(!a.attrs.contains_key("timeouts"), "a meta-argument is not an attribute");
    assert!(st.resources[&addr("fake.b")].timeouts.is_empty());
}

#[test]
fn timeouts_errors() {
    let text = stack_with(
        "[fake.a]\ntimeouts = { craete = \"1h\", update = \"soon\", delete = \"0s\", create = 90 }\n\n[fake.b]\ntimeouts = \"90m\"\n\n[fake.c]\ntimeouts = { create = \"${fake.a.id}\" }\n",
    );
    let (dir, r) = run(&[("stack.toml", &text)], &LoadOptions::default());
    let Err((sources, diags)) = r else { panic!("load succeeded") };
    assert_eq!(
        render(dir.path(), &sources, &diags),
        [
            "unknown operation `craete` in `timeouts` @ stack.toml:5:14",
            "invalid duration for `timeouts.update`: `soon`: expected number at 0 @ stack.toml:5:38",
            "`timeouts.delete` must be longer than zero @ stack.toml:5:55",
            "invalid duration for `timeouts.create`: expected a duration string, got integer @ stack.toml:5:70",
            "`timeouts` must be a table, got string @ stack.toml:8:12",
            "`timeouts` must be known before apply; it cannot reference `fake.a` @ stack.toml:11:26",
        ]
    );
    assert_eq!(diags.0[0].hints, ["did you mean `create`?"]);
}

#[test]
fn a_module_expanded_early_by_a_sibling_stays_usable() {
    // `a` sorts first and uses `z`, which is then expanded on first use; the
    // stack's outputs still reach `z` afterwards.
    let stack = stack_with(
        "[module.z]\nsource = \"leaf\"\n\n[module.a]\nsource = \"user\"\nid = \"${module.z.id}\"\n\n[output.z]\nvalue = \"${module.z.id}\"\n\n[output.a]\nvalue = \"${module.a.id}\"\n",
    );
    let leaf = "[fake.x]\nname = \"leaf\"\n\n[output.id]\nvalue = \"${fake.x.id}\"\n";
    let user = "[input.id]\n\n[fake.y]\nref = \"${var.id}\"\n\n[output.id]\nvalue = \"${fake.y.id}\"\n";
    let st = ok(&[("stack.toml", &stack), ("modules/leaf/module.toml", leaf), ("modules/user/module.toml", user)]);
    assert_eq!(the_ref(&st.outputs["z"].value).target, addr("module.z.fake.x"));
    assert_eq!(the_ref(&st.outputs["a"].value).target, addr("module.a.fake.y"));
    assert_eq!(the_ref(attr(&st, "module.a.fake.y", "ref")).target, addr("module.z.fake.x"));
}

#[test]
fn region_flag_is_the_default_for_resources_that_name_none() {
    let text = stack_with(
        "[regions]\ndr = \"us-west-2\"\n\n[fake.a]\nname = \"a\"\n\n[fake.b]\nname = \"b\"\nregion = \"us-east-1\"\n",
    );
    let files = [("stack.toml", text.as_str())];
    let flag = |r: &str| LoadOptions { region: Some(r.into()), ..Default::default() };
    let st = ok_with(&files, &flag("eu-west-1")).stack;
    assert_eq!(st.default_region, "eu-west-1");
    let (a, b) = (&st.resources[&addr("fake.a")], &st.resources[&addr("fake.b")]);
    assert_eq!((a.region.as_str(), a.region_explicit), ("eu-west-1", false));
    // Naming the stack's own region is still a choice the flag does not override.
    assert_eq!((b.region.as_str(), b.region_explicit), ("us-east-1", true));
    assert_eq!(ok_with(&files, &flag("dr")).stack.resources[&addr("fake.a")].region, "us-west-2");
    // The flag is part of the digest: a plan made with it is stale without it.
    assert_ne!(ok(&files).digest, st.digest);

    let e = match run(&files, &flag("eu-wset-1")) {
        (_, Err((_, d))) => d.0,
        (_, Ok(_)) => panic!("an unknown region loaded"),
    };
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].summary, "--region `eu-wset-1` is not an AWS region");
    assert_eq!(e[0].hints, ["did you mean `eu-west-1`?"]);
    assert!(e[0].span.is_none(), "a flag has no place in a file");
}

#[test]
fn region_ids_come_from_the_list_of_aws_regions() {
    for id in ["us-gov-west-1", "cn-northwest-1", "ap-southeast-7", "mx-central-1"] {
        assert!(is_region_id(id), "{id}");
    }
    // Shaped like a region, but none.
    let text = "[stack]\nname = \"demo\"\nregion = \"us-north-1\"\n\n[regions]\ndr = \"eu-wets-1\"\n";
    let files = [("stack.toml", text)];
    assert_eq!(
        errs(&files),
        ["unknown region `us-north-1` @ stack.toml:3:10", "`eu-wets-1` is not an AWS region id @ stack.toml:6:6"]
    );
    let (_, Err((_, d))) = run(&files, &LoadOptions::default()) else { panic!("loaded") };
    assert_eq!(d.0[1].hints, ["did you mean `eu-west-1`?"]);
}

fn flags(pairs: &[(&str, &str)]) -> LoadOptions {
    let backend_config = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    LoadOptions { backend_config, ..LoadOptions::default() }
}

#[test]
fn the_s3_backend_takes_defaults_from_the_stack_and_flags_over_the_file() {
    let none = ok(&[("stack.toml", HEAD)]);
    assert_eq!(none.backend, None);
    let text = stack_with(
        "\n[regions]\ndr = \"us-west-2\"\n\n[vars]\nenv = \"prod\"\n\n[backend]\ns3 = { bucket = \"team-${var.env}\", kms_key_id = \"alias/state\" }\n",
    );
    let files = [("stack.toml", text.as_str())];
    let b = ok(&files).backend.unwrap();
    assert_eq!(
        b,
        S3BackendConfig {
            bucket: "team-prod".into(),
            key: "pgstack/demo.json".into(),
            region: "us-east-1".into(),
            kms_key_id: Some("alias/state".into()),
        }
    );
    // `--region` moves new objects, never the state.
    let moved = ok_with(&files, &LoadOptions { region: Some("eu-west-1".into()), ..Default::default() }).stack;
    assert_eq!(moved.backend.unwrap().region, "us-east-1");
    let over = ok_with(&files, &flags(&[("bucket", "other"), ("key", "x/y.json"), ("region", "dr")])).stack;
    let b2 = over.backend.clone().unwrap();
    assert_eq!((b2.bucket.as_str(), b2.key.as_str(), b2.region.as_str()), ("other", "x/y.json", "us-west-2"));
    assert_ne!(over.digest, ok(&files).digest, "the digest covers the backend's settings");
    // Flags alone put the state in S3.
    let only = ok_with(&[("stack.toml", HEAD)], &flags(&[("bucket", "b-1")])).stack.backend.unwrap();
    assert_eq!((only.bucket.as_str(), only.key.as_str()), ("b-1", "pgstack/demo.json"));
    let block = stack_with(
        "\n[backend.s3]\nbucket = \"team\"\nkey = \"k.json\"\nregion = \"dr\"\n\n[regions]\ndr = \"eu-west-1\"\n",
    );
    let b = ok(&[("stack.toml", &block)]).backend.unwrap();
    assert_eq!((b.key.as_str(), b.region.as_str(), b.kms_key_id), ("k.json", "eu-west-1", None));
}

#[test]
fn backend_mistakes_are_located_errors() {
    let e = |body: &str| errs(&[("stack.toml", &stack_with(body))]);
    assert_eq!(
        e("\n[backend]\ns3 = { buckt = \"b\" }\n"),
        [
            "the S3 backend needs a `bucket` @ stack.toml:6:1",
            "unknown setting `buckt` in [backend] s3 @ stack.toml:6:8"
        ]
    );
    assert_eq!(e("\n[backend]\ngcs = {}\n"), ["unknown setting `gcs` in [backend] @ stack.toml:6:1"]);
    assert_eq!(
        e("\n[backend]\ns3 = { bucket = \"Team_State\" }\n"),
        ["`bucket` in [backend] s3 `Team_State` is not an S3 bucket name @ stack.toml:6:17"]
    );
    assert_eq!(
        e("\n[backend]\ns3 = { bucket = \"team\", key = \"dir/\", region = \"us-esat-1\" }\n"),
        ["`key` in [backend] s3 `dir/` cannot name the state object @ stack.toml:6:31"]
    );
    assert_eq!(
        e("\n[backend]\ns3 = { bucket = \"team\", region = \"us-esat-1\" }\n"),
        ["unknown region `us-esat-1` @ stack.toml:6:34"]
    );
    assert_eq!(
        e("\n[state]\npath = \"s.json\"\n\n[backend]\ns3 = { bucket = \"team\" }\n"),
        ["[state] path and an S3 backend both say where the state lives @ stack.toml:5:2"]
    );
    assert_eq!(
        errs_with(&[("stack.toml", HEAD)], &flags(&[("bucket", "b-1"), ("regoin", "x"), ("kms_key_id", " ")])),
        ["--backend-config `regoin` is not a setting of the S3 backend", "--backend-config kms_key_id is empty"]
    );
    assert_eq!(
        errs_with(&[("stack.toml", HEAD)], &flags(&[("bucket", "b-1"), ("region", "mars-1")])),
        ["--backend-config region `mars-1` is not an AWS region"]
    );
    assert_eq!(errs_with(&[("stack.toml", HEAD)], &flags(&[("key", "k")])), ["the S3 backend needs a `bucket`"]);
}

#[test]
fn cost_table_takes_known_numbers_and_refuses_the_rest() {
    let st = ok(&[(
        "stack.toml",
        &stack_with("[vars]\nsize = 500\n\n[cost]\ndata_gb = \"${var.size}\"\nio_requests_millions = 2.5\n"),
    )]);
    assert_eq!(st.cost.get("data_gb"), Some(&500.0));
    assert_eq!(st.cost.get("io_requests_millions"), Some(&2.5));
    assert_eq!(st.cost.len(), 2);
    let e = errs(&[("stack.toml", &stack_with("[cost]\ndata_g = 1\nbackup_gb = -3\ns3_archive_gb = \"x\"\n"))]);
    let all = e.join("\n");
    assert!(all.contains("unknown setting `data_g` in [cost]"), "{all}");
    assert!(all.contains("`backup_gb` in [cost] must not be negative"), "{all}");
    assert!(all.contains("`s3_archive_gb` in [cost] must be a number, got string"), "{all}");
}

/// Every diagnostic in full: summary, detail and hints, with its location.
fn full_text(dir: &Path, sources: &SourceMap, diags: &Diagnostics) -> String {
    let located = render(dir, sources, diags);
    diags
        .0
        .iter()
        .zip(located)
        .map(|(d, at)| format!("{at}\n{}\n{}", d.detail.clone().unwrap_or_default(), d.hints.join("\n")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_variable_without_a_value_is_one_error_and_its_uses_stay_silent() {
    let text = stack_with(
        "[vars]\narn = { sensitive = false, description = \"rotation function\" }\ntoken = { sensitive = true }\nn = 1\n\n[regions]\ndr = \"${var.arn}\"\n\n[module.m]\nsource = \"./m\"\nx = \"${var.arn}\"\n\n[fake.a]\nname = \"a-${var.arn}\"\nfor_each = \"${var.arn}\"\nregion = \"${var.arn}\"\ntags = { A = \"${var.arn}\" }\nsize = \"${length(var.arn) + var.n}\"\n\n[fake.b]\nenabled = \"${var.arn}\"\nref = \"${fake.a[var.arn].id}\"\n\n[plain.p]\nname = \"${module.m.y}\"\npassword = \"${var.token}\"\n\n[output.o]\nvalue = \"${var.token}\"\nsensitive = true\n",
    );
    let module = "[input.x]\n\n[plain.q]\nname = \"${var.x}\"\n\n[output.y]\nvalue = \"${var.x}\"\n";
    let files = [("stack.toml", text.as_str()), ("m/module.toml", module)];
    let (dir, r) = run(&files, &LoadOptions::default());
    let Err((sources, diags)) = r else { panic!("load succeeded") };
    assert_eq!(
        render(dir.path(), &sources, &diags),
        ["variable `arn` has no value @ stack.toml:5:1", "variable `token` has no value @ stack.toml:6:1"]
    );
    assert_eq!(
        diags.0[0].hints,
        [
            "give it a value with `--var arn=...`, in a file passed with `--var-file FILE` (a line `arn = ...`), or in the environment as `PGSTACK_VAR_arn`"
        ]
    );

    // Given, by any of the three ways, it loads.
    let text = stack_with(
        "[vars]\narn = { sensitive = false }\ntoken = { sensitive = true }\n\n[plain.p]\nname = \"${var.arn}\"\npassword = \"${var.token}\"\n",
    );
    let files = [("stack.toml", text.as_str())];
    let vars = LoadOptions {
        vars: vec![("arn".into(), "k".into())],
        env_vars: vec![("token".into(), "t".into())],
        ..Default::default()
    };
    ok_with(&files, &vars);
    let in_file = LoadOptions {
        var_files: vec!["v.toml".into()],
        env_vars: vec![("token".into(), "t".into())],
        ..Default::default()
    };
    ok_with(&[files[0], ("v.toml", "arn = \"k\"\n")], &in_file);

    // A value given but refused is reported once, as refused.
    let refused = errs_with(&[files[0], ("v.toml", "arn = 1\ntoken = \"t\"\n")], &in_file);
    assert_eq!(refused, ["wrong type for variable `arn`: expected string, got integer @ v.toml:1:7"]);
    // A var file that does not parse may hold the value: only its syntax error.
    let broken = errs_with(&[files[0], ("v.toml", "arn = \"k\ntoken = \"t\"\n")], &in_file);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("invalid TOML") && broken[0].ends_with("@ v.toml:1:9"), "{broken:?}");
}

/// The sensitive variable `pw` and a stack that uses it where it may be used.
const SECRET_STACK: &str = "[stack]\nname = \"demo\"\nregion = \"us-east-1\"\n\n[vars]\npw = { sensitive = true }\nn = 1\n\n[plain.p]\nname = \"p\"\npassword = \"${var.pw}\"\n";

/// Loads [`SECRET_STACK`] with `var_file` as `--var-file v.toml` (and `pw`
/// from `--var` when the file does not set it): the errors, located, and
/// the text of every diagnostic and of the var file as the source map holds it.
fn with_var_file(var_file: &str, pw_flag: bool) -> (Vec<String>, String) {
    let opts = LoadOptions {
        var_files: vec!["v.toml".into()],
        vars: if pw_flag { vec![("pw".into(), "from-flag".into())] } else { Vec::new() },
        ..Default::default()
    };
    match run(&[("stack.toml", SECRET_STACK), ("v.toml", var_file)], &opts) {
        (_, Ok(_)) => panic!("load succeeded for {var_file:?}"),
        (dir, Err((sources, diags))) => {
            let file = sources.files().iter().find(|f| f.path.ends_with("v.toml")).expect("the var file was read");
            let text = format!("{}\n{}", full_text(dir.path(), &sources, &diags), file.text);
            (render(dir.path(), &sources, &diags), text)
        }
    }
}

#[test]
fn var_files_never_show_a_sensitive_value() {
    let cases: &[(&str, bool, &str)] = &[
        ("pw = [\"Hunter2EEE\"]\n", false, "wrong type for variable `pw`: expected string, got list @ v.toml:1:6"),
        (
            "pw = { a = \"Hunter2EEE\" }\n",
            false,
            "wrong type for variable `pw`: expected string, got table @ v.toml:1:6",
        ),
        ("n = 1\npw = \"Hunter2EEE\"\npw = \"Hunter2EEE\"\n", false, "invalid TOML: duplicate key @ v.toml:3:1"),
        ("pw = \"Hunter2EEE\n", false, "invalid TOML: invalid basic string, expected `\"` @ v.toml:1:17"),
        ("pw = \"\"\"Hunter2EEE\n", false, "invalid TOML: invalid multi-line basic string, expected `\"` @ v.toml:2:1"),
        (
            "pw = Hunter2EEE\n",
            false,
            "invalid TOML: string values must be quoted, expected literal string @ v.toml:1:6",
        ),
        ("pq = \"Hunter2EEE\"\n", true, "undeclared variable `pq` @ v.toml:1:1"),
        ("pw = \"${Hunter2EEE}\"\n", false, "variable values cannot use `${...}` @ v.toml:1:6"),
        (
            "pw = \"Hunter2EEE\" # é\nn = 1979-05-27\n",
            false,
            "datetimes are not supported (quote the value to make it a string) @ v.toml:2:5",
        ),
    ];
    for (file, pw_flag, want) in cases {
        let (errors, text) = with_var_file(file, *pw_flag);
        assert_eq!(errors, [*want], "{file:?}");
        assert!(!text.contains("Hunter2EEE"), "{file:?} shows the value:\n{text}");
    }
    // Values of variables that are not sensitive stay visible.
    let (errors, text) = with_var_file("n = \"many\"\npw = \"Hunter2EEE\"\n", false);
    assert_eq!(errors, ["wrong type for variable `n`: expected integer, got string @ v.toml:1:5"]);
    assert!(text.contains("n = \"many\"\npw = \"**********\""), "{text}");
}

#[test]
fn write_only_attributes_cannot_be_referenced() {
    let text = stack_with(
        "[vars]\npw = { sensitive = true, default = \"x\" }\n\n[plain.s]\nname = \"s\"\npassword = \"${var.pw}\"\n\n[plain.t]\nname = \"t\"\npassword = \"${plain.s.password}\"\n\n[fake.a]\ntags = { leak = \"${plain.s.password}\" }\nrefs = \"${plain.s[*].password}\"\n\n[module.m]\nsource = \"./m\"\nx = \"${plain.s.password}\"\n\n[output.o]\nvalue = \"${plain.s.password}\"\nsensitive = true\n",
    );
    let module =
        "[input.x]\ndefault = \"d\"\n\n[plain.q]\nname = \"q\"\n\n[output.y]\nvalue = \"${plain.q.password}\"\n";
    let (dir, r) = run(&[("stack.toml", &text), ("m/module.toml", module)], &LoadOptions::default());
    let Err((sources, diags)) = r else { panic!("load succeeded") };
    assert_eq!(
        render(dir.path(), &sources, &diags),
        [
            "`plain.s.password` is write-only and cannot be referenced @ stack.toml:13:15",
            "`plain.s.password` is write-only and cannot be referenced @ stack.toml:16:20",
            "`plain.s.password` is write-only and cannot be referenced @ stack.toml:17:11",
            "`plain.s.password` is write-only and cannot be referenced @ stack.toml:21:8",
            "`plain.s.password` is write-only and cannot be referenced @ stack.toml:24:12",
            "`plain.q.password` is write-only and cannot be referenced @ m/module.toml:8:12",
        ]
    );
    let d = &diags.0[1];
    assert_eq!(
        d.detail.as_deref(),
        Some(
            "write-only values go to AWS and are never stored, so nothing can read them back: this reference would be null in every plan and apply"
        )
    );
    assert!(d.hints[0].contains("(`plain.password`)") && d.hints[0].contains("`arn`"), "{:?}", d.hints);
    // Its other attributes can be referenced as before.
    ok(&[("stack.toml", &stack_with("[plain.s]\nname = \"s\"\n\n[fake.a]\nref = \"${plain.s.id}\"\n"))]);
}

#[test]
fn arithmetic_beyond_the_number_range_is_a_located_error() {
    let text = stack_with(
        "[vars]\nbig = 9223372036854775807\nsmall = -9223372036854775808\nf = 1e308\nz = -0.0\n\n[fake.a]\nsize = \"${var.big + 1}\"\nname = \"${var.f * 10}\"\nref = \"${var.f / var.z}\"\n\n[fake.b]\nsize = \"${-var.small}\"\nname = \"${floor(var.f * 2)}\"\nref = \"${var.small % -1}\"\n\n[fake.c]\nsize = \"${var.big * var.big}\"\nname = \"${-var.f - var.f}\"\nref = \"${var.f / 0.5 * 1}\"\n\n[fake.d]\nsize = \"${var.big - 1 + var.small}\"\nname = \"${var.f + var.z}\"\n",
    );
    assert_eq!(
        errs(&[("stack.toml", &text)]),
        [
            "integer overflow @ stack.toml:11:11",
            "number overflow: the result is beyond the largest number (about 1.8e308) @ stack.toml:12:11",
            "division by zero @ stack.toml:13:10",
            "integer overflow @ stack.toml:16:11",
            "number overflow: the result is beyond the largest number (about 1.8e308) @ stack.toml:17:17",
            "integer overflow @ stack.toml:18:10",
            "integer overflow @ stack.toml:21:11",
            "number overflow: the result is beyond the largest number (about 1.8e308) @ stack.toml:22:11",
            "number overflow: the result is beyond the largest number (about 1.8e308) @ stack.toml:23:10",
        ]
    );
}

#[test]
fn a_function_error_on_a_sensitive_value_does_not_quote_it() {
    let text = stack_with(
        "[vars]\npw = { sensitive = true }\n\n[plain.p]\nname = \"p\"\npassword = \"${instance_memory_mib(var.pw)}\"\n",
    );
    let opts = LoadOptions { vars: vec![("pw".into(), "Hunter2EEE".into())], ..Default::default() };
    let (dir, r) = run(&[("stack.toml", &text)], &opts);
    let Err((sources, diags)) = r else { panic!("load succeeded") };
    let all = full_text(dir.path(), &sources, &diags);
    assert!(
        all.starts_with(
            "`instance_memory_mib` cannot take the value of a sensitive variable given here @ stack.toml:9:15"
        ),
        "{all}"
    );
    assert!(!all.to_lowercase().contains("hunter2eee"), "{all}");
    // Not sensitive: the reason is shown.
    let plain = text.replace("pw = { sensitive = true }", "pw = \"db.x\"");
    let e = errs(&[("stack.toml", &plain)]);
    assert!(e[0].starts_with("`instance_memory_mib`: unknown instance class \"db.x\""), "{e:?}");
}

#[test]
fn a_sensitive_variable_stays_a_reference_that_a_written_stack_names_without_its_value() {
    let text = stack_with(
        "[vars]\npw = { sensitive = true }\n\n[plain.p]\nname = \"p\"\npassword = \"pre-${upper(var.pw)}\"\n",
    );
    let opts = LoadOptions { vars: vec![("pw".into(), "Hunter2eee".into())], ..Default::default() };
    let (_dir, r) = run(&[("stack.toml", &text)], &opts);
    let stack = r.map_err(|(_, d)| format!("{d:?}")).unwrap().stack;
    let expr = &stack.resources[&addr("plain.p")].attrs["password"];
    assert_eq!(expr.eval_static().unwrap(), Value::Str("pre-HUNTER2EEE".into()));
    assert_eq!(stack.sensitive_names().into_iter().collect::<Vec<_>>(), ["pw"]);

    let written = serde_json::to_string(&stack).unwrap();
    assert!(!written.to_lowercase().contains("hunter2eee"), "{written}");
    let mut back: Stack = serde_json::from_str(&written).unwrap();
    let expr = |s: &Stack| s.resources[&addr("plain.p")].attrs["password"].clone();
    let missing = expr(&back).eval_static().unwrap_err();
    assert_eq!(missing.message, "the sensitive variable `pw` was not given again");
    back.supply_sensitive(&[("pw".to_owned(), Value::Str("other".into()))].into());
    assert_eq!(expr(&back).eval_static().unwrap(), Value::Str("pre-OTHER".into()));

    // Used whole only: a part of it would be a value folded into the stack.
    let part = stack_with("[vars]\npw = { sensitive = true }\n\n[plain.p]\nname = \"p\"\npassword = \"${var.pw.x}\"\n");
    let (_dir, r) = run(&[("stack.toml", &part)], &opts);
    let Err((_, diags)) = r else { panic!("a part of a sensitive variable was accepted") };
    assert!(format!("{diags:?}").contains("sensitive `var.pw` is used whole, not a part of it"), "{diags:?}");
}

#[test]
fn conditions_fold_at_load_and_the_branch_not_taken_is_not_read() {
    // `fake.extra` is turned off; the branch that names it is not taken.
    let text = stack_with(
        "[vars]\nprod = false\nsize = 3\n\n[fake.extra]\nenabled = \"${var.prod}\"\n\n\
         [fake.a]\nname = '${var.prod ? fake.extra.id : \"dev\"}'\nsize = '${var.size >= 2 && !var.prod ? 2 : 1}'\n\
         force = '${var.size == 3 || var.size != 3}'\n",
    );
    let st = ok(&[("stack.toml", &text)]);
    let a = &st.resources[&addr("fake.a")];
    assert_eq!(a.attrs["name"], Expr::Lit(Value::str("dev")));
    assert_eq!(a.attrs["size"], Expr::Lit(Value::Int(2)));
    assert_eq!(a.attrs["force"], Expr::Lit(Value::Bool(true)));
    assert!(!st.resources.contains_key(&addr("fake.extra")));

    // A condition known only at apply stays an expression; both branches are checked now.
    let text = stack_with("[fake.a]\nname = \"a\"\n\n[fake.b]\nref = '${fake.a.id == \"x\" ? \"same\" : fake.a.id}'\n");
    let st = ok(&[("stack.toml", &text)]);
    let e = &st.resources[&addr("fake.b")].attrs["ref"];
    assert!(matches!(e, Expr::Cond(..)), "{e:?}");
    let known = |id: &str| {
        let id = Value::str(id);
        e.eval(&|_| Ok(id.clone())).unwrap()
    };
    assert_eq!((known("x"), known("i-1")), (Value::str("same"), Value::str("i-1")));
    assert_eq!(e.eval(&|_| Ok(Value::Unknown)).unwrap(), Value::Unknown);
}

#[test]
fn lists_and_tables_built_in_expressions_fold_or_keep_their_references() {
    let text = stack_with(
        "[vars]\non = true\n\n[fake.a]\nname = \"a\"\n\n[fake.b]\n\
         refs = '${concat([\"x\"], var.on ? [fake.a.id] : [])}'\n\
         tags = '${var.on ? { Team = \"db\", On = \"yes\" } : {}}'\n",
    );
    let st = ok(&[("stack.toml", &text)]);
    let b = &st.resources[&addr("fake.b")];
    // `concat` of lists stays a list whose items are visible, the reference kept.
    let Expr::List(items) = &b.attrs["refs"] else { panic!("{:?}", b.attrs["refs"]) };
    assert_eq!(items[0], Expr::Lit(Value::str("x")));
    assert!(matches!(&items[1], Expr::Ref(r) if r.target == addr("fake.a")));
    let Expr::Map(tags) = &b.attrs["tags"] else { panic!("{:?}", b.attrs["tags"]) };
    assert_eq!(tags["Team"], Expr::Lit(Value::str("db")));
    assert_eq!(
        errs(&[("stack.toml", &stack_with("[fake.a]\ntags = '${{ a = \"1\", a = \"2\" }}'\n"))]),
        ["duplicate key `a` in a table @ stack.toml:5:22"]
    );
}

#[test]
fn condition_and_comparison_errors_point_at_the_expression() {
    let text = stack_with(
        "[vars]\nn = 3\n\n[fake.a]\nname = '${var.n ? \"a\" : \"b\"}'\nsize = '${var.n < \"4\" ? 1 : 2}'\n\
         force = '${!var.n}'\nref = '${var.n && true ? \"a\" : \"b\"}'\n",
    );
    assert_eq!(
        errs(&[("stack.toml", &text)]),
        [
            "the condition of `? :` must be a bool, got integer @ stack.toml:8:11",
            "`<`, `<=`, `>` and `>=` compare numbers, got integer and string @ stack.toml:9:11",
            "`!` takes a bool, got integer @ stack.toml:10:12",
            "`&&` and `||` take bools, got integer and bool @ stack.toml:11:10",
        ]
    );
}

#[test]
fn more_than_fifty_tags_with_the_stack_and_ownership_tags_are_refused_at_the_tags() {
    let stack_tags: Vec<String> = (0..10).map(|i| format!("s{i} = \"v\"")).collect();
    let head = format!("[stack]\nname = \"t\"\nregion = \"us-east-1\"\ntags = {{ {} }}\n\n", stack_tags.join(", "));
    let own = |n: usize| (0..n).map(|i| format!("r{i} = \"v\"")).collect::<Vec<_>>().join(", ");
    // 10 stack tags + 38 of its own + 2 ownership tags: 50, AWS's limit.
    ok(&[("stack.toml", &format!("{head}[fake.a]\ntags = {{ {} }}\n", own(38)))]);
    assert_eq!(
        errs(&[("stack.toml", &format!("{head}[fake.a]\ntags = {{ {} }}\n", own(39)))]),
        [
            "`tags` on `fake.a` has 51 tags, counting the stack's tags and the 2 ownership tags pgstack adds (`pgstack:stack`, `pgstack:address`): AWS allows at most 50 on one resource @ stack.toml:7:1"
        ]
    );
    // Stack tags alone push a resource without tags of its own over: at its header.
    let many: Vec<String> = (0..49).map(|i| format!("s{i} = \"v\"")).collect();
    let head = format!("[stack]\nname = \"t\"\nregion = \"us-east-1\"\ntags = {{ {} }}\n\n", many.join(", "));
    let e = errs(&[("stack.toml", &format!("{head}[fake.a]\nname = \"a\"\n"))]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("`tags` on `fake.a` has 51 tags") && e[0].ends_with("@ stack.toml:6:1"), "{e:?}");
}
