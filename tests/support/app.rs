//! Jules in process on a random port with a fresh database, the shipped policy
//! components, and fake providers on loopback.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use jules::config::Config;
use jules::crypto::{BlindIndex, KeyOrigin, KeyRing, Secrets};
use jules::startup::Running;

use super::TestDatabase;
use super::fakes::{Fake, Seen, Subscriptions};

/// The shipped bundles, except that compliance does not require age verification
/// (there is no verification provider in these tests).
pub fn policy_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| bundles(false)).clone()
}

/// The shipped bundles as shipped: every new person is asked to verify their age.
pub fn age_gated_policy_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| bundles(true)).clone()
}

fn bundles(age_gate: bool) -> PathBuf {
    {
        let root = super::workspace();
        let dir = root.join("target").join(format!(
            "e2e-policies-{}{}",
            std::process::id(),
            if age_gate { "-age-gated" } else { "" }
        ));
        for name in ["crisis", "compliance", "prompt"] {
            super::copy_bundle(name, &dir.join(name));
        }
        // A real contact in place of the shipped placeholder, which production refuses.
        let config = dir.join("compliance/config.json");
        let mut text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("support@jules.example", "help@julescompanion.org");
        if !age_gate {
            text = text.replace(
                "\"require-age-verification\": true",
                "\"require-age-verification\": false",
            );
        }
        std::fs::write(&config, text).unwrap();
        for name in ["crisis", "compliance", "prompt"] {
            super::sign(&dir.join(name));
        }
        dir
    }
}

/// The HS256 secret of every test host's admin API.
pub const ADMIN_SECRET: &str = "test-admin-secret-of-32-bytes-or-more";

/// A token for the test hosts' admin API.
pub fn admin_token(sub: &str, role: &str) -> String {
    jules::http::admin::auth::mint_hs256(
        ADMIN_SECRET.as_bytes(),
        sub,
        role.parse().unwrap(),
        Duration::from_secs(600),
    )
    .unwrap()
}

pub struct Options {
    pub anthropic: bool,
    pub openai: bool,
    pub bandwidth_credentials: Option<(String, String)>,
    pub max_attempts: i32,
    pub lease: Duration,
    pub quiet: Duration,
    pub alerts: bool,
    pub retry_base: Duration,
    pub llm_timeout: Duration,
    pub carrier_timeout: Duration,
    pub settle_after: Duration,
    /// Share the database and the fake providers of this host (a second replica).
    pub beside: Option<Shared>,
    /// The compliance bundle as shipped: new people are asked to verify their age.
    pub age_gate: bool,
    /// Veriff (the fake) checks ages; else the development stand-in does.
    pub veriff: bool,
    /// Subscriptions through Stripe (the fake).
    pub stripe: bool,
    /// Traces to Langfuse (the fake); `Some(true)` also sends texts, masked.
    pub langfuse: Option<bool>,
    /// Wall-clock budget of one policy call.
    pub policy_deadline: Duration,
    /// Policy calls running at once.
    pub policy_concurrency: usize,
    /// Messages waiting for a crisis shadow at most.
    pub shadow_queue: usize,
    /// Run the pipeline's workers in the background, as a deployed host does; else the
    /// test steps it (`run_until_idle`).
    pub background: bool,
}

/// What a second host shares with the first: the database and the fake providers.
#[derive(Clone)]
pub struct Shared {
    db: Arc<TestDatabase>,
    fakes: [Fake; 8],
    subscriptions: Subscriptions,
    keys: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            anthropic: true,
            openai: true,
            bandwidth_credentials: None,
            max_attempts: 4,
            lease: Duration::from_secs(30),
            quiet: Duration::ZERO,
            alerts: true,
            retry_base: Duration::from_millis(20),
            llm_timeout: Duration::from_secs(5),
            carrier_timeout: Duration::from_secs(15),
            settle_after: Duration::from_millis(50),
            beside: None,
            age_gate: false,
            veriff: false,
            stripe: false,
            langfuse: None,
            policy_deadline: Duration::from_millis(100),
            policy_concurrency: 2,
            shadow_queue: 1024,
            background: false,
        }
    }
}

