//! Build the application once, for `main` and for tests alike: the policy runtime with
//! the bundles of the policy folder, and the HTTP router.

use std::sync::Arc;

use jules_policy_model::World;

use crate::age::AgeVerifier;
use crate::carrier::Carriers;
use crate::config::Config;
use crate::crypto::{KeyOrigin, Secrets};
use crate::http::{AppState, router};
use crate::llm::Responder;
use crate::memory::Memory;
use crate::pipeline::{self, Drained, Pipeline, Workers};
use crate::policy::PolicyRuntime;
use crate::store::{Backend, Store};

/// Load and activate every bundle in the policy folder. A bundle that cannot load is
/// reported and skipped: its world is served by the native baseline.
pub fn policies(config: &Config) -> anyhow::Result<Arc<PolicyRuntime>> {
    let runtime = PolicyRuntime::new(config.policy.clone())?;
    let dir = &config.policy_dir;
    let entries =
        std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("POLICY_DIR {}: {e}", dir.display()))?;
    let mut folders: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(crate::policy::MANIFEST_FILE).exists())
        .collect();
    folders.sort();
    for folder in folders {
        match runtime.load(&folder) {
            Ok(bundle) => {
                runtime.activate(bundle);
            }
            Err(e) => {
                tracing::error!(bundle = %folder.display(), error = %e, "policy bundle refused")
            }
        }
    }
    Ok(Arc::new(runtime))
}

/// A running Jules: HTTP on `addr`, the pipeline's workers. Tests start it in process;
/// `serve` starts it and waits for ctrl-c.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub pipeline: Pipeline,
    pub policies: Arc<PolicyRuntime>,
    pub rollout: Arc<crate::rollout::Agent>,
    workers: Option<Workers>,
    server: tokio::task::JoinHandle<()>,
    shutdown: Arc<tokio::sync::Notify>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Running {
    /// Stop the workers (as if the process died mid-work: leases are left to expire).
    pub fn stop_workers(&mut self) {
        if let Some(w) = self.workers.take() {
            w.stop();
        }
    }

    pub fn start_workers(&mut self) {
        if self.workers.is_none() {
            self.workers = Some(pipeline::spawn(self.pipeline.clone()));
        }
    }

    /// Shut down without losing work: `/ready` answers 503 at once; no new turn is
    /// claimed; turns already started finish (`shutdown_turns` at most) while their
    /// replies go out; then the sends already started finish and are recorded (10 s at
    /// most); then the listener closes. What is left is taken up again when its lease
    /// ends.
    pub async fn stop(mut self) -> Drained {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let drained = match self.workers.take() {
            Some(w) => {
                w.drain(self.pipeline.settings.shutdown_turns, SEND_DRAIN)
                    .await
            }
            None => Drained {
                turns_finished: true,
                sends_recorded: true,
            },
        };
        self.shutdown.notify_one();
        let _ = (&mut self.server).await;
        drained
    }
}

