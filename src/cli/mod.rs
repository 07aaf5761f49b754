//! The command line: clap definitions and dispatch. Commands are thin: they
//! load, call into plan/engine/state, and hand results to `ui`.

mod apply;
mod backend;
mod check;
mod cost;
mod data;
mod drift;
mod inspect;
mod meta;
mod output;
mod plan;
mod rename;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::addr::ResourceAddr;
use crate::diag::{Diagnostics, SourceMap};
use crate::ui::{Style, Ui};

/// Provision production PostgreSQL on AWS from declarative TOML stacks.
#[derive(Debug, Parser)]
#[command(name = "pgstack", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Set a stack variable (repeatable): --var env=prod
    #[arg(long = "var", value_name = "K=V", global = true)]
    pub vars: Vec<String>,
    /// Read variables from a TOML file (repeatable, applied in order)
    #[arg(long = "var-file", value_name = "FILE", global = true)]
    pub var_files: Vec<PathBuf>,
    /// Select an environment: its `[env.NAME]` variables, and a state and
    /// ownership tags of its own (docs/stack-language.md#environments)
    #[arg(long, global = true, env = "PGSTACK_ENV")]
    pub env: Option<String>,
    /// Override the stack's default region
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile to use (the check profile is `check --rules`)
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// State file to use instead of state/<stack>.json
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Keep state in S3, or override a `[backend] s3` setting (repeatable):
    /// bucket=, key=, region=, kms_key_id=
    #[arg(long = "backend-config", value_name = "KEY=VALUE", global = true)]
    pub backend_config: Vec<String>,
    /// Disable colours
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Show more detail (refresh calls, API call counts)
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check syntax, types, references and cycles; no AWS calls
    Validate {
        stack: String,
        /// As JSON: {valid, stack, resources, diagnostics: [{severity, message, hints, range}]}
        #[arg(long)]
        json: bool,
    },
    /// Check the stack against the seeds' production rules; no AWS calls.
    /// Exit 0 when no error-level rule fails, 2 when some do
    Check {
        stack: String,
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
        /// The rule profile, standard or lite (default: the stack's `[check] profile` or `Profile` tag)
        #[arg(long, value_name = "PROFILE")]
        rules: Option<String>,
    },
    /// Refresh, diff and show what apply would do
    Plan(PlanArgs),
    /// Apply a stack (plans first) or a saved plan
    Apply(ApplyArgs),
    /// Destroy everything the stack manages
    Destroy(DestroyArgs),
    /// Compare AWS with state and config, list orphans; exit 2 when anything drifted
    ///
    /// Refreshes each stack, reports objects changed outside pgstack, objects
    /// tagged for the stack that its state does not hold (with the `pgstack
    /// import` that adopts them) and pending changes. Several stacks (or a
    /// directory of stack files) are checked at once, with one summary: exit
    /// 1 when any failed, else 2 when any drifted, else 0. Read-only, no lock.
    Drift(DriftArgs),
    /// Estimate the monthly on-demand cost from list prices; no AWS calls
    Cost {
        stack: String,
        #[arg(long, value_enum, default_value_t = CostFormat::Text)]
        format: CostFormat,
    },
    /// Print the dependency graph
    Graph {
        stack: String,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Show output values from the last apply
    Output {
        stack: String,
        name: Option<String>,
        /// As JSON: NAME's value; without NAME, every output as {sensitive, type, value}
        #[arg(long, conflicts_with = "raw")]
        json: bool,
        /// NAME's value as it is, without quotes or newline (strings, numbers, bools), for scripts
        #[arg(long, requires = "name")]
        raw: bool,
    },
    /// Record what AWS holds in state; change nothing in AWS
    Refresh { stack: String },
    /// Inspect and repair state
    #[command(subcommand)]
    State(StateCommand),
    /// Bring an existing AWS object under management at ADDR
    Import {
        stack: String,
        addr: ResourceAddr,
        id: String,
        /// Print the block declaring the object as AWS describes it (ADDR not
        /// yet declared); records nothing
        #[arg(long)]
        generate_config: bool,
    },
    /// Remove the S3 state lock LOCK_ID left by a run that is gone
    ForceUnlock {
        stack: String,
        lock_id: String,
        /// Skip the confirmation prompt
        #[arg(long, visible_alias = "force")]
        auto_approve: bool,
    },
    /// Print pgstack's version and the file formats it reads and writes
    Version {
        /// As JSON: {"version", "saved_plan_format", "state_format", "plan_json_format"}
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script: pgstack completions bash > /etc/bash_completion.d/pgstack
    Completions {
        /// bash, zsh, fish, powershell or elvish
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    pub stack: String,
    /// Save the plan to this file for `apply PLAN`
    #[arg(short = 'o', long = "out", value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON (docs/json-format.md)
    #[arg(long)]
    pub json: bool,
    /// Exit 0 with no changes, 2 with changes
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Read current objects from AWS first (--refresh=false uses state as is)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// Limit to these addresses and their dependencies (repeatable)
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<ResourceAddr>,
    /// Replace this object although nothing forces it; a secret gets a new value instead (repeatable)
    #[arg(long = "replace", value_name = "ADDR", conflicts_with = "destroy")]
    pub replace: Vec<ResourceAddr>,
    /// Plan to destroy everything in state
    #[arg(long)]
    pub destroy: bool,
    /// With -o: save the plan although check rules of error severity fail;
    /// the plan records it and `apply PLAN` honours it
    #[arg(long, requires = "out")]
    pub skip_checks: bool,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Stack files or names, or directories whose *.toml files are stacks
    #[arg(required = true, value_name = "STACK")]
    pub stacks: Vec<String>,
    /// Text, JSON (docs/json-format.md), or Markdown for a pull-request comment
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    pub format: DriftFormat,
    /// How many stacks are checked at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A stack, or a plan saved with `plan -o`
    pub stack_or_plan: String,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Read current objects from AWS first (--refresh=false uses state as is)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// Replace this object although nothing forces it; a secret gets a new value instead (repeatable)
    #[arg(long = "replace", value_name = "ADDR")]
    pub replace: Vec<ResourceAddr>,
    /// Only record what AWS holds in state (after confirmation); change nothing in AWS
    #[arg(long, conflicts_with_all = ["refresh", "targets", "allow_destroy", "replace"])]
    pub refresh_only: bool,
    /// Apply although check rules of error severity fail (see `pgstack check`)
    #[arg(long)]
    pub skip_checks: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    pub stack: String,
    #[command(flatten)]
    pub change: ChangeArgs,
}

/// Flags of the commands that change AWS.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Skip the confirmation prompt
    #[arg(long)]
    pub auto_approve: bool,
    /// How many operations run at once
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Allow deleting or replacing this data-bearing resource (repeatable)
    #[arg(long = "allow-destroy", value_name = "ADDR")]
    pub allow_destroy: Vec<ResourceAddr>,
    /// Limit to these addresses and their dependencies (repeatable)
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<ResourceAddr>,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List managed addresses and their ids
    List {
        stack: String,
        /// As JSON: [{address, type, region, id, status}]
        #[arg(long)]
        json: bool,
    },
    /// Show one resource's recorded attributes
    Show { stack: String, addr: ResourceAddr },
    /// Stop managing ADDR (the AWS object is left alone)
    Rm { stack: String, addr: ResourceAddr },
    /// Rename a resource in state
    Mv { stack: String, from: ResourceAddr, to: ResourceAddr },
    /// Give STACK the state FILE recorded under its previous name (after `[stack] name` changed)
    RenameStack { stack: String, file: PathBuf },
    /// Write the state FILE (JSON) to the stack's backend, e.g. from a local file into S3
    Push { stack: String, file: PathBuf },
    /// Print the stack's stored state (JSON), or write it to a file
    Pull {
        stack: String,
        /// Write it to this file instead of stdout
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DriftFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CostFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

/// A command failure, rendered once by [`run`].
#[derive(Debug)]
pub enum CliError {
    /// Problems in the stack files.
    Diagnostics(SourceMap, Diagnostics),
    /// Anything else, with hints.
    Message(String, Vec<String>),
}

impl CliError {
    pub fn msg(m: impl Into<String>) -> Self {
        CliError::Message(m.into(), Vec::new())
    }
    pub fn hint(self, h: impl Into<String>) -> Self {
        match self {
            CliError::Message(m, mut hints) => {
                hints.push(h.into());
                CliError::Message(m, hints)
            }
            other => other,
        }
    }
}

impl From<crate::state::StateError> for CliError {
    fn from(e: crate::state::StateError) -> Self {
        use crate::state::StateError as E;
        let err = CliError::msg(e.to_string());
        let remote = |path: &str| path.starts_with("s3://");
        match &e {
            E::Locked(_) => err.hint("wait for that run to finish; a lock is released when its process exits"),
            E::UnreadableLock(lock) => err
                .hint(format!(
                    "if no pgstack run is using the stack, remove that object: pgstack force-unlock STACK {}",
                    crate::ui::shell_word(lock.etag_token())
                ))
                .hint("nothing was changed"),
            E::OtherLockObject { lock, .. } => err
                .hint(format!(
                    "force-unlock removes a lock object pgstack cannot read only by its current ETag: if no pgstack run is using the stack, run pgstack force-unlock STACK {}",
                    crate::ui::shell_word(lock.etag_token())
                ))
                .hint("nothing was changed"),
            E::SerialLimit { .. } => err
                .hint("a serial never gets this large by itself (285,000 years at one write a millisecond): the state was edited or written by another tool")
                .hint("to go on, write it back with a lower `serial` on purpose: edit a local state file; in S3, `pgstack state pull STACK -o FILE`, lower its serial, remove the stored object (a versioned bucket keeps it) and `pgstack state push STACK FILE`")
                .hint("nothing was changed in AWS"),
            E::Corrupt { path, .. } if remote(path) => err
                .hint("earlier versions are kept when the bucket has versioning: list them with `aws s3api list-object-versions --bucket BUCKET --prefix KEY`")
                .hint("nothing was changed"),
            E::Corrupt { path, .. } if std::path::Path::new(&format!("{path}.backup")).is_file() => err
                .hint(format!("the version before the last write is kept beside it as `{path}.backup`"))
                .hint(format!("inspect it, then restore it with: cp '{path}.backup' '{path}'"))
                .hint("nothing was changed"),
            E::Corrupt { .. } => err.hint("nothing was changed"),
            E::UnsupportedVersion { .. } => err.hint("use the pgstack version that wrote it, or a newer one"),
            E::WrongStack { found, expected, path } => err
                .hint(if remote(path) {
                    format!("check the backend's key ([backend] s3 or --backend-config key=...): it names the state of stack `{found}`")
                } else {
                    format!("check --state (or [state] path): it names the state of stack `{found}`")
                })
                .hint(format!(
                    "if `{expected}` was renamed from `{found}`, move the state over on purpose with `pgstack state rename-stack STACK FILE`"
                ))
                .hint("nothing was changed"),
            E::NotWritable { path, .. } if remote(path) => err
                .hint("run the command again: it takes the lock anew and reads the latest state")
                .hint("nothing was changed in AWS"),
            E::NotWritable { .. } => err
                .hint("make the state file's directory (and its .backup) writable, or pass --state FILE")
                .hint("nothing was changed in AWS"),
            E::Changed { .. } => err
                .hint("another run changed the stack meanwhile; run `pgstack plan` again to see where things stand")
                .hint("objects created since the last saved write carry ownership tags: the next apply finds and adopts them"),
            E::Remote { .. } => err
                .hint("check the bucket and region ([backend] s3 or --backend-config), AWS credentials and the network"),
            E::OtherLineage { .. } | E::OlderSerial { .. } => err
                .hint("compare the two first: `pgstack state pull STACK -o FILE` writes the stored state to a file")
                .hint("nothing was changed"),
            E::LockDeleteDenied { path, .. } => err
                .hint(format!(
                    "pgstack removes its lock only if it is still its own (DeleteObject with If-Match its ETag), and S3 allows such a delete only with both s3:DeleteObject and s3:GetObject: grant s3:GetObject on {} too",
                    crate::ui::safe(path)
                ))
                .hint("the lock stays until it is removed: once the permission is granted, remove it with the `pgstack force-unlock STACK LOCK_ID` a refused run prints"),
            E::WrongRegion { region: Some(region), .. } => {
                let region = crate::ui::shell_word(region);
                err.hint(format!(
                    "set the backend's region to the bucket's: `region = \"{region}\"` in [backend] s3, or --backend-config region={region}"
                ))
                .hint("nothing was changed")
            }
            E::WrongRegion { bucket, .. } => err
                .hint(format!(
                    "set the backend's region ([backend] s3 `region`, or --backend-config region=...) to the bucket's: `aws s3api get-bucket-location --bucket {}` names it",
                    crate::ui::shell_word(bucket)
                ))
                .hint("nothing was changed"),
            E::NoForceUnlock { .. } | E::NotLocked { .. } => err.hint("nothing was changed"),
            E::OtherLock { .. } => err
                .hint("force-unlock removes only the lock it names: copy the id from the error of the run that was refused")
                .hint("nothing was changed"),
            E::Moved { destination, path } => err
                .hint(format!(
                    "the stack's state lives in {destination} now: declare it (`[backend] s3 = {{ bucket = ..., key = ... }}`) or pass the --backend-config flags the push was given"
                ))
                .hint("a plan saved before the push is bound to the old file: make a new plan")
                .hint(format!(
                    "to go back to a local file on purpose: pull a copy (`pgstack state pull STACK -o copy.json` with the backend flags), remove `{path}.moved-to`, take the backend setting out, and `pgstack state push STACK copy.json`"
                ))
                .hint("nothing was changed"),
            E::Io { .. } | E::Invalid(_) => err,
        }
    }
}

impl From<crate::plan::saved::SavedPlanError> for CliError {
    fn from(e: crate::plan::saved::SavedPlanError) -> Self {
        use crate::plan::saved::SavedPlanError as E;
        let err = CliError::msg(e.to_string());
        match e {
            E::Tampered { .. } => err
                .hint("a saved plan is applied exactly as written by `pgstack plan -o`; make a new one")
                .hint("nothing was changed"),
            E::UnknownVersion { .. } => err.hint("make the plan again with this pgstack: `pgstack plan STACK -o PLAN`"),
            E::NotAPlan { .. } => err.hint("apply takes a stack (.toml) or a plan saved with `pgstack plan -o`"),
        }
    }
}

impl From<crate::engine::apply::ApplyError> for CliError {
    fn from(e: crate::engine::apply::ApplyError) -> Self {
        match e {
            crate::engine::apply::ApplyError::Guarded(addrs) => guard_refusal(&addrs),
            crate::engine::apply::ApplyError::State(e) => e.into(),
            e @ crate::engine::apply::ApplyError::NotInState(_) => {
                CliError::msg(e.to_string()).hint("make a new plan: `pgstack plan STACK`").hint("nothing was changed")
            }
        }
    }
}

/// The data-loss guard's refusal, with the flags that would allow it.
pub fn guard_refusal(addrs: &[ResourceAddr]) -> CliError {
    let names: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    let flags: Vec<String> = names.iter().map(|n| format!("--allow-destroy '{n}'")).collect();
    CliError::msg(format!("refusing to delete or replace data-bearing resources: {}", names.join(", ")))
        .hint(format!("if this is intended, run again with {}", flags.join(" ")))
        .hint("nothing was changed")
}

impl From<crate::engine::refresh::RefreshError> for CliError {
    fn from(e: crate::engine::refresh::RefreshError) -> Self {
        use crate::engine::refresh::RefreshError as R;
        use crate::provider::ProviderError as P;
        let err = CliError::msg(e.to_string());
        match &e {
            R::Read { source: P::Unreachable { .. } | P::Transport { .. }, .. }
            | R::List { source: P::Unreachable { .. } | P::Transport { .. }, .. } => {
                err.hint("check the network, region and endpoint (AWS_ENDPOINT_URL)")
            }
            R::Read { source: P::Api { code, .. }, .. } | R::List { source: P::Api { code, .. }, .. }
                if is_auth_error(code) =>
            {
                err.hint("check AWS credentials and permissions (AWS_PROFILE, --profile)")
            }
            _ => err,
        }
        .hint("nothing was changed")
    }
}

/// AWS error codes that mean the caller's credentials or permissions are at fault.
fn is_auth_error(code: &str) -> bool {
    [
        "AccessDenied",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "ExpiredToken",
        "AuthFailure",
        "UnrecognizedClient",
        "SignatureDoesNotMatch",
        "InvalidSignature",
    ]
    .iter()
    .any(|c| code.starts_with(c))
}

/// The refusal of addresses given with `flag` (`--target`, `--replace`)
/// that name nothing in `searched` ("the stack or its state").
fn unmatched_targets_error(flag: &str, searched: &str, unmatched: &[crate::plan::UnmatchedTarget]) -> CliError {
    let names: Vec<String> = unmatched.iter().map(|u| format!("`{}`", u.target)).collect();
    let mut err = CliError::msg(format!(
        "{flag} {} {} nothing in {searched}; nothing was planned",
        names.join(", "),
        if names.len() == 1 { "matches" } else { "match" }
    ));
    for u in unmatched {
        if let Some(s) = &u.suggestion {
            err = err.hint(format!("did you mean `{s}` instead of `{}`?", u.target));
        }
    }
    err.hint("`pgstack graph STACK` shows the stack's addresses, `pgstack state list STACK` the managed ones")
}

pub type CliResult = Result<ExitCode, CliError>;

/// Parses arguments, runs the command, renders any error, returns the exit code.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some((flag, hint)) = args.iter().skip(1).find_map(|a| terraform_flag(a)) {
        let no_color = args.iter().any(|a| a == "--no-color");
        let ui = Ui { style: Style::detect(no_color), verbose: false };
        ui.error(&format!("`{flag}` is a Terraform-style flag; pgstack's flags start with `--`"), &[hint]);
        return ExitCode::from(1);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    let ui = Ui { style: Style::detect(cli.global.no_color), verbose: cli.global.verbose };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            ui.error(&format!("cannot start the async runtime: {e}"), &[]);
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli, ui)) {
        Ok(code) => code,
        Err(CliError::Diagnostics(sources, diags)) => {
            ui.err(&crate::ui::diagnostics::render(&sources, &diags, ui.style));
            ExitCode::from(1)
        }
        Err(CliError::Message(m, hints)) => {
            ui.error(&m, &hints);
            ExitCode::from(1)
        }
    }
}