/// A Bandwidth callback carrying one inbound text.
pub fn text_event(id: &str, from: &str, text: &str) -> serde_json::Value {
    serde_json::json!([{
        "time": "2026-11-25T20:00:00.000Z",
        "type": "message-received",
        "to": JULES_NUMBER,
        "description": "Incoming message received",
        "message": {
            "id": id, "owner": JULES_NUMBER, "applicationId": "app-1",
            "time": "2026-11-25T20:00:00.000Z", "segmentCount": 1, "direction": "in",
            "to": [JULES_NUMBER], "from": from, "text": text, "media": [], "priority": "default"
        }
    }])
}

pub const TWILIO_TOKEN: &str = "twilio-test-token";
pub const VERIFF_KEY: &str = "veriff-test-key";
pub const VERIFF_SECRET: &str = "veriff-test-shared-secret";
pub const STRIPE_KEY: &str = "sk_test_jules";
pub const STRIPE_PRICE: &str = "price_test_premium";
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_test_jules";
pub const LANGFUSE_PUBLIC: &str = "pk-lf-test";
pub const LANGFUSE_SECRET: &str = "sk-lf-test";
pub const JULES_NUMBER: &str = "+15550001111";

pub struct TestApp {
    pub running: Running,
    pub base: String,
    pub public_url: String,
    pub bandwidth: Fake,
    pub twilio: Fake,
    pub anthropic: Fake,
    pub openai: Fake,
    pub alerts: Fake,
    pub veriff: Fake,
    pub stripe: Fake,
    pub langfuse: Fake,
    /// What the fake Stripe answers for each subscription.
    pub subscriptions: Subscriptions,
    pub http: reqwest::Client,
    pub db: Arc<TestDatabase>,
    keys: String,
    background: bool,
    _data: tempfile::TempDir,
}

