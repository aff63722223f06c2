//! `jules keys rotate|status|generate`: re-seal stored personal data under the active
//! key of ENCRYPTION_KEYS, count values per key, make a new key.

use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::crypto::{KeyRing, Secrets};
use crate::store::Store;
use crate::store::rotate::{census, rotate};

use super::KeysCommand;

pub fn run(cmd: KeysCommand) -> ExitCode {
    match cmd {
        KeysCommand::Generate { id } => match KeyRing::generate(&id) {
            Ok(ring) => {
                println!("{}", ring.to_spec());
                eprintln!(
                    "put it first in ENCRYPTION_KEYS (it becomes the active key), keep the old keys after it, restart the hosts, then run `jules keys rotate`"
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        KeysCommand::Status => with_store(async |_, store| {
            let counts = census(&store, 1000).await?;
            print_census(&store, &counts);
            Ok(ExitCode::SUCCESS)
        }),
        KeysCommand::Rotate { batch } => with_store(async move |_, store| {
            let active = store.secrets().ring.active().to_string();
            eprintln!("re-sealing every stored value under key {active:?}, {batch} at a time");
            let report = rotate(&store, batch, |col, done| {
                eprintln!(
                    "  {}.{}: {} re-sealed, {} already under {active}",
                    col.table, col.column, done.rotated, done.already_current
                );
            })
            .await?;
            let moved: u64 = report
                .columns
                .iter()
                .map(|(_, r)| r.changed_meanwhile)
                .sum();
            println!("re-sealed {} values", report.rotated());
            if moved > 0 {
                println!(
                    "{moved} values changed while rotating and were left as written (already under the active key)"
                );
            }
            print_census(&store, &census(&store, 1000).await?);
            Ok(ExitCode::SUCCESS)
        }),
    }
}

fn print_census(store: &Store, counts: &std::collections::BTreeMap<String, u64>) {
    let active = store.secrets().ring.active().as_str();
    for (key, n) in counts {
        let role = if key == active { "active" } else { "older" };
        println!("{n:>10} values sealed with {key} ({role})");
    }
    let older: Vec<&String> = counts.keys().filter(|k| *k != active).collect();
    if older.is_empty() {
        println!(
            "no value is sealed with an older key: every key but {active} can be removed from ENCRYPTION_KEYS"
        );
    } else {
        println!("still needed: {older:?} (run `jules keys rotate`)");
    }
}

/// Run `f` on the store of the configuration (DATABASE_URL, else the embedded file)
/// under its keys; a store error is printed and exits 1.
pub(super) fn with_store(
    f: impl AsyncFnOnce(&Config, Store) -> Result<ExitCode, crate::store::StoreError>,
) -> ExitCode {
    let Some(config) = super::config() else {
        return ExitCode::from(2);
    };
    let secrets = match Secrets::load(
        |name| std::env::var(name).ok(),
        config.environment.is_production(),
        &config.data_dir,
    ) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    super::run_async(async move {
        let store = match Store::open(config.database_url.as_deref(), 2, &config.data_dir, secrets)
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        eprintln!("{}", store.db().describe());
        match f(&config, store).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
