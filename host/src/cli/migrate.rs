//! `jules migrate [apply|status]`.

use std::process::ExitCode;

use crate::store::{POSTGRES, migrate};

pub fn run(action: &str) -> ExitCode {
    let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        eprintln!("error: DATABASE_URL is not set: there is no database to migrate");
        return ExitCode::from(2);
    };
    super::run_async(async {
        let mut client = match migrate::connect(&url).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: cannot connect to DATABASE_URL: {e}");
                return ExitCode::from(2);
            }
        };
        let result = if action == "status" {
            migrate::status(&client, POSTGRES).await.map(|rows| {
                for row in rows {
                    let state = if row.applied { "applied" } else { "pending" };
                    println!("{state:<8} {}", row.label);
                }
            })
        } else {
            migrate::apply(&mut client, POSTGRES).await.map(|done| {
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
