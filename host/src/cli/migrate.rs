//! `jules migrate [apply|status]`: Postgres at DATABASE_URL, else the embedded store
//! in DATA_DIR.

use std::process::ExitCode;

use crate::store::Backend;

pub fn run(action: &str) -> ExitCode {
    let Some(config) = super::config() else {
        return ExitCode::from(2);
    };
    super::run_async(async {
        let backend = match Backend::open(config.database_url.as_deref(), 1, &config.data_dir) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        eprintln!("{}", backend.describe());
        let result = if action == "status" {
            backend.migration_status().await.map(|rows| {
                for row in rows {
                    let state = if row.applied { "applied" } else { "pending" };
                    println!("{state:<8} {}", row.label);
                }
            })
        } else {
            backend.migrate().await.map(|done| {
                if done.is_empty() {
                    println!("the schema is up to date");
                }
                for label in done {
                    println!("applied  {label}");
                }
            })
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
