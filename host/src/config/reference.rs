//! Every variable Jules reads, described once: `.env.example`, `docs/configuration.md`
//! and `jules serve --help` are rendered from this table, and the defaults they show are
//! read off a `Config` the code builds from an environment with nothing set (providers
//! switched on with placeholders, so their defaults show too). A test checks that the
//! table names exactly the variables the code reads and that the files are up to date.

use std::fmt::Write as _;
use std::time::Duration;

use super::Config;

/// What a variable shows as its value.
pub enum Shown {
    /// Set in `.env.example` to the code's default.
    Default(fn(&Config) -> String),
    /// Commented out: the code's default once its provider is switched on.
    Off(fn(&Config) -> String),
    /// Commented out with an example: unset means off, or a default the text explains.
    Example(&'static str),
    /// Set to a constant the code uses.
    Fixed(&'static str),
}

pub struct Var {
    pub name: &'static str,
    pub shown: Shown,
}

/// Variables described together.
pub struct Block {
    /// Starts a group with this title.
    pub group: Option<&'static str>,
    pub about: &'static str,
    pub vars: &'static [Var],
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

fn anthropic(c: &Config) -> Option<&crate::llm::Anthropic> {
    c.services.llm.providers.iter().find_map(|p| match p {
        crate::llm::Provider::Anthropic(a) => Some(a),
        _ => None,
    })
}

fn openai(c: &Config) -> Option<&crate::llm::OpenAi> {
    c.services.llm.providers.iter().find_map(|p| match p {
        crate::llm::Provider::OpenAi(o) => Some(o),
        _ => None,
    })
}

pub const BLOCKS: &[Block] = &[
    Block {
        group: Some("Server"),
        about: "development | staging | production",
        vars: &[Var {
            name: "ENVIRONMENT",
            shown: Shown::Default(|c| c.environment.to_string()),
        }],
    },
    Block {
        group: None,
        about: "Address and port of the HTTP server.",
        vars: &[
            Var {
                name: "HOST",
                shown: Shown::Default(|c| c.host.clone()),
            },
            Var {
                name: "PORT",
                shown: Shown::Default(|c| c.port.to_string()),
            },
        ],
    },
    Block {
        group: None,
        about: "Local state: the embedded store (jules.sqlite3), development keys, compiled-policy cache.",
        vars: &[Var {
            name: "DATA_DIR",
            shown: Shown::Default(|c| c.data_dir.display().to_string()),
        }],
    },
    Block {
        group: Some("Database"),
        about: "PostgreSQL for production. Unset: the embedded store, one SQLite file in $DATA_DIR (one host only). `jules migrate` applies the schema (migrations/postgres or migrations/sqlite); `jules migrate status` lists applied and pending migrations. The host's connections plan each statement once (plan_cache_mode=force_generic_plan) unless the URL's `options` set plan_cache_mode themselves.",
        vars: &[Var {
            name: "DATABASE_URL",
            shown: Shown::Example("postgres://jules@127.0.0.1:5432/jules"),
        }],
    },
    Block {
        group: None,
        about: "Connections in each of a host's two Postgres pools: one for the workers, one for webhook acknowledgements (so a host opens up to twice this many). More connections than the database has cores to run them only add contention: on a 2-core machine shared with Postgres, 8 answered acks and conversations faster than 16 or 32.",
        vars: &[Var {
            name: "DATABASE_POOL_SIZE",
            shown: Shown::Default(|c| c.database_pool_size.to_string()),
        }],
    },
    Block {
        group: None,
        about: "Apply pending migrations when `jules serve` starts. false: refuse to start on an old schema (run `jules migrate` from a release job instead).",
        vars: &[Var {
            name: "MIGRATE_ON_START",
            shown: Shown::Default(|c| c.migrate_on_start.to_string()),
        }],
    },
    Block {
        group: Some("Conversation memory"),
        about: "Redis for conversation memory, shared by every host; values are sealed like the database's. Unset: an in-process cache (this host only). If Redis fails, the database answers and the failure is logged and counted (/health shows it).",
        vars: &[Var {
            name: "REDIS_URL",
            shown: Shown::Example("redis://127.0.0.1:6379/"),
        }],
    },
    Block {
        group: None,
        about: "Seconds a user's memory lives in Redis after its last write.",
        vars: &[Var {
            name: "REDIS_SESSION_TTL",
            shown: Shown::Default(|c| c.memory.ttl.as_secs().to_string()),
        }],
    },
    Block {
        group: None,
        about: "Prefix of every Redis key (to share one Redis between deployments).",
        vars: &[Var {
            name: "REDIS_KEY_PREFIX",
            shown: Shown::Default(|c| c.memory.key_prefix.clone()),
        }],
    },
    Block {
        group: None,
        about: "Recent turns kept per user.",
        vars: &[Var {
            name: "MEMORY_TURNS",
            shown: Shown::Default(|c| c.memory.turns.to_string()),
        }],
    },
    Block {
        group: None,
        about: "Users the in-process cache keeps (least recently used leave first).",
        vars: &[Var {
            name: "MEMORY_LOCAL_USERS",
            shown: Shown::Default(|c| c.memory.local_users.to_string()),
        }],
    },
    Block {
        group: Some("Personal data keys"),
        about: "Personal data keys. ENCRYPTION_KEYS: comma-separated `id:base64(32 bytes)`, the first is active. To rotate: `jules keys generate NEW_ID`, prepend it, restart the hosts, run `jules keys rotate` (batched, resumable, safe while serving), check `jules keys status`, then remove the old key. BLIND_INDEX_KEY: base64 of ≥ 32 bytes (head -c 32 /dev/urandom | base64). Production refuses to start without both. In development, when neither is set, keys are generated once into $DATA_DIR/dev-keys.env and reused (keep that file).",
        vars: &[
            Var {
                name: "ENCRYPTION_KEYS",
                shown: Shown::Example("2026-11:..."),
            },
            Var {
                name: "BLIND_INDEX_KEY",
                shown: Shown::Example("..."),
            },
        ],
    },
    Block {
        group: Some("Policies"),
        about: "Policy bundles: one folder per bundle (bundle.toml + component + config).",
        vars: &[Var {
            name: "POLICY_DIR",
            shown: Shown::Default(|c| c.policy_dir.display().to_string()),
        }],
    },
    Block {
        group: None,
        about: "Compiled, pre-initialized components are cached here (default: $DATA_DIR/policy-cache).",
        vars: &[Var {
            name: "POLICY_CACHE_DIR",
            shown: Shown::Example(""),
        }],
    },
    Block {
        group: None,
        about: "Linear memory one policy call may use, in MiB.",
        vars: &[Var {
            name: "POLICY_MEMORY_LIMIT_MB",
            shown: Shown::Default(|c| (c.policy.memory_limit_bytes >> 20).to_string()),
        }],
    },
    Block {
        group: None,
        about: "Wall-clock budget of one policy call, in milliseconds.",
        vars: &[Var {
            name: "POLICY_DEADLINE_MS",
            shown: Shown::Default(|c| ms(c.policy.deadline)),
        }],
    },
    Block {
        group: None,
        about: "Policy calls run at once, each on a blocking thread beside the async workers, so a component spinning to its deadline never delays webhook acks (default: the cores).",
        vars: &[Var {
            name: "POLICY_CONCURRENCY",
            shown: Shown::Example(""),
        }],
    },
    Block {
        group: None,
        about: "The keys whose signatures this host accepts on bundles, `id:base64-public-key` (the line `jules policy keygen` writes to ID.pub), several separated by commas. Production loads signed bundles only; development also loads unsigned ones and says so.",
        vars: &[Var {
            name: "POLICY_TRUSTED_KEYS",
            shown: Shown::Example("safety-2026:..."),
        }],
    },
    Block {
        group: None,
        about: "Credentials for the OCI registry bundles are pulled from (default: anonymous).",
        vars: &[
            Var {
                name: "POLICY_REGISTRY_USERNAME",
                shown: Shown::Example(""),
            },
            Var {
                name: "POLICY_REGISTRY_PASSWORD",
                shown: Shown::Example(""),
            },
        ],
    },
    Block {
        group: None,
        about: "This host's name in policy heartbeats (`jules policy status`); default: hostname-pid.",
        vars: &[Var {
            name: "HOST_ID",
            shown: Shown::Example(""),
        }],
    },
    Block {
        group: Some("Admin API, errors, traces, age checks and subscriptions"),
        about: "The admin API (/admin/v1): tokens are JWTs signed with JWT_SECRET_KEY (HS256, 32 bytes or more; `jules admin token` mints them) or verified with JWT_PUBLIC_KEY (an ed25519 public key, EdDSA). Neither set: the admin API is off.",
        vars: &[
            Var {
                name: "JWT_SECRET_KEY",
                shown: Shown::Example(""),
            },
            Var {
                name: "JWT_PUBLIC_KEY",
                shown: Shown::Example(""),
            },
        ],
    },
    Block {
        group: None,
        about: "Serve the admin API on this address only, not beside the webhooks.",
        vars: &[Var {
            name: "ADMIN_ADDR",
            shown: Shown::Example("127.0.0.1:8001"),
        }],
    },
    Block {
        group: None,
        about: "Messages waiting for a crisis shadow (`jules policy shadow`) at most; more are dropped and counted (/health), never delaying a reply.",
        vars: &[Var {
            name: "SHADOW_QUEUE",
            shown: Shown::Default(|c| c.services.pipeline.shadow_queue.to_string()),
        }],
    },
    Block {
        group: None,
        about: "Report errors and panics to Sentry (a DSN); events carry the request id, bundle digest, environment and release, never message text or phone numbers.",
        vars: &[Var {
            name: "SENTRY_DSN",
            shown: Shown::Example("https://public-key@o0.ingest.sentry.io/0"),
        }],
    },
    Block {
        group: None,
        about: "Age verification by Veriff, when the compliance bundle asks for it (the shipped one does). Sessions are created at VERIFF_BASE_URL; decisions are posted to $PUBLIC_URL/webhooks/veriff (set it as the webhook URL in Veriff's station) and checked with VERIFF_SHARED_SECRET. Unset in development: a stand-in believes a date of birth texted in reply, and says so. Production refuses to start without it while the compliance bundle in POLICY_DIR gates on age.",
        vars: &[
            Var {
                name: "VERIFF_API_KEY",
                shown: Shown::Example(""),
            },
            Var {
                name: "VERIFF_SHARED_SECRET",
                shown: Shown::Example(""),
            },
            Var {
                name: "VERIFF_BASE_URL",
                shown: Shown::Off(|c| {
                    c.services
                        .veriff
                        .as_ref()
                        .map(|v| v.base_url.clone())
                        .unwrap_or_default()
                }),
            },
        ],
    },
    Block {
        group: None,
        about: "Premium subscriptions by Stripe: UPGRADE answers with a Checkout link for STRIPE_PRICE_ID, CANCEL PLAN with a Customer Portal link, both returning to STRIPE_RETURN_URL. Stripe's events are posted to $PUBLIC_URL/webhooks/stripe (add the endpoint in Stripe's dashboard with checkout.session.completed, customer.subscription.*, invoice.paid, invoice.payment_failed) and checked with STRIPE_WEBHOOK_SECRET. Unset: UPGRADE answers that Premium is not available.",
        vars: &[
            Var {
                name: "STRIPE_SECRET_KEY",
                shown: Shown::Example(""),
            },
            Var {
                name: "STRIPE_PRICE_ID",
                shown: Shown::Example(""),
            },
            Var {
                name: "STRIPE_WEBHOOK_SECRET",
                shown: Shown::Example(""),
            },
            Var {
                name: "STRIPE_RETURN_URL",
                shown: Shown::Example("https://jules.example.com/premium"),
            },
            Var {
                name: "STRIPE_API_URL",
                shown: Shown::Off(|c| {
                    c.services
                        .stripe
                        .as_ref()
                        .map(|s| s.api_url.clone())
                        .unwrap_or_default()
                }),
            },
        ],
    },
    Block {
        group: None,
        about: "Traces of every turn in Langfuse (policy decisions with their bundle digests, model attempts with tokens and latency), sent in batches off the reply path. Texts are sent only with LANGFUSE_CAPTURE_CONTENT=true, and then with numbers, emails and names masked.",
        vars: &[
            Var {
                name: "LANGFUSE_PUBLIC_KEY",
                shown: Shown::Example(""),
            },
            Var {
                name: "LANGFUSE_SECRET_KEY",
                shown: Shown::Example(""),
            },
            Var {
                name: "LANGFUSE_HOST",
                shown: Shown::Off(|c| {
                    c.services
                        .langfuse
                        .as_ref()
                        .map(|l| l.host.clone())
                        .unwrap_or_default()
                }),
            },
            Var {
                name: "LANGFUSE_CAPTURE_CONTENT",
                shown: Shown::Off(|c| {
                    c.services
                        .langfuse
                        .as_ref()
                        .map(|l| l.capture_content.to_string())
                        .unwrap_or_default()
                }),
            },
        ],
    },
    Block {
        group: None,
        about: "For the CLI: run policy and crisis commands through a host's admin API.",
        vars: &[
            Var {
                name: "JULES_ADMIN_URL",
                shown: Shown::Example("http://127.0.0.1:8001"),
            },
            Var {
                name: "JULES_ADMIN_TOKEN",
                shown: Shown::Example(""),
            },
        ],
    },
    Block {
        group: Some("Webhooks"),
        about: "The base URL carriers reach this host at (Twilio signs the full URL; Twilio's delivery reports are requested at $PUBLIC_URL/webhooks/twilio/status).",
        vars: &[Var {
            name: "PUBLIC_URL",
            shown: Shown::Example("https://jules.example.com"),
        }],
    },
    Block {
        group: None,
        about: "Largest webhook body accepted (bytes; larger → 413) and the time limit of a request.",
        vars: &[
            Var {
                name: "MAX_BODY_BYTES",
                shown: Shown::Default(|c| c.services.http.max_body_bytes.to_string()),
            },
            Var {
                name: "REQUEST_TIMEOUT_MS",
                shown: Shown::Default(|c| ms(c.services.http.timeout)),
            },
        ],
    },
    Block {
        group: Some("Bandwidth"),
        about: "Bandwidth (SMS in and out). Set BANDWIDTH_ACCOUNT_ID to send through Bandwidth; the rest are then required. Inbound: POST /webhooks/bandwidth (or /webhooks/sms).",
        vars: &[
            Var {
                name: "BANDWIDTH_ACCOUNT_ID",
                shown: Shown::Example(""),
            },
            Var {
                name: "BANDWIDTH_USERNAME",
                shown: Shown::Example(""),
            },
            Var {
                name: "BANDWIDTH_PASSWORD",
                shown: Shown::Example(""),
            },
            Var {
                name: "BANDWIDTH_APPLICATION_ID",
                shown: Shown::Example(""),
            },
            Var {
                name: "BANDWIDTH_NUMBER",
                shown: Shown::Example("+15550001111"),
            },
            Var {
                name: "BANDWIDTH_API_URL",
                shown: Shown::Off(|c| {
                    c.services
                        .bandwidth
                        .as_ref()
                        .map(|b| b.base_url.clone())
                        .unwrap_or_default()
                }),
            },
        ],
    },
    Block {
        group: None,
        about: "Basic credentials Bandwidth must present on callbacks (its 401 challenge flow); unset accepts callbacks without credentials.",
        vars: &[
            Var {
                name: "BANDWIDTH_WEBHOOK_USERNAME",
                shown: Shown::Example(""),
            },
            Var {
                name: "BANDWIDTH_WEBHOOK_PASSWORD",
                shown: Shown::Example(""),
            },
        ],
    },
    Block {
        group: Some("Twilio"),
        about: "Twilio (SMS in and out). Inbound: POST /webhooks/twilio, verified with X-Twilio-Signature (needs TWILIO_AUTH_TOKEN and PUBLIC_URL; without them Twilio callbacks are refused). Set TWILIO_ACCOUNT_SID to send through Twilio.",
        vars: &[
            Var {
                name: "TWILIO_ACCOUNT_SID",
                shown: Shown::Example(""),
            },
            Var {
                name: "TWILIO_AUTH_TOKEN",
                shown: Shown::Example(""),
            },
            Var {
                name: "TWILIO_NUMBER",
                shown: Shown::Example("+15550001111"),
            },
            Var {
                name: "TWILIO_API_URL",
                shown: Shown::Off(|c| {
                    c.services
                        .twilio
                        .as_ref()
                        .map(|t| t.base_url.clone())
                        .unwrap_or_default()
                }),
            },
        ],
    },
    Block {
        group: None,
        about: "With no carrier configured, replies are printed (the console carrier).",
        vars: &[],
    },
    Block {
        group: Some("Language models"),
        about: "Language models: Claude first, OpenAI as fallback, then a safe canned reply. With neither key, the offline responder answers (deterministic; shown on /health).",
        vars: &[
            Var {
                name: "ANTHROPIC_API_KEY",
                shown: Shown::Example(""),
            },
            Var {
                name: "ANTHROPIC_MODEL",
                shown: Shown::Off(|c| anthropic(c).map(|a| a.model.clone()).unwrap_or_default()),
            },
            Var {
                name: "ANTHROPIC_BASE_URL",
                shown: Shown::Off(|c| anthropic(c).map(|a| a.base_url.clone()).unwrap_or_default()),
            },
            Var {
                name: "OPENAI_API_KEY",
                shown: Shown::Example(""),
            },
            Var {
                name: "OPENAI_MODEL",
                shown: Shown::Off(|c| openai(c).map(|o| o.model.clone()).unwrap_or_default()),
            },
            Var {
                name: "OPENAI_BASE_URL",
                shown: Shown::Off(|c| openai(c).map(|o| o.base_url.clone()).unwrap_or_default()),
            },
        ],
    },
    Block {
        group: None,
        about: "One attempt's time limit; retries (429/408/409/5xx/network, honouring retry-after, never insufficient quota) and their first backoff.",
        vars: &[
            Var {
                name: "LLM_TIMEOUT_MS",
                shown: Shown::Default(|c| ms(c.services.llm.timeout)),
            },
            Var {
                name: "LLM_RETRIES",
                shown: Shown::Default(|c| c.services.llm.retry.retries.to_string()),
            },
            Var {
                name: "LLM_RETRY_BASE_MS",
                shown: Shown::Default(|c| ms(c.services.llm.retry.base)),
            },
        ],
    },
    Block {
        group: None,
        about: "Consecutive failures that open a provider's circuit, and how long it stays open.",
        vars: &[
            Var {
                name: "LLM_BREAKER_THRESHOLD",
                shown: Shown::Default(|c| c.services.llm.breaker_threshold.to_string()),
            },
            Var {
                name: "LLM_BREAKER_COOLDOWN_MS",
                shown: Shown::Default(|c| ms(c.services.llm.breaker_cooldown)),
            },
        ],
    },
    Block {
        group: Some("Pipeline"),
        about: "The pipeline. Texts from one person closer together than this are one turn (0: each at once).",
        vars: &[Var {
            name: "COALESCE_WINDOW_MS",
            shown: Shown::Default(|c| ms(c.services.pipeline.quiet)),
        }],
    },
    Block {
        group: None,
        about: "How long a worker owns a conversation or an outbox row before another replica may take it over (a crashed worker's work resumes after this).",
        vars: &[Var {
            name: "WORK_LEASE_MS",
            shown: Shown::Default(|c| ms(c.services.pipeline.lease)),
        }],
    },
    Block {
        group: None,
        about: "How often idle workers look for work stored by other replicas.",
        vars: &[Var {
            name: "WORK_POLL_MS",
            shown: Shown::Default(|c| ms(c.services.pipeline.poll)),
        }],
    },
    Block {
        group: None,
        about: "Conversations one host processes at once (most of them wait on the model).",
        vars: &[Var {
            name: "WORKER_CONCURRENCY",
            shown: Shown::Default(|c| c.services.pipeline.concurrency.to_string()),
        }],
    },
    Block {
        group: None,
        about: "On SIGTERM (or ctrl-c) /ready answers 503, no new turn starts, and turns already started get this long to finish; their sends then get 10 s more. Keep the sum under the container's stop timeout. What is left resumes when its lease ends.",
        vars: &[Var {
            name: "SHUTDOWN_TURNS_MS",
            shown: Shown::Default(|c| ms(c.services.pipeline.shutdown_turns)),
        }],
    },
    Block {
        group: None,
        about: "Messages one host has in flight to its carriers at once (each send waits on the carrier's API; a carrier answering in 200 ms lets 128 carry 640 messages a second).",
        vars: &[Var {
            name: "OUTBOX_CONCURRENCY",
            shown: Shown::Default(|c| c.services.pipeline.send_concurrency.to_string()),
        }],
    },
    Block {
        group: None,
        about: "Send attempts before a reply is dead-lettered, and the first retry delay (doubling, with jitter, capped at 5 minutes).",
        vars: &[
            Var {
                name: "OUTBOX_MAX_ATTEMPTS",
                shown: Shown::Default(|c| c.services.pipeline.max_attempts.to_string()),
            },
            Var {
                name: "OUTBOX_RETRY_BASE_MS",
                shown: Shown::Default(|c| ms(c.services.pipeline.retry_base)),
            },
        ],
    },
    Block {
        group: None,
        about: "After a send whose outcome is unknown (a timeout, a dropped connection, a crash), how long before the carrier is asked whether it took the message; it is sent again only if the carrier has no such message (carriers list a message shortly after taking it).",
        vars: &[Var {
            name: "OUTBOX_SETTLE_AFTER_MS",
            shown: Shown::Default(|c| ms(c.services.pipeline.settle_after)),
        }],
    },
    Block {
        group: None,
        about: "How long a carrier's API may take to answer a send; one that answers later has an unknown outcome (settled as above).",
        vars: &[Var {
            name: "CARRIER_TIMEOUT_MS",
            shown: Shown::Default(|c| ms(c.services.carrier_timeout)),
        }],
    },
    Block {
        group: None,
        about: "Told about every crisis escalation (JSON: event, user and message ids, severity, categories; never the text).",
        vars: &[Var {
            name: "CRISIS_ALERT_URL",
            shown: Shown::Example(""),
        }],
    },
    Block {
        group: Some("Logs"),
        about: "Log filter (tracing EnvFilter syntax): error, warn, info, debug, or per module. Production logs are JSON lines. Logs never hold message text or phone numbers.",
        vars: &[Var {
            name: "LOG_LEVEL",
            shown: Shown::Fixed(crate::cli::DEFAULT_LOG_FILTER),
        }],
    },
];

/// Every provider switched on with placeholders, nothing else set: the code's defaults
/// for everything, providers' included.
const PROVIDERS_ON: &[(&str, &str)] = &[
    ("BANDWIDTH_ACCOUNT_ID", "placeholder"),
    ("BANDWIDTH_USERNAME", "placeholder"),
    ("BANDWIDTH_PASSWORD", "placeholder"),
    ("BANDWIDTH_APPLICATION_ID", "placeholder"),
    ("BANDWIDTH_NUMBER", "placeholder"),
    ("TWILIO_ACCOUNT_SID", "placeholder"),
    ("TWILIO_AUTH_TOKEN", "placeholder"),
    ("TWILIO_NUMBER", "placeholder"),
    ("ANTHROPIC_API_KEY", "placeholder"),
    ("OPENAI_API_KEY", "placeholder"),
    ("VERIFF_API_KEY", "placeholder"),
    ("VERIFF_SHARED_SECRET", "placeholder"),
    ("STRIPE_SECRET_KEY", "placeholder"),
    ("STRIPE_PRICE_ID", "placeholder"),
    ("STRIPE_WEBHOOK_SECRET", "placeholder"),
    ("STRIPE_RETURN_URL", "https://placeholder.invalid"),
    ("LANGFUSE_PUBLIC_KEY", "placeholder"),
    ("LANGFUSE_SECRET_KEY", "placeholder"),
];

fn probe(env: &[(&str, &str)]) -> Config {
    super::with_environment(env, Config::from_env)
        .expect("the code's defaults make a valid configuration")
}

/// Every variable with the value it shows.
pub fn variables() -> Vec<(&'static Var, Option<String>)> {
    let on = probe(PROVIDERS_ON);
    BLOCKS
        .iter()
        .flat_map(|b| b.vars)
        .map(|v| {
            let value = match &v.shown {
                Shown::Default(f) | Shown::Off(f) => Some(f(&on)),
                Shown::Fixed(s) => Some(s.to_string()),
                Shown::Example(_) => None,
            };
            (v, value)
        })
        .collect()
}

/// What production requires of each variable, from what it refuses to start without
/// when nothing is set. What the bundles ask for (Veriff for an age gate) depends on
/// the folder a host reads, so it is left to the variables' text.
fn production_needs() -> Vec<(String, super::production::Refusal)> {
    let mut empty = probe(&[]);
    empty.policy_dir = std::path::PathBuf::new();
    let mut needs = Vec::new();
    for refusal in super::production::refusals(&empty, false) {
        for name in refusal
            .setting
            .split([',', ' '])
            .filter(|w| w.len() > 2 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        {
            needs.push((name.to_string(), refusal.clone()));
        }
    }
    needs
}

fn wrap(text: &str, width: usize, prefix: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && prefix.len() + line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{prefix}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{prefix}{line}");
    }
    out
}

/// `.env.example`.
pub fn env_file() -> String {
    let values = variables();
    let value = |name: &str| {
        values
            .iter()
            .find(|(v, _)| v.name == name)
            .and_then(|(_, x)| x.clone())
    };
    let mut out = String::from(
        "# Jules reads its configuration from the environment; this file lists every variable.\n\
         # Copy it to .env for local use. Unset variables take the defaults shown.\n\
         # Generated by `jules config reference --format env` from host/src/config/reference.rs.\n",
    );
    for block in BLOCKS {
        if let Some(title) = block.group {
            let _ = write!(out, "\n# --- {title} ---\n");
        }
        out.push_str(&wrap(block.about, 88, "# "));
        for v in block.vars {
            let _ = match &v.shown {
                Shown::Default(_) | Shown::Fixed(_) => {
                    writeln!(out, "{}={}", v.name, value(v.name).unwrap_or_default())
                }
                Shown::Off(_) => {
                    writeln!(out, "# {}={}", v.name, value(v.name).unwrap_or_default())
                }
                Shown::Example(e) => writeln!(out, "# {}={e}", v.name),
            };
        }
    }
    out
}

/// `docs/configuration.md`.
pub fn markdown() -> String {
    let values = variables();
    let needs = production_needs();
    let mut out = String::from(
        "# Configuration\n\n\
         Generated by `jules config reference --format markdown` from `host/src/config/reference.rs`;\n\
         `.env.example` and `jules serve --help` come from the same table, and a test checks\n\
         it against the variables the code reads.\n\n\
         Jules reads these from the environment (and an optional `.env` in its working\n\
         folder) once, when it starts: **a change takes a restart** (restart the hosts one\n\
         at a time; webhooks are acknowledged throughout). Policies are the exception: they\n\
         change on a running fleet with `jules policy activate`. A value that cannot be read\n\
         stops the host at start with the variable's name. *Default* is what the code takes\n\
         when the variable is unset (for a provider's settings, once the provider is on);\n\
         *production* names what `ENVIRONMENT=production` refuses to start without\n\
         (`jules config check` lists it in any environment).\n",
    );
    let mut notes = Vec::new();
    for block in BLOCKS {
        if let Some(title) = block.group {
            for note in notes.drain(..) {
                let _ = writeln!(out, "\n{note}");
            }
            let _ = write!(
                out,
                "\n## {title}\n\n| variable | default | production | what |\n|---|---|---|---|\n"
            );
        }
        if block.vars.is_empty() {
            notes.push(block.about);
        }
        for (i, v) in block.vars.iter().enumerate() {
            let default = match values.iter().find(|(x, _)| x.name == v.name) {
                Some((_, Some(value))) if !value.is_empty() => format!("`{value}`"),
                _ => match &v.shown {
                    Shown::Example(e) if !e.is_empty() && !e.contains("...") => {
                        format!("unset (e.g. `{e}`)")
                    }
                    _ => "unset".to_string(),
                },
            };
            let production: Vec<String> = needs
                .iter()
                .filter(|(n, _)| n == v.name)
                .map(|(_, refusal)| refusal.to_string())
                .collect();
            let production = if production.is_empty() {
                String::new()
            } else {
                format!("required — {}", production.join("; "))
            };
            // The block's text once, beside its first variable.
            let about = if i == 0 { block.about } else { "″" };
            let _ = writeln!(
                out,
                "| `{}` | {default} | {production} | {} |",
                v.name,
                about.replace('|', "\\|")
            );
        }
    }
    for note in notes {
        let _ = writeln!(out, "\n{note}");
    }
    out
}

/// For `jules serve --help`: each variable, its default and what production needs.
pub fn help_text() -> String {
    let values = variables();
    let needs = production_needs();
    let mut out = String::from(
        "Environment (read once at start; a change takes a restart). Full descriptions:\n\
         docs/configuration.md and .env.example.\n\n",
    );
    for (v, value) in values {
        let default = match value {
            Some(x) if !x.is_empty() => format!("default {x}"),
            _ => "unset".to_string(),
        };
        let required = match needs.iter().find(|(n, _)| n == v.name) {
            Some((_, r)) if r.setting == v.name => ", required in production".to_string(),
            Some((_, r)) => format!(", required in production ({})", r.setting),
            None => String::new(),
        };
        let _ = writeln!(out, "  {:<28} {default}{required}", v.name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid value other than `default`.
    fn changed(name: &str, default: &str) -> String {
        if let Ok(n) = default.parse::<u64>() {
            return (n + 1).to_string();
        }
        match default {
            "true" => "false".into(),
            "false" => "true".into(),
            _ if name == "ENVIRONMENT" => "staging".into(),
            _ if default.starts_with("http") => "https://changed.invalid".into(),
            _ => format!("{default}x"),
        }
    }

    #[test]
    fn each_default_is_read_off_the_setting_its_variable_sets() {
        let mut checked = 0;
        for block in BLOCKS {
            for v in block.vars {
                let (Shown::Default(read) | Shown::Off(read)) = &v.shown else {
                    continue;
                };
                let default = read(&probe(PROVIDERS_ON));
                assert!(!default.is_empty(), "{}: no default", v.name);
                let other = changed(v.name, &default);
                let mut env = PROVIDERS_ON.to_vec();
                env.push((v.name, &other));
                assert_eq!(
                    read(&probe(&env)),
                    other,
                    "{} does not show its setting",
                    v.name
                );
                checked += 1;
            }
        }
        assert!(checked > 40, "{checked}");
    }

    #[test]
    fn every_variable_is_described_once() {
        let mut names: Vec<&str> = BLOCKS.iter().flat_map(|b| b.vars).map(|v| v.name).collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all, "a variable is described twice");
    }
}
