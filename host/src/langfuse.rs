//! Langfuse, when `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` and `LANGFUSE_HOST` are
//! set: one trace per turn, a span per policy decision (world, bundle digest, fallback)
//! and a generation per model attempt (provider, model, times, tokens, outcome, retry).
//! Sent in batches to `POST {host}/api/public/ingestion` by a background task, never on
//! the reply path: the queue is bounded and what does not fit is dropped and counted.
//! Texts are sent only with `LANGFUSE_CAPTURE_CONTENT=true`, and then with numbers,
//! email addresses and the person's name masked.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::llm::Attempt;
use crate::store::Decision;

#[derive(Debug, Clone)]
pub struct LangfuseSettings {
    pub host: String,
    pub public_key: String,
    pub secret_key: String,
    /// Send the person's texts and the reply (masked); default off.
    pub capture_content: bool,
}

/// Turns waiting to be sent at most; more are dropped and counted.
const QUEUE: usize = 1024;
/// A batch goes when it has this many events, or after `FLUSH_EVERY`.
const BATCH_EVENTS: usize = 200;
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// One turn as Langfuse sees it.
#[derive(Debug, Clone)]
pub struct TurnTrace {
    /// The turn's first text's id: the trace id.
    pub id: Uuid,
    pub started: SystemTime,
    pub ended: SystemTime,
    pub decisions: Vec<Decision>,
    pub attempts: Vec<Attempt>,
    /// The person's texts and the reply, unmasked: masked or dropped before sending.
    pub input: Option<String>,
    pub output: Option<String>,
    /// The person's name, masked wherever it appears.
    pub name: Option<String>,
}

#[derive(Clone)]
pub struct Langfuse {
    queue: mpsc::Sender<TurnTrace>,
    capture_content: bool,
}

impl Langfuse {
    /// Start the sender task (on the current Tokio runtime).
    pub fn start(settings: LangfuseSettings) -> Langfuse {
        let (queue, rx) = mpsc::channel(QUEUE);
        let capture_content = settings.capture_content;
        tokio::spawn(send_batches(settings, rx));
        Langfuse {
            queue,
            capture_content,
        }
    }

    pub fn captures_content(&self) -> bool {
        self.capture_content
    }

    /// Queue a turn's trace; never waits.
    pub fn record(&self, trace: TurnTrace) {
        if self.queue.try_send(trace).is_err() {
            metrics::counter!("jules_langfuse_dropped_total", "reason" => "queue full")
                .increment(1);
        }
    }
}

fn time(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Numbers (7+ digits), email addresses and the person's name, masked.
pub fn mask(text: &str, name: Option<&str>) -> String {
    let mut out = crate::reporting::phone_free(text)
        .split(' ')
        .map(|w| {
            if w.contains('@') && w.contains('.') {
                "[email]"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(name) = name.map(str::trim).filter(|n| n.chars().count() >= 2) {
        for form in [name.to_string(), name.to_lowercase(), name.to_uppercase()] {
            out = out.replace(&form, "[name]");
        }
    }
    out
}

/// The ingestion events of one turn.
pub fn events(t: &TurnTrace, capture_content: bool) -> Vec<Value> {
    let masked = |s: &Option<String>| {
        capture_content
            .then(|| s.as_deref().map(|s| mask(s, t.name.as_deref())))
            .flatten()
    };
    let trace_id = t.id.to_string();
    let mut out = vec![json!({
        "id": Uuid::new_v4().to_string(),
        "type": "trace-create",
        "timestamp": time(t.started),
        "body": {
            "id": trace_id,
            "name": "turn",
            "timestamp": time(t.started),
            "input": masked(&t.input),
            "output": masked(&t.output),
            "metadata": {"attempts": t.attempts.len()},
        },
    })];
    for d in &t.decisions {
        out.push(json!({
            "id": Uuid::new_v4().to_string(),
            "type": "span-create",
            "timestamp": time(t.started),
            "body": {
                "id": Uuid::new_v4().to_string(),
                "traceId": trace_id,
                "name": d.world,
                "startTime": time(t.started),
                "endTime": time(t.started),
                "metadata": {
                    "bundle_digest": d.bundle_digest.as_deref().unwrap_or("native-baseline"),
                    "fallback": d.fallback,
                    "summary": d.summary,
                },
            },
        }));
    }
    for (i, a) in t.attempts.iter().enumerate() {
        let last_ok = a.outcome == "ok";
        out.push(json!({
            "id": Uuid::new_v4().to_string(),
            "type": "generation-create",
            "timestamp": time(a.started),
            "body": {
                "id": Uuid::new_v4().to_string(),
                "traceId": trace_id,
                "name": format!("{} attempt {}", a.provider, i + 1),
                "startTime": time(a.started),
                "endTime": time(a.ended),
                "model": a.model,
                "input": masked(&t.input),
                "output": if last_ok { masked(&t.output) } else { None },
                "usage": {"input": a.input_tokens, "output": a.output_tokens, "unit": "TOKENS"},
                "level": if last_ok { "DEFAULT" } else { "ERROR" },
                "statusMessage": a.error,
                "metadata": {"provider": a.provider, "outcome": a.outcome, "retry": a.retry},
            },
        }));
    }
    out
}

async fn send_batches(settings: LangfuseSettings, mut rx: mpsc::Receiver<TurnTrace>) {
    let http = crate::net::client(Duration::from_secs(10));
    let url = format!("{}/api/public/ingestion", settings.host);
    let mut batch: Vec<Value> = Vec::new();
    loop {
        let closed = match tokio::time::timeout(FLUSH_EVERY, rx.recv()).await {
            Ok(Some(trace)) => {
                batch.extend(events(&trace, settings.capture_content));
                if batch.len() < BATCH_EVENTS {
                    continue;
                }
                false
            }
            Ok(None) => true,
            Err(_) => false,
        };
        if !batch.is_empty() {
            let events = std::mem::take(&mut batch);
            let n = events.len() as u64;
            let sent = http
                .post(&url)
                .basic_auth(&settings.public_key, Some(&settings.secret_key))
                .json(&json!({ "batch": events }))
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(status = r.status().as_u16(), "Langfuse refused a batch");
                    metrics::counter!("jules_langfuse_dropped_total", "reason" => "refused")
                        .increment(n);
                }
                Err(e) => {
                    tracing::warn!(error = %crate::net::describe(&e), "Langfuse could not be reached");
                    metrics::counter!("jules_langfuse_dropped_total", "reason" => "unreachable")
                        .increment(n);
                }
            }
        }
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_numbers_emails_and_the_name() {
        let text = "I'm Marigold, call me at +1 (555) 123-4567 or marigold@mail.example";
        let masked = mask(text, Some("Marigold"));
        assert_eq!(masked, "I'm [name], call me at [number] or [email]");
        assert_eq!(mask("no name here", None), "no name here");
    }
}