/// How long sends already started may take to finish and be recorded at shutdown.
const SEND_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Build everything from `config` and `secrets`, listen, start the workers.
pub async fn start(config: &Config, secrets: Secrets) -> anyhow::Result<Running> {
    // Before anything is counted: what is recorded without a recorder is lost.
    crate::telemetry::handle();
    if config.environment.is_production() {
        let keys_set = matches!(secrets.origin, KeyOrigin::Environment);
        let refused = crate::config::production::refusals(config, keys_set);
        anyhow::ensure!(
            refused.is_empty(),
            "production refuses to start on development stand-ins (`jules config check` lists them):\n  {}",
            refused
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    let store = Store::open(
        config.database_url.as_deref(),
        config.database_pool_size,
        &config.data_dir,
        Arc::new(secrets.clone()),
    )?;
    prepare_schema(config, &store).await?;
    store.verify_keys().await?;
    let memory = Memory::new(
        config.redis_url.as_deref(),
        store.clone(),
        config.memory.clone(),
    )
    .map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
    let policies = policies(config)?;
    let services = &config.services;
    let responder = Arc::new(Responder::new(services.llm.clone()));
    let carriers = Arc::new(Carriers::new(
        services.bandwidth.clone(),
        services.twilio.clone(),
        !config.environment.is_production(),
        services.carrier_timeout,
    ));
    let age = match &services.veriff {
        Some(settings) => AgeVerifier::Veriff(crate::age::Veriff::new(settings.clone())),
        None if config.environment.is_production() => AgeVerifier::Missing,
        None => AgeVerifier::StandIn,
    };
    let pipeline = Pipeline::new(
        store,
        memory,
        policies.clone(),
        responder,
        carriers,
        age,
        services.pipeline.clone(),
    )
    .with_stripe(services.stripe.clone().map(crate::billing::Stripe::new))
    .with_langfuse(
        services
            .langfuse
            .clone()
            .map(crate::langfuse::Langfuse::start),
    );
    // The desired state, where one exists, decides over POLICY_DIR before traffic.
    let rollout = crate::rollout::Agent::new(
        policies.clone(),
        pipeline.store.db().clone(),
        crate::rollout::host_id(),
        config.data_dir.join("policy-bundles"),
    );
    crate::rollout::start(rollout.clone(), pipeline.store.db()).await;
    announce(config, &policies, &secrets, &pipeline);
    warn_without_statistics(&pipeline.store).await;
    let ingress_store = Store::open(
        config.database_url.as_deref(),
        config.database_pool_size,
        &config.data_dir,
        Arc::new(secrets.clone()),
    )?;
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let state = AppState {
        policies: policies.clone(),
        store: ingress_store,
        pipeline: pipeline.clone(),
        ingress: Arc::new(services.ingress.clone()),
        rollout: rollout.clone(),
        admin: config.admin_key.clone().map(Arc::new),
        stopping: stopping.clone(),
    };
    let admin = crate::http::admin::router(state.clone());
    let app = router(state, &services.http);
    let app = match &config.admin_addr {
        None => app.merge(admin),
        Some(addr) => {
            serve_admin(addr, admin).await?;
            app
        }
    };
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}:{} (HOST, PORT): {e}",
                config.host,
                config.port
            )
        })?;
    let addr = listener.local_addr()?;
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let server = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.notified().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the HTTP server stopped");
            }
        })
    };
    let workers = Some(pipeline::spawn(pipeline.clone()));
    crate::heap::release_freed();
    tracing::info!(address = %addr, "listening");
    Ok(Running {
        addr,
        pipeline,
        policies,
        rollout,
        workers,
        server,
        shutdown,
        stopping,
    })
}

/// The admin API on an address of its own, for the life of the process.
async fn serve_admin(addr: &str, admin: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (ADMIN_ADDR): {e}"))?;
    let bound = listener.local_addr()?;
    eprintln!("jules: admin API on http://{bound}");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, admin).await {
            tracing::error!(error = %e, "the admin API stopped");
        }
    });
    Ok(())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let production = config.environment.is_production();
    let secrets = Secrets::load(
        |name| std::env::var(name).ok(),
        production,
        &config.data_dir,
    )?;
    let running = start(&config, secrets).await?;
    eprintln!("jules: listening on http://{}", running.addr);
    let signal = stop_signal().await?;
    eprintln!(
        "jules: {signal}: not ready; finishing the turns in flight (up to {:?}), then their sends (up to {SEND_DRAIN:?})",
        running.pipeline.settings.shutdown_turns
    );
    let drained = running.stop().await;
    eprintln!(
        "jules: stopped ({}, {})",
        if drained.turns_finished {
            "every turn started was answered"
        } else {
            "turns left are answered again when their lease ends"
        },
        if drained.sends_recorded {
            "every send started was recorded"
        } else {
            "sends left are sent again when their lease ends"
        }
    );
    Ok(())
}

/// SIGTERM (what container runtimes send) or ctrl-c, whichever comes first.
async fn stop_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => Ok("SIGTERM"),
        r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT").map_err(Into::into),
    }
}

/// Apply pending migrations (MIGRATE_ON_START), or refuse to run on an old schema.
async fn prepare_schema(config: &Config, store: &Store) -> anyhow::Result<()> {
    let db = store.db();
    if config.migrate_on_start {
        for label in db.migrate().await? {
            tracing::info!(migration = %label, "applied");
            eprintln!("  migrated {label}");
        }
        return Ok(());
    }
    let pending: Vec<String> = db
        .migration_status()
        .await?
        .into_iter()
        .filter(|m| !m.applied)
        .map(|m| m.label)
        .collect();
    anyhow::ensure!(
        pending.is_empty(),
        "the schema is behind ({} pending); run `jules migrate` or set MIGRATE_ON_START=true",
        pending.join(", ")
    );
    Ok(())
}

