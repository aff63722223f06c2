//! The `jules` command line. Parses arguments, runs a command, maps its result to an
//! exit code. Commands print to stdout/stderr only; they never panic on bad input.

mod admin;
mod chat;
mod keys;
mod migrate;
mod policy;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "jules", version, about = "Jules: an SMS AI companion backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (config from the environment and an optional .env).
    Serve,
    /// Talk to Jules in the terminal through the real pipeline, as the given number.
    Chat {
        /// The phone number you text from (E.164, e.g. +15551234567).
        #[arg(long)]
        from: String,
    },
    /// Apply the database migrations (`apply`, the default) or list which are applied
    /// (`status`): Postgres at DATABASE_URL, else the embedded store in DATA_DIR.
    Migrate {
        #[arg(default_value = "apply", value_parser = ["apply", "status"])]
        action: String,
    },
    /// Encryption keys for stored personal data.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Work with policy bundles (crisis detection, compliance, prompt building).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The configuration (from the environment and an optional .env).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Admin API tokens.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Review crisis events through a host's admin API (role `reviewer`).
    #[command(subcommand)]
    Crisis(CrisisCommand),
    /// The people Jules talks with (DATABASE_URL, else the embedded store).
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Erase a person's texts, name, email, preferences, age-check links and memory and
    /// text them a confirmation. What proves what happened stays: the blind index of
    /// their number, their statuses and times, and their number sealed (to answer them).
    /// Exit status: 0 erased, 1 nobody has this number.
    Erase {
        /// Their number (E.164, e.g. +15551234567).
        #[arg(long)]
        phone: String,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Mint an admin API token: HS256 with JWT_SECRET_KEY, or EdDSA with --key.
    Token {
        /// Who the token is for (recorded with every change it makes).
        #[arg(long)]
        sub: String,
        /// viewer, author, approver or reviewer.
        #[arg(long)]
        role: String,
        /// How long it is valid: e.g. 90s, 30m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// An ed25519 key file from `jules policy keygen` (hosts set JWT_PUBLIC_KEY).
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

/// A host's admin API, for commands that can run through it.
#[derive(clap::Args, Clone)]
pub struct Remote {
    /// The admin API's base URL (e.g. http://127.0.0.1:8000); without it the command
    /// works on DATABASE_URL directly.
    #[arg(long, env = "JULES_ADMIN_URL")]
    pub admin: Option<String>,
    /// The bearer token (`jules admin token`).
    #[arg(long, env = "JULES_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand)]
pub enum CrisisCommand {
    /// Open crisis events, newest first (no texts).
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// One event with its conversation's recent turns (the access is recorded).
    Show {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Close an event: reached-out, referred, no-action-needed or false-positive.
    Close {
        id: String,
        #[arg(long)]
        outcome: String,
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// List every setting production would refuse to start with, and why (whatever
    /// ENVIRONMENT is). Exit status: 0 when there is none, 1 when there is one.
    Check,
    /// Print the configuration reference: every variable, its default and what
    /// production needs (the source of .env.example and docs/configuration.md).
    Reference {
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReferenceFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ReferenceFormat {
    /// docs/configuration.md
    Markdown,
    /// .env.example
    Env,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Re-seal every stored value under the active key (the first of ENCRYPTION_KEYS),
    /// in batches, while hosts keep serving. Safe to interrupt and run again.
    Rotate {
        /// Values read per batch.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..))]
        batch: i64,
    },
    /// Count stored values per key id (an older key can go once it seals nothing).
    Status,
    /// Print a new random key as `ID:BASE64` for ENCRYPTION_KEYS.
    Generate {
        /// The new key's id (letters, digits, `-`, `_`).
        id: String,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Run a bundle's fixture corpora through its component and score them.
    ///
    /// Exit status: 0 when every fixture passes, 1 when one fails, 2 when the bundle
    /// or a corpus cannot be loaded.
    Test {
        /// The bundle's folder (holding bundle.toml).
        bundle: PathBuf,
        /// A corpus file (JSONL); repeatable. Default: the corpora the manifest lists.
        #[arg(long = "corpus", value_name = "FILE")]
        corpus: Vec<PathBuf>,
        /// `text` (a table and the failing fixtures) or `junit` (JUnit XML).
        #[arg(long, default_value = "text", value_parser = ["text", "junit"])]
        format: String,
        /// Write the report here instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Hide the progress bar.
        #[arg(long)]
        no_progress: bool,
    },
    /// Make an ed25519 signing key pair: ID.key (private, mode 0600) and ID.pub (the
    /// `ID:BASE64` entry for POLICY_TRUSTED_KEYS) in DIR.
    Keygen {
        /// The key's id, named by every signature it makes (letters, digits, `-_.`).
        #[arg(long)]
        id: String,
        /// Where to write the two files.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Sign a bundle: write signature.json beside its manifest (name, version, world,
    /// WIT version and digest, signed with the key).
    Sign {
        /// The bundle's folder.
        bundle: PathBuf,
        /// The private key file from `jules policy keygen`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Check a bundle's signature against POLICY_TRUSTED_KEYS as production would.
    /// Exit status: 0 when it verifies, 2 when it is refused (the reason is printed).
    Verify {
        /// The bundle's folder.
        bundle: PathBuf,
    },
    /// Push a bundle to an OCI registry as a Wasm OCI artifact; prints the reference
    /// pinned to what was pushed (`host/repository@sha256:…`).
    Push {
        /// The bundle's folder.
        bundle: PathBuf,
        /// Where: `host[:port]/repository:tag` (plain HTTP only on loopback).
        reference: String,
    },
    /// Pull a bundle from an OCI registry into a new folder.
    Pull {
        reference: String,
        /// The folder to create.
        dir: PathBuf,
    },
    /// Make a bundle active fleet-wide: stage it, wait for the live hosts to prepare it
    /// (fetch, verify, compile), then make it active and wait for them to serve it.
    /// Exit status: 0 when every live host serves it, 1 when one does not (yet), 2
    /// when nothing changed (the reason is printed).
    Activate {
        /// crisis-detector, compliance-policy or prompt-builder.
        world: String,
        /// A registry reference, or a folder every host can read.
        source: String,
        /// Why, for the history.
        #[arg(long)]
        reason: String,
        /// Activate a crisis bundle even though its shadow or its diff against the
        /// active one shows a regression; why goes into the history.
        #[arg(long, value_name = "WHY")]
        accept_regression: Option<String>,
        /// Seconds to wait for the hosts at each step.
        #[arg(long, default_value_t = 60)]
        wait: u64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Make the previous bundle of a world active again (exit status as `activate`).
    Rollback {
        world: String,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value_t = 60)]
        wait: u64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Give a candidate a share of live crisis messages beside the active bundle (its
    /// decisions are recorded, never acted on), or stop it with --stop.
    Shadow {
        world: String,
        /// The candidate: a registry reference or a folder the hosts can read.
        source: Option<String>,
        /// The share of messages it is given, 0 to 1.
        #[arg(long, default_value_t = 0.25)]
        sample: f64,
        #[arg(long)]
        stop: bool,
        #[arg(long, default_value = "shadow")]
        reason: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// What the shadow saw: active vs candidate per severity and category, agreement,
    /// the disagreements newest first (message ids, never text).
    ShadowReport {
        world: String,
        /// How far back: e.g. 90m, 24h, 7d.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Disagreements listed at most.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Show the disagreeing messages' texts (through the admin API, as an approver;
        /// each opening is recorded).
        #[arg(long)]
        show_text: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Activate the shadow as it is (same digest) and stop it; the report's figures go
    /// into the history with the reason. Exit status as `activate`.
    Promote {
        world: String,
        #[arg(long)]
        reason: String,
        /// As for `activate`.
        #[arg(long, value_name = "WHY")]
        accept_regression: Option<String>,
        #[arg(long, default_value_t = 60)]
        wait: u64,
        #[command(flatten)]
        remote: Remote,
    },
    /// The desired bundle per world and what each live host serves, with its errors.
    /// Exit status: 0 when every host serves the desired state, 1 while one does not.
    Status {
        #[command(flatten)]
        remote: Remote,
    },
    /// Every change, newest first: who, when, why.
    History {
        world: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Two versions of a bundle on the same corpora: changed decisions with evidence,
    /// per-label precision and recall of both, a verdict. Exit status: 0 when NEW
    /// regresses nowhere (or only where --allow accepts it), 1 when it loses recall on
    /// a crisis label, misses an `imminent` OLD caught, or changes an opt-out or age
    /// decision; 2 when a bundle or corpus cannot be loaded.
    Diff {
        /// The bundle in use: a folder or a registry reference.
        old: String,
        /// The bundle proposed.
        new: String,
        /// A corpus file (JSONL); repeatable. Default: NEW's (else OLD's) manifest corpora.
        #[arg(long = "corpus", value_name = "FILE")]
        corpus: Vec<PathBuf>,
        /// A fixture id whose regression is accepted; repeatable.
        #[arg(long = "allow", value_name = "FIXTURE")]
        allow: Vec<String>,
        /// `text`, `json` or `junit`.
        #[arg(long, default_value = "text", value_parser = ["text", "json", "junit"])]
        format: String,
        /// Write the report here instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Hide the progress bar.
        #[arg(long)]
        no_progress: bool,
    },
    /// Describe a component: world, WIT version, exports, imports; refuse capability
    /// imports beyond the deny-all set (exit 2).
    Check {
        /// The component file (.wasm).
        component: PathBuf,
    },
}

/// The command line. `serve --help` lists every variable with its default; the list
/// is rendered (building a configuration twice) only when help is asked for.
fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let mut command = Cli::command();
    if std::env::args().any(|a| a == "--help" || a == "help") {
        command = command.mut_subcommand("serve", |serve| {
            serve.after_long_help(crate::config::reference::help_text())
        });
    }
    Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
}

pub fn main() -> ExitCode {
    // A missing .env is normal; an unreadable or malformed one is not.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: .env: {e}");
        return ExitCode::from(2);
    }
    let cli = parse();
    init_logging();
    match cli.command {
        Command::Serve => serve(),
        Command::Migrate { action } => migrate::run(&action),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Chat { from } => chat::run(&from),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Config(ConfigCommand::Check) => check_config(),
        Command::Config(ConfigCommand::Reference { format }) => {
            print!(
                "{}",
                match format {
                    ReferenceFormat::Markdown => crate::config::reference::markdown(),
                    ReferenceFormat::Env => crate::config::reference::env_file(),
                }
            );
            ExitCode::SUCCESS
        }
        Command::Admin(cmd) => admin::run(cmd),
        Command::Crisis(cmd) => admin::crisis(cmd),
        Command::Users(UsersCommand::Erase { phone }) => users::erase(&phone),
    }
}

/// The log filter when LOG_LEVEL is unset. Postgres NOTICEs ("relation already
/// exists, skipping") are not news.
pub const DEFAULT_LOG_FILTER: &str = "info,tokio_postgres=warn";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Production logs are JSON lines for the log pipeline; they never hold message text
    // or phone numbers (nothing logs them).
    let production = std::env::var("ENVIRONMENT").is_ok_and(|e| e.trim() == "production");
    let json = production.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
    });
    let plain =
        (!production).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(plain)
        .with(crate::reporting::layers())
        .try_init();
}

/// The configuration, or None after saying which variable is wrong.
fn config() -> Option<crate::config::Config> {
    crate::config::Config::from_env()
        .map_err(|e| eprintln!("error: invalid configuration: {e}"))
        .ok()
}

fn check_config() -> ExitCode {
    let Some(config) = config() else {
        return ExitCode::from(2);
    };
    let set = |name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let keys_set = set("ENCRYPTION_KEYS") && set("BLIND_INDEX_KEY");
    let refused = crate::config::production::refusals(&config, keys_set);
    println!("environment: {}", config.environment);
    if refused.is_empty() {
        println!("production would start: no development stand-ins are configured");
        return ExitCode::SUCCESS;
    }
    println!("production would refuse to start:");
    for r in &refused {
        println!("  {r}");
    }
    ExitCode::FAILURE
}

fn serve() -> ExitCode {
    let Some(config) = config() else {
        return ExitCode::from(2);
    };
    // Held until the host stops: dropping it sends what is queued.
    let _reporting = match crate::reporting::init(
        config.sentry_dsn.as_deref(),
        &config.environment.to_string(),
    ) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    run_async(async {
        match crate::startup::serve(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Run an async computation on a fresh runtime and return its value.
fn run_async_value<T>(
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
        .block_on(f)
}

/// Run an async command on a fresh multi-threaded runtime.
fn run_async(command: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