impl TestApp {
    pub async fn start(o: Options) -> TestApp {
        let (
            db,
            [
                bandwidth,
                twilio,
                anthropic,
                openai,
                alerts,
                veriff,
                stripe,
                langfuse,
            ],
            keys,
            subscriptions,
        ) = match o.beside.clone() {
            Some(shared) => (shared.db, shared.fakes, shared.keys, shared.subscriptions),
            None => {
                let subscriptions = Subscriptions::default();
                (
                    Arc::new(TestDatabase::create().await),
                    [
                        Fake::bandwidth().await,
                        Fake::twilio().await,
                        Fake::anthropic().await,
                        Fake::openai().await,
                        Fake::sink().await,
                        Fake::veriff().await,
                        Fake::stripe(subscriptions.clone()).await,
                        Fake::langfuse().await,
                    ],
                    KeyRing::generate("e2e").unwrap().to_spec(),
                    subscriptions,
                )
            }
        };
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::from_env().expect("the test environment is a valid configuration");
        config.port = 0;
        config.host = "127.0.0.1".into();
        config.data_dir = data.path().to_path_buf();
        config.policy_dir = if o.age_gate {
            age_gated_policy_dir()
        } else {
            policy_dir()
        };
        config.policy.deadline = o.policy_deadline;
        config.policy.concurrency = o.policy_concurrency;
        config.policy.cache_dir = Some(super::workspace().join("target").join("e2e-policy-cache"));
        config.database_url = Some(db.url.clone());
        config.database_pool_size = 8;
        config.redis_url = None;
        // The bundles are signed (support::sign); a host that did not trust the key
        // would refuse them and run on the native baseline.
        config.policy.trust = jules::policy::Trust::Verify {
            keys: jules::policy::TrustedKeys::parse(&super::trusted_keys()).unwrap(),
            allow_unsigned: false,
        };
        config.admin_key = Some(jules::http::admin::auth::TokenKey::Hs256(
            ADMIN_SECRET.as_bytes().to_vec(),
        ));
        let s = &mut config.services;
        let public_url = "https://jules.example.com".to_string();
        s.bandwidth = Some(jules::carrier::BandwidthOut {
            base_url: bandwidth.url.clone(),
            account_id: "9900000".into(),
            username: "api-user".into(),
            password: "api-pass".into(),
            application_id: "app-1".into(),
            from: JULES_NUMBER.into(),
        });
        s.twilio = Some(jules::carrier::TwilioOut {
            base_url: twilio.url.clone(),
            account_sid: "AC123".into(),
            auth_token: TWILIO_TOKEN.into(),
            from: JULES_NUMBER.into(),
            status_callback: Some(format!("{public_url}/webhooks/twilio/status")),
        });
        s.ingress = jules::http::IngressSettings {
            bandwidth_credentials: o.bandwidth_credentials,
            bandwidth_open: true,
            twilio_auth_token: Some(TWILIO_TOKEN.into()),
            public_url: Some(public_url.clone()),
        };
        let mut providers = Vec::new();
        if o.anthropic {
            providers.push(jules::llm::Provider::Anthropic(jules::llm::Anthropic {
                base_url: anthropic.url.clone(),
                api_key: "sk-ant-test".into(),
                model: "claude-test".into(),
            }));
        }
        if o.openai {
            providers.push(jules::llm::Provider::OpenAi(jules::llm::OpenAi {
                base_url: openai.url.clone(),
                api_key: "sk-test".into(),
                model: "gpt-test".into(),
            }));
        }
        s.llm.providers = providers;
        s.llm.retry.base = Duration::from_millis(20);
        s.llm.timeout = o.llm_timeout;
        s.pipeline.quiet = o.quiet;
        s.pipeline.lease = o.lease;
        s.pipeline.poll = Duration::from_millis(20);
        s.pipeline.max_attempts = o.max_attempts;
        s.pipeline.retry_base = o.retry_base;
        s.pipeline.settle_after = o.settle_after;
        s.carrier_timeout = o.carrier_timeout;
        s.pipeline.crisis_alert_url = o.alerts.then(|| alerts.url.clone());
        s.veriff = o.veriff.then(|| jules::age::VeriffSettings {
            base_url: veriff.url.clone(),
            api_key: VERIFF_KEY.into(),
            shared_secret: VERIFF_SECRET.into(),
            callback: Some(public_url.clone()),
        });
        s.stripe = o.stripe.then(|| jules::billing::StripeSettings {
            api_url: stripe.url.clone(),
            secret_key: STRIPE_KEY.into(),
            price_id: STRIPE_PRICE.into(),
            webhook_secret: STRIPE_WEBHOOK_SECRET.into(),
            return_url: "https://jules.example.com/premium".into(),
        });
        s.langfuse = o
            .langfuse
            .map(|capture_content| jules::langfuse::LangfuseSettings {
                host: langfuse.url.clone(),
                public_key: LANGFUSE_PUBLIC.into(),
                secret_key: LANGFUSE_SECRET.into(),
                capture_content,
            });
        s.pipeline.shadow_queue = o.shadow_queue;
        let secrets = Secrets {
            ring: KeyRing::parse(&keys).unwrap(),
            blind: BlindIndex::parse(&"B".repeat(44)).unwrap(),
            origin: KeyOrigin::Environment,
        };
        let mut running = jules::startup::start(&config, secrets)
            .await
            .expect("jules starts");
        if !o.background {
            running.stop_workers();
        }
        // These tests are about the components; the baseline answering would hide that.
        for world in jules_policy_model::World::ALL {
            assert!(
                running.policies.active(world).is_some(),
                "no component is active for {world}: was a bundle refused?"
            );
        }
        TestApp {
            base: format!("http://{}", running.addr),
            running,
            public_url,
            bandwidth,
            twilio,
            anthropic,
            openai,
            alerts,
            veriff,
            stripe,
            langfuse,
            subscriptions,
            http: jules::net::client(Duration::from_secs(30)),
            db,
            keys,
            background: o.background,
            _data: data,
        }
    }

    /// What a second host needs to run beside this one.
    pub fn shared(&self) -> Shared {
        Shared {
            db: self.db.clone(),
            fakes: [
                self.bandwidth.clone(),
                self.twilio.clone(),
                self.anthropic.clone(),
                self.openai.clone(),
                self.alerts.clone(),
                self.veriff.clone(),
                self.stripe.clone(),
                self.langfuse.clone(),
            ],
            subscriptions: self.subscriptions.clone(),
            keys: self.keys.clone(),
        }
    }

