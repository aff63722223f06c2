//! Asking a language model for the reply: Claude first, OpenAI as fallback, then a safe
//! canned reply — each provider with the retry policy of its SDKs, a per-call timeout
//! and a circuit breaker. With no key configured, the offline responder answers.

mod anthropic;
mod offline;
mod openai;
mod retry;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jules_policy_model::LlmRequest;
use metrics::{counter, histogram};

pub use self::anthropic::Anthropic;
pub use self::openai::OpenAi;
pub use self::retry::{Breaker, Failure, RetryPolicy};

/// Sent when every provider failed: kind, safe, and never silent about help.
pub const CANNED_REPLY: &str = "I'm having trouble finding my words right now, but I'm still here. If you need to talk to someone now, call or text 988.";

#[derive(Debug, Clone)]
pub enum Provider {
    Anthropic(Anthropic),
    OpenAi(OpenAi),
}

impl Provider {
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Anthropic(_) => "anthropic",
            Provider::OpenAi(_) => "openai",
        }
    }

    pub fn model(&self) -> &str {
        match self {
            Provider::Anthropic(p) => &p.model,
            Provider::OpenAi(p) => &p.model,
        }
    }

    async fn call(&self, http: &reqwest::Client, req: &LlmRequest) -> Result<Answered, Failure> {
        match self {
            Provider::Anthropic(p) => p.call(http, req).await,
            Provider::OpenAi(p) => p.call(http, req).await,
        }
    }
}

/// A provider's answer: the reply and what it cost.
#[derive(Debug, Clone)]
pub struct Answered {
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub providers: Vec<Provider>,
    pub retry: RetryPolicy,
    /// One attempt's budget.
    pub timeout: Duration,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

/// Who wrote a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Provider(&'static str),
    Offline,
    Canned,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Provider(p) => p,
            Source::Offline => "offline",
            Source::Canned => "canned",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    pub source: Source,
    /// Every call made for it, in order (none offline).
    pub attempts: Vec<Attempt>,
}

/// One call to a provider: for traces (Langfuse), never with the text.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub provider: &'static str,
    pub model: String,
    pub started: std::time::SystemTime,
    pub ended: std::time::SystemTime,
    /// `ok`, `retryable` or `fatal`.
    pub outcome: &'static str,
    /// 0 for the first call to this provider, then 1, 2… for its retries.
    pub retry: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Why it failed (the provider's status and error type, never the request).
    pub error: Option<String>,
}

struct Slot {
    provider: Provider,
    breaker: Breaker,
    calls: AtomicU64,
    failures: AtomicU64,
}

pub struct Responder {
    http: reqwest::Client,
    slots: Vec<Slot>,
    retry: RetryPolicy,
    timeout: Duration,
    pub canned: AtomicU64,
}

/// How a failed response is treated: insufficient quota and spend limits are never
/// retried; 408, 409, 429 and ≥ 500 (529 overloaded included) are.
fn classify(status: u16, kind: &str, reason: String, after: Option<Duration>) -> Failure {
    let no_money = [
        "insufficient_quota",
        "billing_hard_limit_reached",
        "spend_limit",
    ]
    .iter()
    .any(|k| kind.contains(k))
        || reason.contains("credit balance");
    if !no_money && (matches!(status, 408 | 409 | 429) || status >= 500) {
        Failure::Retryable {
            reason,
            retry_after: after,
        }
    } else {
        Failure::Fatal { reason }
    }
}

/// Send a provider request: the status, the server's retry-after, the JSON body (null
/// when it is not JSON). A transport failure is retryable.
async fn exchange(
    provider: &str,
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, Option<Duration>, serde_json::Value), Failure> {
    let resp = request.send().await.map_err(|e| Failure::Retryable {
        reason: format!("{provider}: {}", crate::net::describe(&e)),
        retry_after: None,
    })?;
    let status = resp.status();
    let after = retry::retry_after(resp.headers());
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    Ok((status, after, body))
}

impl Responder {
    /// No providers: the offline responder.
    pub fn new(settings: LlmSettings) -> Responder {
        let http = crate::net::client(settings.timeout);
        Responder {
            http,
            slots: settings
                .providers
                .into_iter()
                .map(|provider| Slot {
                    provider,
                    breaker: Breaker::new(settings.breaker_threshold, settings.breaker_cooldown),
                    calls: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                })
                .collect(),
            retry: settings.retry,
            timeout: settings.timeout,
            canned: AtomicU64::new(0),
        }
    }

