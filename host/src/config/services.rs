//! The services' settings: carriers, language models, the pipeline, HTTP. A provider
//! is on when its first variable is set; then its other required variables must be
//! too, and a missing one is named.

use std::time::Duration;

use super::{ConfigError, parsed, positive, var};
use crate::carrier::{BandwidthOut, TwilioOut};
use crate::http::{HttpSettings, IngressSettings};
use crate::llm::{Anthropic, LlmSettings, OpenAi, Provider, RetryPolicy};
use crate::pipeline::PipelineSettings;

fn required(name: &'static str, because: &str) -> Result<String, ConfigError> {
    var(name).ok_or_else(|| ConfigError {
        name,
        reason: format!("must be set when {because} is"),
    })
}

fn url(name: &'static str, default: &str) -> Result<String, ConfigError> {
    let v = var(name).unwrap_or_else(|| default.into());
    if v.starts_with("http://") || v.starts_with("https://") {
        Ok(v.trim_end_matches('/').to_string())
    } else {
        Err(ConfigError {
            name,
            reason: format!("{v:?} is not an http(s) URL"),
        })
    }
}

fn millis(name: &'static str, default: u64) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(positive(name, default)?))
}

#[derive(Debug, Clone)]
pub struct Services {
    pub bandwidth: Option<BandwidthOut>,
    pub twilio: Option<TwilioOut>,
    /// How long a carrier's API may take to answer a send (`CARRIER_TIMEOUT_MS`).
    pub carrier_timeout: Duration,
    pub ingress: IngressSettings,
    pub llm: LlmSettings,
    pub pipeline: PipelineSettings,
    pub http: HttpSettings,
    /// Age verification (`VERIFF_API_KEY`, `VERIFF_SHARED_SECRET`, `VERIFF_BASE_URL`).
    pub veriff: Option<crate::age::VeriffSettings>,
    /// Subscriptions (`STRIPE_SECRET_KEY` and the rest).
    pub stripe: Option<crate::billing::StripeSettings>,
    /// Turn traces (`LANGFUSE_PUBLIC_KEY` and the rest).
    pub langfuse: Option<crate::langfuse::LangfuseSettings>,
}