    /// What `GET /health` answers.
    pub async fn health(&self) -> serde_json::Value {
        self.http
            .get(format!("{}/health", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Bandwidth delivers an inbound text.
    pub async fn text(&self, id: &str, from: &str, text: &str) -> reqwest::Response {
        self.bandwidth_events(text_event(id, from, text)).await
    }

    /// Twilio posts `params` to `path` (with its query), signed as Twilio signs.
    pub async fn twilio_post(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let url = format!("{}{path}", self.public_url);
        let signature = jules::http::webhooks::twilio::signature(TWILIO_TOKEN, &url, &params);
        self.http
            .post(format!("{}{path}", self.base))
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await
            .unwrap()
    }

    pub async fn bandwidth_events(&self, events: serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}/webhooks/bandwidth", self.base))
            .json(&events)
            .send()
            .await
            .unwrap()
    }

    /// The texts the fake Bandwidth took for `to`, in the order it took them.
    pub fn sent_to(&self, to: &str) -> Vec<String> {
        self.bandwidth
            .seen()
            .iter()
            .filter(|s| s.taken())
            .map(Seen::json)
            .filter(|j| j["to"][0] == to)
            .map(|j| j["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Wait until `fake` has seen `n` requests (or fail after 10 s).
    pub async fn wait_for(&self, fake: &Fake, n: usize) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while fake.count() < n {
            assert!(
                Instant::now() < deadline,
                "waited 10 s for {n} requests; saw {:?}",
                fake.seen()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        fake.seen()
    }

    /// Answer and send, in this task, everything due now (`Pipeline::run_until_idle`);
    /// work scheduled for later (a retry's backoff, a quiet window) is left.
    pub async fn step(&self) -> jules::pipeline::Stepped {
        assert!(
            !self.background,
            "this host's workers run in the background: use wait_until_idle"
        );
        self.running
            .pipeline
            .run_until_idle()
            .await
            .expect("the store answers")
    }

    /// Step the pipeline until the store holds no unanswered text and no unsent reply:
    /// work scheduled for later is waited for (to when it is due), up to 10 s. Nothing
    /// runs after this returns, so a wrong extra send would already have been made.
    pub async fn run_until_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.step().await;
            let Some(due_in) = self.open_work().await else {
                return;
            };
            self.give_up_after(deadline).await;
            tokio::time::sleep(due_in.clamp(Duration::from_millis(1), Duration::from_millis(200)))
                .await;
        }
    }

    /// For a host whose workers run in the background (`Options::background`): wait
    /// until the store holds no open work, then a moment more (so a wrong extra send
    /// would show).
    pub async fn wait_until_idle(&self) {
        assert!(
            self.background,
            "this host's pipeline is stepped: use run_until_idle"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.open_work().await.is_some() {
            self.give_up_after(deadline).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    /// None when no inbound text is unanswered and no outbound one unsent; else how
    /// long until the earliest outbox row is due (10 ms when only texts are open: a
    /// quiet window, or a released turn).
    async fn open_work(&self) -> Option<Duration> {
        let client = jules::store::migrate::connect(&self.db.url).await.unwrap();
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM messages WHERE direction = 'in' AND status IN ('received','processing'))
                      + (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_lettered_at IS NULL),
                        (SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 FROM outbox
                          WHERE sent_at IS NULL AND dead_lettered_at IS NULL)",
                &[],
            )
            .await
            .unwrap();
        let open: i64 = row.get(0);
        let due_in: Option<f64> = row.get(1);
        (open > 0).then(|| {
            due_in.map_or(Duration::from_millis(10), |s| {
                Duration::from_secs_f64(s.max(0.0))
            })
        })
    }

    /// Fail, naming what is still open, once `deadline` has passed.
    async fn give_up_after(&self, deadline: Instant) {
        if Instant::now() < deadline {
            return;
        }
        let client = jules::store::migrate::connect(&self.db.url).await.unwrap();
        let rows = client
            .query(
                "SELECT 'out ' || coalesce(m.purpose, '') || ' attempts ' || o.attempts
                        || ' error ' || coalesce(o.last_error, '-')
                        || ' in doubt ' || (o.in_doubt_since IS NOT NULL)
                        || ' due in ' || (o.next_attempt_at - now())
                 FROM outbox o JOIN messages m ON m.id = o.message_id
                 WHERE o.sent_at IS NULL AND o.dead_lettered_at IS NULL
                 UNION ALL
                 SELECT 'in ' || status FROM messages
                 WHERE direction = 'in' AND status IN ('received', 'processing')",
                &[],
            )
            .await
            .unwrap();
        let open: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        panic!("{} messages still open after 10 s: {open:#?}", open.len());
    }

    pub async fn sql_one<T: for<'a> tokio_postgres::types::FromSql<'a>>(&self, sql: &str) -> T {
        let client = jules::store::migrate::connect(&self.db.url).await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }
}