/// A single-dash, many-letter argument that names one of pgstack's long
/// flags (`-target=vpc.main`, `-auto-approve`, `-var k=v`), as Terraform
/// spells them: the argument and the "did you mean" hint. Short flags
/// (`-o`, `-v`) and anything else are left to clap.
fn terraform_flag(arg: &str) -> Option<(String, String)> {
    let rest = arg.strip_prefix('-').filter(|r| !r.starts_with('-'))?;
    let (name, value) = match rest.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (rest, None),
    };
    if name.len() < 2 || !name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        return None;
    }
    let cli = Cli::command();
    let known = std::iter::once(&cli)
        .chain(cli.get_subcommands())
        .flat_map(|c| c.get_arguments().filter_map(|a| a.get_long()).collect::<Vec<_>>())
        .any(|long| long == name);
    if !known {
        return None;
    }
    let suggestion = match value {
        Some(v) => format!("--{name} {v}"),
        None => format!("--{name}"),
    };
    Some((arg.to_owned(), format!("did you mean `{suggestion}`?")))
}

/// `--help` and `--version` print to stdout and exit 0; every usage error
/// prints clap's text to stderr and exits 1, never clap's 2 (which CI reads
/// as "changes present").
fn usage(e: &clap::Error) -> ExitCode {
    let no_color = std::env::args_os().any(|a| a == "--no-color");
    let ui = Ui { style: Style::detect(no_color), verbose: false };
    let text = if ui.style.color { e.render().ansi().to_string() } else { e.render().to_string() };
    if e.use_stderr() {
        ui.err(&text);
        ExitCode::from(1)
    } else {
        ui.out(&text);
        ExitCode::SUCCESS
    }
}