pub fn from_env() -> Result<Services, ConfigError> {
    let public_url = match var("PUBLIC_URL") {
        Some(_) => Some(url("PUBLIC_URL", "")?),
        None => None,
    };
    let bandwidth = match var("BANDWIDTH_ACCOUNT_ID") {
        None => None,
        Some(account_id) => Some(BandwidthOut {
            base_url: url("BANDWIDTH_API_URL", "https://messaging.bandwidth.com")?,
            account_id,
            username: required("BANDWIDTH_USERNAME", "BANDWIDTH_ACCOUNT_ID")?,
            password: required("BANDWIDTH_PASSWORD", "BANDWIDTH_ACCOUNT_ID")?,
            application_id: required("BANDWIDTH_APPLICATION_ID", "BANDWIDTH_ACCOUNT_ID")?,
            from: required("BANDWIDTH_NUMBER", "BANDWIDTH_ACCOUNT_ID")?,
        }),
    };
    let bandwidth_credentials = match (
        var("BANDWIDTH_WEBHOOK_USERNAME"),
        var("BANDWIDTH_WEBHOOK_PASSWORD"),
    ) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        (Some(_), None) => {
            required("BANDWIDTH_WEBHOOK_PASSWORD", "BANDWIDTH_WEBHOOK_USERNAME")?;
            None
        }
        (None, Some(_)) => {
            required("BANDWIDTH_WEBHOOK_USERNAME", "BANDWIDTH_WEBHOOK_PASSWORD")?;
            None
        }
    };
    let twilio_token = var("TWILIO_AUTH_TOKEN");
    let twilio = match var("TWILIO_ACCOUNT_SID") {
        None => None,
        Some(account_sid) => Some(TwilioOut {
            base_url: url("TWILIO_API_URL", "https://api.twilio.com")?,
            account_sid,
            auth_token: required("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID")?,
            from: required("TWILIO_NUMBER", "TWILIO_ACCOUNT_SID")?,
            status_callback: public_url
                .as_ref()
                .map(|u| format!("{u}/webhooks/twilio/status")),
        }),
    };
    let mut providers = Vec::new();
    if let Some(api_key) = var("ANTHROPIC_API_KEY") {
        providers.push(Provider::Anthropic(Anthropic {
            base_url: url("ANTHROPIC_BASE_URL", "https://api.anthropic.com")?,
            api_key,
            model: var("ANTHROPIC_MODEL").unwrap_or_else(|| "claude-sonnet-4-5".into()),
        }));
    }
    if let Some(api_key) = var("OPENAI_API_KEY") {
        providers.push(Provider::OpenAi(OpenAi {
            base_url: url("OPENAI_BASE_URL", "https://api.openai.com")?,
            api_key,
            model: var("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
        }));
    }
    let retry = RetryPolicy {
        retries: parsed("LLM_RETRIES", 2)?,
        base: millis("LLM_RETRY_BASE_MS", 500)?,
        ..RetryPolicy::default()
    };
    let defaults = PipelineSettings::default();
    let crisis_alert_url = match var("CRISIS_ALERT_URL") {
        Some(_) => Some(url("CRISIS_ALERT_URL", "")?),
        None => None,
    };
    let veriff = match var("VERIFF_API_KEY") {
        None => None,
        Some(api_key) => Some(crate::age::VeriffSettings {
            base_url: url("VERIFF_BASE_URL", "https://stationapi.veriff.com")?,
            api_key,
            shared_secret: required("VERIFF_SHARED_SECRET", "VERIFF_API_KEY")?,
            callback: public_url.clone(),
        }),
    };
    let stripe = match var("STRIPE_SECRET_KEY") {
        None => None,
        Some(secret_key) => Some(crate::billing::StripeSettings {
            api_url: url("STRIPE_API_URL", "https://api.stripe.com")?,
            secret_key,
            price_id: required("STRIPE_PRICE_ID", "STRIPE_SECRET_KEY")?,
            webhook_secret: required("STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY")?,
            return_url: {
                required("STRIPE_RETURN_URL", "STRIPE_SECRET_KEY")?;
                url("STRIPE_RETURN_URL", "")?
            },
        }),
    };
    let langfuse = match var("LANGFUSE_PUBLIC_KEY") {
        None => None,
        Some(public_key) => Some(crate::langfuse::LangfuseSettings {
            host: url("LANGFUSE_HOST", "https://cloud.langfuse.com")?,
            public_key,
            secret_key: required("LANGFUSE_SECRET_KEY", "LANGFUSE_PUBLIC_KEY")?,
            capture_content: parsed("LANGFUSE_CAPTURE_CONTENT", false)?,
        }),
    };
    Ok(Services {
        veriff,
        stripe,
        langfuse,
        bandwidth,
        twilio,
        carrier_timeout: millis("CARRIER_TIMEOUT_MS", 15_000)?,
        ingress: IngressSettings {
            bandwidth_credentials,
            bandwidth_open: false,
            twilio_auth_token: twilio_token,
            public_url,
        },
        llm: LlmSettings {
            providers,
            retry,
            timeout: millis("LLM_TIMEOUT_MS", 20_000)?,
            breaker_threshold: positive("LLM_BREAKER_THRESHOLD", 5)?,
            breaker_cooldown: millis("LLM_BREAKER_COOLDOWN_MS", 30_000)?,
        },
        pipeline: PipelineSettings {
            quiet: Duration::from_millis(parsed(
                "COALESCE_WINDOW_MS",
                defaults.quiet.as_millis() as u64,
            )?),
            lease: millis("WORK_LEASE_MS", defaults.lease.as_millis() as u64)?,
            poll: millis("WORK_POLL_MS", defaults.poll.as_millis() as u64)?,
            concurrency: positive("WORKER_CONCURRENCY", defaults.concurrency)?,
            send_concurrency: positive("OUTBOX_CONCURRENCY", defaults.send_concurrency)?,
            max_attempts: positive("OUTBOX_MAX_ATTEMPTS", defaults.max_attempts)?,
            retry_base: millis(
                "OUTBOX_RETRY_BASE_MS",
                defaults.retry_base.as_millis() as u64,
            )?,
            settle_after: millis(
                "OUTBOX_SETTLE_AFTER_MS",
                defaults.settle_after.as_millis() as u64,
            )?,
            crisis_alert_url,
            shadow_queue: positive("SHADOW_QUEUE", defaults.shadow_queue)?,
            shutdown_turns: millis(
                "SHUTDOWN_TURNS_MS",
                defaults.shutdown_turns.as_millis() as u64,
            )?,
        },
        http: HttpSettings {
            max_body_bytes: positive("MAX_BODY_BYTES", 256 * 1024)?,
            timeout: millis("REQUEST_TIMEOUT_MS", 10_000)?,
        },
    })
}
