//! Build the application once, for `main` and for tests alike: the policy runtime with
//! the bundles of the policy folder, and the HTTP router.

use std::sync::Arc;

use jules_policy_model::World;

use crate::config::Config;
use crate::crypto::{KeyOrigin, Secrets};
use crate::http::{AppState, router};
use crate::policy::PolicyRuntime;

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

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let production = config.environment == "production";
    let secrets = Secrets::load(
        |name| std::env::var(name).ok(),
        production,
        &config.data_dir,
    )?;
    let policies = policies(&config)?;
    announce(&config, &policies, &secrets);
    let app = router(AppState { policies });
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}:{} (HOST, PORT): {e}",
                config.host,
                config.port
            )
        })?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    eprintln!("jules: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Say plainly what runs and what runs locally.
fn announce(config: &Config, policies: &PolicyRuntime, secrets: &Secrets) {
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
    for world in World::ALL {
        match policies.active(world) {
            Some(b) => eprintln!(
                "  policy {:<18} component {} {} ({})",
                world.as_str(),
                b.manifest.name,
                b.manifest.version,
                b.digest.short()
            ),
            None => eprintln!(
                "  policy {:<18} NATIVE BASELINE (no loadable bundle in {})",
                world.as_str(),
                config.policy_dir.display()
            ),
        }
    }
    eprintln!(
        "  this build serves /health and /ready; the SMS pipeline (webhooks, store, LLM, carriers) is not in it yet"
    );
}