/// The host's connections plan each statement once (see `PgStore::connect`); those
/// plans are only as good as the tables' statistics, which autovacuum gathers.
async fn warn_without_statistics(store: &Store) {
    let Backend::Postgres(pg) = store.db() else {
        return;
    };
    if matches!(pg.setting("autovacuum").await.as_deref(), Ok("off")) {
        tracing::warn!("Postgres runs without autovacuum: nothing gathers table statistics");
        eprintln!(
            "  note   Postgres runs WITHOUT AUTOVACUUM: nothing gathers the statistics query plans rely on; run ANALYZE regularly or turn autovacuum on"
        );
    }
}

/// Say plainly what runs and what runs locally.
fn announce(config: &Config, policies: &PolicyRuntime, secrets: &Secrets, pipeline: &Pipeline) {
    let (store, memory) = (&pipeline.store, &pipeline.memory);
    eprintln!(
        "jules {} ({})",
        env!("CARGO_PKG_VERSION"),
        config.environment
    );
    match &secrets.origin {
        KeyOrigin::Environment => eprintln!(
            "  keys   ENCRYPTION_KEYS (active {}) and BLIND_INDEX_KEY from the environment",
            secrets.ring.active()
        ),
        KeyOrigin::DevelopmentFile { path, created } => eprintln!(
            "  keys   DEVELOPMENT keys {} {} (keep this file; production needs ENCRYPTION_KEYS and BLIND_INDEX_KEY)",
            if *created {
                "GENERATED in"
            } else {
                "read from"
            },
            path.display()
        ),
    }
    match store.db().kind() {
        "embedded" => eprintln!(
            "  store  EMBEDDED {} (set DATABASE_URL for Postgres)",
            store.db().describe()
        ),
        _ => eprintln!(
            "  store  {} (pool {})",
            store.db().describe(),
            config.database_pool_size
        ),
    }
    match memory.mode() {
        "redis" => eprintln!(
            "  memory redis (sealed values, {} turns, ttl {} s; the store answers if it fails)",
            config.memory.turns,
            config.memory.ttl.as_secs()
        ),
        _ => eprintln!(
            "  memory IN-PROCESS (this host only; set REDIS_URL to share it between hosts)"
        ),
    }
    for world in World::ALL {
        match policies.active(world) {
            Some(b) => eprintln!(
                "  policy {:<18} component {} {} ({}, {})",
                world.as_str(),
                b.manifest.name,
                b.manifest.version,
                b.digest.short(),
                match &b.provenance {
                    crate::policy::Provenance::Unsigned =>
                        "UNSIGNED: development only; production loads signed bundles".into(),
                    p => p.to_string(),
                }
            ),
            None => eprintln!(
                "  policy {:<18} NATIVE BASELINE (no loadable bundle in {})",
                world.as_str(),
                config.policy_dir.display()
            ),
        }
    }
    match (&config.admin_key, &config.admin_addr) {
        (None, _) => eprintln!("  admin  OFF (set JWT_SECRET_KEY or JWT_PUBLIC_KEY for /admin/v1)"),
        (Some(_), None) => {
            eprintln!("  admin  /admin/v1 beside the webhooks (ADMIN_ADDR moves it)")
        }
        (Some(_), Some(addr)) => eprintln!("  admin  /admin/v1 on {addr} only"),
    }
    let llm = pipeline.responder.mode();
    if pipeline.responder.offline() {
        eprintln!("  llm    OFFLINE responder (set ANTHROPIC_API_KEY and/or OPENAI_API_KEY)");
    } else {
        eprintln!("  llm    {llm}");
    }
    let carrier = pipeline.carriers.mode();
    if carrier == "console" {
        eprintln!("  sms    CONSOLE carrier: replies are printed (set BANDWIDTH_* or TWILIO_*)");
    } else {
        eprintln!("  sms    {carrier}");
    }
    if let (Some(l), Some(s)) = (&pipeline.langfuse, &config.services.langfuse) {
        let content = if l.captures_content() {
            "texts masked and sent"
        } else {
            "no texts"
        };
        eprintln!("  traces langfuse {} ({content})", s.host);
    }
    match &pipeline.stripe {
        Some(s) => eprintln!("  billing stripe {}", s.settings.api_url),
        None => {
            eprintln!("  billing OFF: UPGRADE answers that Premium is not available (set STRIPE_*)")
        }
    }
    match &*pipeline.age {
        AgeVerifier::Veriff(v) => eprintln!("  age    veriff {}", v.settings.base_url),
        AgeVerifier::StandIn => eprintln!(
            "  age    DEVELOPMENT STAND-IN: a texted date of birth is believed (set VERIFF_API_KEY)"
        ),
        AgeVerifier::Missing => {
            eprintln!("  age    NONE: age prompts go out without a link (set VERIFF_API_KEY)")
        }
    }
}
