//! Postgres `LISTEN jules_policy` on a connection of its own: every notification, and
//! every reconnect (notifications sent while disconnected are lost), wakes the agent.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio_postgres::AsyncMessage;

use super::agent::Agent;
use crate::store::postgres::CHANNEL;

const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(10);

pub async fn listen(config: tokio_postgres::Config, agent: Arc<Agent>) {
    let mut backoff = FIRST_RETRY;
    loop {
        match session(&config, &agent).await {
            Ok(()) => backoff = FIRST_RETRY,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "policy notifications: connection lost");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(LAST_RETRY);
            }
        }
    }
}

/// One connection: LISTEN, wake the agent (it may have missed changes), then wake it
/// on each notification until the connection ends.
async fn session(
    config: &tokio_postgres::Config,
    agent: &Agent,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if tx.send(Ok(())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    agent.wake();
    let ended = loop {
        match rx.recv().await {
            Some(Ok(())) => agent.wake(),
            Some(Err(e)) => break Err(e),
            None => break Ok(()),
        }
    };
    driver.abort();
    drop(client);
    ended
}