    pub fn offline(&self) -> bool {
        self.slots.is_empty()
    }

    /// `offline`, or the providers in the order they are asked.
    pub fn mode(&self) -> String {
        if self.offline() {
            return "offline".into();
        }
        let names: Vec<_> = self.slots.iter().map(|s| s.provider.name()).collect();
        format!("{} → canned", names.join(" → "))
    }

    /// (provider, calls, failures, breaker open) for /health.
    pub fn stats(&self) -> Vec<(&'static str, u64, u64, bool)> {
        self.slots
            .iter()
            .map(|s| {
                (
                    s.provider.name(),
                    s.calls.load(Ordering::Relaxed),
                    s.failures.load(Ordering::Relaxed),
                    s.breaker.open(),
                )
            })
            .collect()
    }

    pub async fn reply(&self, req: &LlmRequest) -> Reply {
        if self.offline() {
            return Reply {
                text: offline::reply(req),
                source: Source::Offline,
                attempts: Vec::new(),
            };
        }
        let mut attempts = Vec::new();
        for slot in &self.slots {
            if !slot.breaker.allow() {
                tracing::warn!(provider = slot.provider.name(), "circuit open; skipped");
                continue;
            }
            match self.with_retries(slot, req, &mut attempts).await {
                Ok(text) => {
                    slot.breaker.success();
                    return Reply {
                        text,
                        source: Source::Provider(slot.provider.name()),
                        attempts,
                    };
                }
                Err(f) => {
                    slot.breaker.failure();
                    tracing::warn!(
                        provider = slot.provider.name(),
                        reason = f.reason(),
                        "language model failed; trying the next"
                    );
                }
            }
        }
        self.canned.fetch_add(1, Ordering::Relaxed);
        tracing::error!("every language model failed; the canned reply is sent");
        Reply {
            text: CANNED_REPLY.into(),
            source: Source::Canned,
            attempts,
        }
    }

    async fn with_retries(
        &self,
        slot: &Slot,
        req: &LlmRequest,
        attempts: &mut Vec<Attempt>,
    ) -> Result<String, Failure> {
        let mut n = 0;
        let (provider, model) = (slot.provider.name(), slot.provider.model().to_owned());
        loop {
            slot.calls.fetch_add(1, Ordering::Relaxed);
            let started = std::time::Instant::now();
            let started_at = std::time::SystemTime::now();
            let attempt = tokio::time::timeout(self.timeout, slot.provider.call(&self.http, req))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::Retryable {
                        reason: format!(
                            "{}: no answer within {:?}",
                            slot.provider.name(),
                            self.timeout
                        ),
                        retry_after: None,
                    })
                });
            let outcome = match &attempt {
                Ok(_) => "ok",
                Err(Failure::Retryable { .. }) => "retryable",
                Err(Failure::Fatal { .. }) => "fatal",
            };
            histogram!("jules_model_call_duration_seconds", "provider" => provider, "model" => model.clone())
                .record(started.elapsed());
            counter!("jules_model_calls_total", "provider" => provider, "model" => model.clone(), "outcome" => outcome)
                .increment(1);
            let (input_tokens, output_tokens) = attempt
                .as_ref()
                .map_or((0, 0), |a| (a.input_tokens, a.output_tokens));
            attempts.push(Attempt {
                provider,
                model: model.clone(),
                started: started_at,
                ended: std::time::SystemTime::now(),
                outcome,
                retry: n,
                input_tokens,
                output_tokens,
                error: attempt.as_ref().err().map(|f| f.reason().to_string()),
            });
            match attempt {
                Ok(answered) => {
                    for (direction, n) in [
                        ("input", answered.input_tokens),
                        ("output", answered.output_tokens),
                    ] {
                        counter!("jules_model_tokens_total", "provider" => provider, "model" => model.clone(), "direction" => direction)
                            .increment(n);
                    }
                    return Ok(answered.text);
                }
                Err(f) => {
                    slot.failures.fetch_add(1, Ordering::Relaxed);
                    let Failure::Retryable { retry_after, .. } = &f else {
                        return Err(f);
                    };
                    if n >= self.retry.retries {
                        return Err(f);
                    }
                    let wait = self.retry.delay(n, *retry_after);
                    tracing::info!(
                        provider = slot.provider.name(),
                        reason = f.reason(),
                        ?wait,
                        "retrying"
                    );
                    counter!("jules_model_retries_total", "provider" => provider, "model" => model.clone())
                        .increment(1);
                    tokio::time::sleep(wait).await;
                    n += 1;
                }
            }
        }
    }
}
