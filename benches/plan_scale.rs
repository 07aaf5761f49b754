//! Scale benchmark for the pure core: a generated stack of N resources
//! (default 10,000) is loaded and validated, graphed, planned against a state
//! in which everything exists (a no-change plan, refresh skipped), and its
//! state is serialized and written atomically.
//!
//!     cargo bench --bench plan_scale            # optimized: 1k, 10k, 100k, then wide tables
//!     cargo bench --profile dev --bench plan_scale -- 10000   # one size, debug build
//!     cargo bench --bench plan_scale -- --stack 10000 s.toml  # write the stack, to time the binary on it
//!
//! For each size, in a process of its own: wall time per phase (load and
//! validate, graph, a plan creating everything, a no-change plan against a
//! state holding everything, the state write) and the process's peak
//! resident memory; then load and validate alone, with its own peak. Then
//! the load time of stacks holding one wide table (10,000 and 40,000 keys:
//! a map variable, and a `for_each` table), which must grow linearly. Not a
//! test: nothing here asserts a time.

use std::fmt::Write;
use std::time::Instant;

use pgstack::config::{LoadOptions, load};
use pgstack::graph::ResourceGraph;
use pgstack::plan::{Action, PlanOptions, Refreshed, build};
use pgstack::provider::Registry;
use pgstack::provider::schema::Mode;
use pgstack::state::local::LocalBackend;
use pgstack::state::{ResourceState, StateBackend, StateFile, Status};
use pgstack::value::Value;

fn stack_text(n: usize) -> String {
    let mut s = String::from("[stack]\nname = \"scale\"\nregion = \"us-east-1\"\ntags = { Project = \"scale\" }\n\n");
    s.push_str("[vpc.main]\ncidr_block = \"10.0.0.0/16\"\n\n");
    let groups = n / 10;
    for g in 0..groups {
        let _ = writeln!(
            s,
            "[security_group.g{g}]\nname = \"g{g}\"\nvpc_id = \"${{vpc.main.id}}\"\ningress = [{{ from_port = 5432, to_port = 5432, protocol = \"tcp\", cidr_blocks = [\"10.0.0.0/8\"] }}]\n"
        );
    }
    for i in 0..n.saturating_sub(groups + 1) {
        // /24 blocks of 10.0.0.0/8 for the first 65,536 subnets, /28 blocks of 11.0.0.0/8 past them.
        let cidr = if i < 65_536 {
            format!("10.{}.{}.0/24", i / 256, i % 256)
        } else {
            let j = i - 65_536;
            format!("11.{}.{}.{}/28", (j >> 12) & 255, (j >> 4) & 255, (j & 15) * 16)
        };
        let _ = writeln!(
            s,
            "[subnet.s{i}]\nvpc_id = \"${{vpc.main.id}}\"\ncidr_block = \"{cidr}\"\ntags = {{ Group = \"${{security_group.g{}.id}}\" }}\n",
            i % groups.max(1)
        );
    }
    s
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Sizes measured when no size is given.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        // One size, in this process (each phase, then the process's peak memory).
        ["--one", n] => one(n.parse().expect("a size")),
        // Load and validate only, for the peak memory of that alone.
        ["--validate-only", n] => validate_only(n.parse().expect("a size")),
        // The generated stack, to time the binary on it (`pgstack validate/plan`).
        ["--stack", n, path] => std::fs::write(path, stack_text(n.parse().expect("a size"))).expect("write stack"),
        ["--wide"] => {
            let dir = tempfile_dir();
            wide_tables(&dir, &Registry::aws());
            let _ = std::fs::remove_dir_all(&dir);
        }
        [n] => one(n.parse().expect("a size")),
        [] => {
            // Every size in a process of its own, so each peak is its own.
            for n in SIZES {
                child(&["--one", &n.to_string()]);
                child(&["--validate-only", &n.to_string()]);
            }
            child(&["--wide"]);
        }
        other => panic!("usage: plan_scale [N | --one N | --validate-only N | --stack N PATH | --wide], not {other:?}"),
    }
}

