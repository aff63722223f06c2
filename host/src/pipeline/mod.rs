//! The pipeline of one inbound SMS, after ingress stored it: claim the person's
//! conversation, assess crisis, apply compliance, build the prompt, ask the language
//! model, shape and queue the reply; and the outbox sender that delivers queued
//! messages with retries. Every step's outcome is written to the store, so a worker
//! that dies mid-way leaves work another finishes, and nothing is answered twice.

mod account;
mod actions;
mod age;
mod clock;
mod conversation;
mod escalation;
mod sender;
mod shadow;
#[cfg(feature = "test-support")]
mod step;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

pub use self::account::ERASED_NOTICE;
pub use self::clock::Clock;
pub(crate) use self::conversation::forget;
#[cfg(feature = "test-support")]
pub use self::step::Stepped;
pub use self::worker::{Drained, Workers, spawn};
use crate::age::AgeVerifier;
use crate::carrier::Carriers;
use crate::llm::Responder;
use crate::memory::Memory;
use crate::policy::PolicyRuntime;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Texts from one person closer together than this are answered as one turn
    /// (`COALESCE_WINDOW_MS`; zero answers each at once).
    pub quiet: Duration,
    /// How long a worker owns a conversation or an outbox row before another may
    /// take it over.
    pub lease: Duration,
    /// How often workers look for work when nothing woke them.
    pub poll: Duration,
    /// Conversations processed at once by one host.
    pub concurrency: usize,
    /// Messages one host has in flight to its carriers at once (`OUTBOX_CONCURRENCY`).
    pub send_concurrency: usize,
    /// Send attempts before a message is dead-lettered (`OUTBOX_MAX_ATTEMPTS`).
    pub max_attempts: i32,
    /// First retry delay of the outbox; doubles per attempt, capped at 5 minutes.
    pub retry_base: Duration,
    /// After a send whose outcome is unknown, how long before the carrier is asked
    /// whether it took the message (carriers list a message a little after taking it).
    pub settle_after: Duration,
    /// Where crisis escalations are announced (ids and severity, never text).
    pub crisis_alert_url: Option<String>,
    /// Messages waiting for a crisis shadow at most; more are dropped and counted.
    pub shadow_queue: usize,
    /// At shutdown, how long turns already started may take to finish
    /// (`SHUTDOWN_TURNS_MS`); the sends they queued then have 10 s more.
    pub shutdown_turns: Duration,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            quiet: Duration::from_millis(1500),
            lease: Duration::from_secs(120),
            poll: Duration::from_millis(100),
            concurrency: 256,
            send_concurrency: 128,
            max_attempts: 8,
            retry_base: Duration::from_secs(2),
            settle_after: Duration::from_secs(30),
            crisis_alert_url: None,
            shadow_queue: shadow::QUEUE,
            shutdown_turns: Duration::from_secs(15),
        }
    }
}

/// Everything a worker needs; cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    pub store: Store,
    pub memory: Memory,
    pub policies: Arc<PolicyRuntime>,
    pub responder: Arc<Responder>,
    pub carriers: Arc<Carriers>,
    pub clock: Arc<Clock>,
    /// Who checks ages when the compliance policy asks.
    pub age: Arc<AgeVerifier>,
    /// Subscriptions, when Stripe is configured (`with_stripe`).
    pub stripe: Option<Arc<crate::billing::Stripe>>,
    /// Traces of turns, when Langfuse is configured (`with_langfuse`).
    pub langfuse: Option<crate::langfuse::Langfuse>,
    pub settings: Arc<PipelineSettings>,
    /// Rung when a message is stored (ingress) or queued (the worker).
    pub inbound_ready: Arc<Notify>,
    pub outbox_ready: Arc<Notify>,
    /// Hands sampled messages to a crisis shadow, when one is set.
    shadow: Arc<shadow::Shadower>,
    http: reqwest::Client,
}

impl Pipeline {
    pub fn with_stripe(mut self, stripe: Option<crate::billing::Stripe>) -> Pipeline {
        self.stripe = stripe.map(Arc::new);
        self
    }

    pub fn with_langfuse(mut self, langfuse: Option<crate::langfuse::Langfuse>) -> Pipeline {
        self.langfuse = langfuse;
        self
    }

    pub fn new(
        store: Store,
        memory: Memory,
        policies: Arc<PolicyRuntime>,
        responder: Arc<Responder>,
        carriers: Arc<Carriers>,
        age: AgeVerifier,
        settings: PipelineSettings,
    ) -> Pipeline {
        let (policies_for_shadow, store_for_shadow) = (policies.clone(), store.db().clone());
        let settings_queue = settings.shadow_queue;
        Pipeline {
            store,
            memory,
            policies,
            responder,
            carriers,
            clock: Arc::default(),
            age: Arc::new(age),
            stripe: None,
            langfuse: None,
            settings: Arc::new(settings),
            inbound_ready: Arc::default(),
            outbox_ready: Arc::default(),
            shadow: Arc::new(shadow::Shadower::start(
                policies_for_shadow,
                store_for_shadow,
                settings_queue,
            )),
            http: crate::net::client(Duration::from_secs(5)),
        }
    }
}
