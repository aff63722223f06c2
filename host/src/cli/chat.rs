//! `jules chat --from +15551234567`: a conversation in the terminal through the real
//! pipeline — the configured store, memory, policies and language model; replies come
//! back through the `chat` carrier instead of SMS.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

use crate::crypto::Secrets;
use crate::domain::{Carrier, CarrierMessageId, PhoneNumber};
use crate::store::MessageStatus;

pub fn run(from: &str) -> ExitCode {
    let from = match PhoneNumber::parse(from) {
        Ok(from) => from,
        Err(e) => {
            eprintln!("error: --from {from:?}: {e} (e.g. +15551234567)");
            return ExitCode::from(2);
        }
    };
    let Some(mut config) = super::config() else {
        return ExitCode::from(2);
    };
    config.port = 0;
    config.services.pipeline.quiet = Duration::ZERO;
    let secrets = match Secrets::load(
        |name| std::env::var(name).ok(),
        config.environment.is_production(),
        &config.data_dir,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    super::run_async(async move {
        let running = match crate::startup::start(&config, secrets).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!(
            "talking as {}; /quit or end of input leaves",
            crate::carrier::masked(from.as_str())
        );
        let p = running.pipeline.clone();
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            print!("you> ");
            let _ = std::io::stdout().flush();
            let line = match lines.next_line().await {
                Ok(Some(l)) => l,
                _ => break,
            };
            let text = line.trim();
            if text == "/quit" {
                break;
            }
            if text.is_empty() {
                continue;
            }
            let id = CarrierMessageId::parse(&format!("chat-{}", Uuid::new_v4()))
                .expect("a UUID is a valid id");
            let recorded = p
                .store
                .record_inbound(Carrier::Chat, &id, &from, text, 1, p.clock.now())
                .await;
            let user = match recorded {
                Ok((crate::store::Recorded::Stored { user_id, .. }, _)) => user_id,
                Ok(_) => continue,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            p.inbound_ready.notify_one();
            settle(&p, user).await;
        }
        running.stop().await;
        ExitCode::SUCCESS
    })
}

/// Wait until everything the person sent is answered and sent (at most a minute).
async fn settle(p: &crate::pipeline::Pipeline, user: Uuid) {
    let open = [
        MessageStatus::Received,
        MessageStatus::Processing,
        MessageStatus::Queued,
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match p.store.db().recent_messages(user, 20).await {
            Ok(rows) if rows.iter().all(|m| !open.contains(&m.status)) => return,
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {e}");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    eprintln!("(no reply within a minute; it will arrive when it is ready)");
}