/// Runs this benchmark again with `args`, passing its output through.
fn child(args: &[&str]) {
    let exe = std::env::current_exe().expect("own path");
    let status = std::process::Command::new(exe).args(args).status().expect("run the benchmark");
    assert!(status.success(), "plan_scale {args:?} failed");
}

fn validate_only(n: usize) {
    let dir = tempfile_dir();
    let path = dir.join("scale.toml");
    std::fs::write(&path, stack_text(n)).expect("write stack");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let t = Instant::now();
    let loaded = load(&path, &LoadOptions::default(), &Registry::aws());
    let took = t.elapsed();
    assert!(loaded.is_ok(), "generated stack is invalid");
    println!(
        "validate only   : {n:>7} resources ({:.1} MiB stack): {took:>10.1?}, peak RSS {:>7.1} MiB",
        size as f64 / 1048576.0,
        peak_rss_mib()
    );
    drop(loaded);
    let _ = std::fs::remove_dir_all(&dir);
}

fn one(n: usize) {
    let dir = tempfile_dir();
    let path = dir.join("scale.toml");
    std::fs::write(&path, stack_text(n)).expect("write stack");
    let registry = Registry::aws();

    let t = Instant::now();
    let loaded = match load(&path, &LoadOptions::default(), &registry) {
        Ok(l) => l,
        Err((_, d)) => panic!("generated stack is invalid: {:?}", d.0.first()),
    };
    let load_time = t.elapsed();
    let stack = std::sync::Arc::new(loaded.stack);

    let t = Instant::now();
    ResourceGraph::build(&stack).expect("acyclic");
    let graph_time = t.elapsed();

    let t = Instant::now();
    let fresh = build(&stack, &registry, &Refreshed::from_state(StateFile::new("scale")), &PlanOptions::default())
        .expect("plan");
    let new_plan_time = t.elapsed();
    assert_eq!(fresh.summary().add, stack.resources.len(), "the first plan creates everything");
    drop(fresh);
    // Fill a state in which every resource exists, by planning against the
    // partial state until nothing is left to create (one round per graph level).
    let mut state = StateFile::new("scale");
    let mut counter = 0u64;
    loop {
        let plan =
            build(&stack, &registry, &Refreshed::from_state(state.clone()), &PlanOptions::default()).expect("plan");
        let creates: Vec<_> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .filter(|c| {
                let schema = registry.get(&c.rtype).expect("type").schema();
                c.after
                    .iter()
                    .flatten()
                    .all(|(k, v)| !v.contains_unknown() || schema.attr(k).is_some_and(|a| a.mode == Mode::Computed))
            })
            .cloned()
            .collect();
        if creates.is_empty() {
            break;
        }
        for c in creates {
            counter += 1;
            let mut attrs = c.after.clone().unwrap_or_default();
            for v in attrs.values_mut().filter(|v| v.is_unknown()) {
                *v = Value::str(format!("{}-{counter}", c.rtype));
            }
            let id = attrs.get("id").and_then(Value::as_str).map(str::to_owned);
            state.resources.insert(
                c.address.clone(),
                ResourceState {
                    address: c.address.clone(),
                    rtype: c.rtype.clone(),
                    region: c.region.clone(),
                    status: Status::Ready,
                    id,
                    attributes: attrs,
                    dependencies: c.dependencies.clone(),
                    deposed: Vec::new(),
                },
            );
        }
    }

    let t = Instant::now();
    let plan = build(&stack, &registry, &Refreshed::from_state(state.clone()), &PlanOptions::default()).expect("plan");
    let plan_time = t.elapsed();
    assert!(!plan.has_changes(), "the benchmark plan must be a no-op");

    let runtime = tokio::runtime::Builder::new_multi_thread().build().expect("runtime");
    let backend = LocalBackend::new(dir.join("scale.json"));
    let t = Instant::now();
    runtime.block_on(backend.write(&state)).expect("write state");
    let write_time = t.elapsed();
    let size = std::fs::metadata(dir.join("scale.json")).map(|m| m.len()).unwrap_or(0);

    println!("plan_scale: {} resources ({} in state)", stack.resources.len(), state.resources.len());
    println!("  load + validate : {load_time:>10.1?}");
    println!("  graph           : {graph_time:>10.1?}");
    println!("  plan, all new   : {new_plan_time:>10.1?}");
    println!("  no-change plan  : {plan_time:>10.1?}");
    println!("  state write     : {write_time:>10.1?} ({:.1} MiB, atomic with backup)", size as f64 / 1048576.0);
    println!("  peak RSS        : {:>7.1} MiB", peak_rss_mib());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stack whose one variable is a map of `keys` entries, one of which a
/// VPC tag reads (AWS takes at most 50 tags, so the wide table is a variable).
fn wide_vars(keys: usize) -> String {
    let mut s = String::from(
        "[stack]\nname = \"wide\"\nregion = \"us-east-1\"\n\n[vpc.main]\ncidr_block = \"10.0.0.0/16\"\ntags = { Last = \"${var.table[\\\"k0\\\"]}\" }\n\n[vars.table]\n",
    );
    for i in 0..keys {
        let _ = writeln!(s, "k{i} = \"v{i}\"");
    }
    s
}

/// A stack with one subnet block repeated over a `for_each` table of `keys` keys.
fn wide_for_each(keys: usize) -> String {
    let mut s = String::from(
        "[stack]\nname = \"wide\"\nregion = \"us-east-1\"\n\n[subnet.s]\nvpc_id = \"vpc-1\"\ncidr_block = \"${each.value}\"\n[subnet.s.for_each]\n",
    );
    for i in 0..keys {
        let _ = writeln!(s, "k{i} = \"10.{}.{}.0/24\"", i / 256 % 256, i % 256);
    }
    s
}

/// [`wide_for_each`] plus a second block over the same keys whose every
/// instance references its namesake: `subnet.s[each.key]`.
fn wide_for_each_refs(keys: usize) -> String {
    let text = wide_for_each(keys).replace("[subnet.s]\n", "[subnet.s]\nfor_each = \"${var.cidrs}\"\n");
    let (head, table) = text.split_once("[subnet.s.for_each]\n").expect("generated");
    format!(
        "{head}[security_group.g]\nfor_each = \"${{var.cidrs}}\"\nname = \"g-${{each.key}}\"\nvpc_id = \"${{subnet.s[each.key].vpc_id}}\"\n\n[vars.cidrs]\n{table}"
    )
}

/// Load time of wide tables at 10,000 and 40,000 keys, with the ratio.
fn wide_tables(dir: &std::path::Path, registry: &Registry) {
    println!("wide tables: load + validate");
    type StackText = fn(usize) -> String;
    let stacks: [(&str, StackText); 3] =
        [("vars map", wide_vars), ("for_each", wide_for_each), ("for_each + refs", wide_for_each_refs)];
    for (what, text) in stacks {
        let mut times = Vec::new();
        for keys in [10_000, 40_000] {
            let path = dir.join(format!("wide-{what}-{keys}.toml"));
            std::fs::write(&path, text(keys)).expect("write stack");
            let t = Instant::now();
            if let Err((_, d)) = load(&path, &LoadOptions::default(), registry) {
                panic!("generated stack is invalid: {:?}", d.0.first());
            }
            times.push(t.elapsed());
            println!("  {what:<15} {keys:>6} keys : {:>10.1?}", t.elapsed());
        }
        println!("  {what:<15} 40k / 10k   : {:>9.1}x", times[1].as_secs_f64() / times[0].as_secs_f64());
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pgstack-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