async fn dispatch(cli: Cli, ui: Ui) -> CliResult {
    let g = cli.global;
    match cli.command {
        Command::Validate { stack, json: false } => inspect::validate(&g, ui, &stack),
        Command::Validate { stack, json: true } => inspect::validate_json(&g, ui, &stack),
        Command::Check { stack, format, rules } => check::check(&g, ui, &stack, format, rules.as_deref()),
        Command::Plan(args) => plan::plan(&g, ui, args).await,
        Command::Apply(args) => apply::apply(&g, ui, args).await,
        Command::Destroy(args) => apply::destroy(&g, ui, args).await,
        Command::Drift(args) => drift::drift(&g, ui, args).await,
        Command::Cost { stack, format } => cost::cost(&g, ui, &stack, format),
        Command::Graph { stack, format } => inspect::graph(&g, ui, &stack, format),
        Command::Output { stack, name, json, raw } => {
            let format = match (json, raw) {
                (true, _) => inspect::OutputFormat::Json,
                (_, true) => inspect::OutputFormat::Raw,
                _ => inspect::OutputFormat::Text,
            };
            inspect::output(&g, ui, &stack, name.as_deref(), format).await
        }
        Command::Refresh { stack } => apply::refresh(&g, ui, &stack).await,
        Command::State(cmd) => inspect::state(&g, ui, cmd).await,
        Command::Import { stack, addr, id, generate_config: false } => apply::import(&g, ui, &stack, addr, id).await,
        Command::Import { stack, addr, id, generate_config: true } => {
            apply::generate_config(&g, ui, &stack, addr, id).await
        }
        Command::ForceUnlock { stack, lock_id, auto_approve } => {
            backend::force_unlock(&g, ui, &stack, &lock_id, auto_approve).await
        }
        Command::Version { json } => meta::version(ui, json),
        Command::Completions { shell } => meta::completions(ui, shell),
    }
}
