//! A loaded bundle: compiled, pre-initialized, pre-instantiated, with its baseline.
//! Its call methods run the component alone (no fallback): the harness uses them
//! directly, the runtime wraps them with containment.

use std::sync::Arc;

use jules_policy_model::{
    Assessment, Decision, Inbound, LlmRequest, Outbound, Turn, UserContext, World,
};
use semver::Version;
use wasmtime::{Engine, Store};

use super::baseline::Baseline;
use super::bundle::{BundleDigest, Manifest};
use super::engine::RuntimeSettings;
use super::error::CallError;
use super::input::PromptInput;
use super::inspect::Inspection;
use super::sandbox::{self, SandboxState};
use super::validate;
use super::wit::{VersionedInstance, VersionedPre};

pub struct LoadedBundle {
    pub manifest: Manifest,
    pub digest: BundleDigest,
    pub world: World,
    pub wit_version: Version,
    pub inspection: Inspection,
    /// Whether the compiled artifact came from the on-disk cache.
    pub from_cache: bool,
    /// Size of the pre-initialized component (what every call's fresh instance
    /// starts from); unknown when it came from the cache.
    pub snapshot_bytes: Option<usize>,
    /// Who vouched for it (its signature, as checked at load).
    pub provenance: super::signing::Provenance,
    pub(super) pre: VersionedPre,
    pub(super) baseline: Baseline,
    /// Whose config the baseline answers with when the component fails: this bundle's
    /// own digest, or the host's built-in bundle's when the baseline cannot read this
    /// bundle's config (a component written with another config schema).
    pub fallback_digest: BundleDigest,
    pub(super) engine: Engine,
    pub(super) settings: Arc<RuntimeSettings>,
}

impl std::fmt::Debug for LoadedBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedBundle")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version.to_string())
            .field("world", &self.world)
            .field("digest", &self.digest)
            .finish()
    }
}

/// One call's answer from an instance, or `None` when the instance is of another world.
type Answer<R> = Option<wasmtime::Result<R>>;

/// A store and an instance in it. `LoadedBundle` makes one per call; `WarmInstance`
/// keeps one (benchmarks compare the two).
struct Live {
    store: Store<SandboxState>,
    instance: VersionedInstance,
}

impl Live {
    fn call<R>(
        &mut self,
        bundle: &LoadedBundle,
        run: impl FnOnce(&VersionedInstance, &mut Store<SandboxState>) -> Answer<R>,
    ) -> Result<R, CallError> {
        self.store
            .set_epoch_deadline(bundle.settings.deadline_ticks());
        match run(&self.instance, &mut self.store) {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(sandbox::classify(&self.store, &bundle.settings, e)),
            None => Err(CallError::Instantiate {
                reason: format!("bundle {} is a {}", bundle.manifest.name, bundle.world),
            }),
        }
    }
}

impl LoadedBundle {
    fn live(&self) -> Result<Live, CallError> {
        let mut store = sandbox::new_store(&self.engine, &self.settings);
        match self.pre.instantiate(&mut store) {
            Ok(instance) => Ok(Live { store, instance }),
            Err(e) => Err(sandbox::classify(&store, &self.settings, e)),
        }
    }

    /// A fresh, isolated instance for one call: its store dies with the call.
    fn call<R>(
        &self,
        run: impl FnOnce(&VersionedInstance, &mut Store<SandboxState>) -> Answer<R>,
    ) -> Result<R, CallError> {
        self.live()?.call(self, run)
    }

    pub fn assess(
        &self,
        message: &Inbound,
        user: &UserContext,
        recent: &[Turn],
    ) -> Result<Assessment, CallError> {
        checked_assess(self.call(assess(message, user, recent)), message)
    }

    pub fn evaluate(&self, message: &Inbound, user: &UserContext) -> Result<Decision, CallError> {
        checked_decision(self.call(evaluate(message, user)))
    }

    pub fn shape(&self, reply: &str, disclose: bool) -> Result<Outbound, CallError> {
        checked_outbound(self.call(shape(reply, disclose)))
    }

    pub fn build(&self, input: &PromptInput<'_>) -> Result<LlmRequest, CallError> {
        checked_request(self.call(build(input)))
    }

    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    /// One instance reused across calls. Production never does this (state would
    /// leak between people's messages); it exists to measure what isolation costs.
    #[cfg(feature = "bench-support")]
    pub fn warm(self: &Arc<Self>) -> Result<WarmInstance, CallError> {
        Ok(WarmInstance {
            live: self.live()?,
            bundle: self.clone(),
        })
    }
}

#[cfg(feature = "bench-support")]
pub struct WarmInstance {
    live: Live,
    bundle: Arc<LoadedBundle>,
}

#[cfg(feature = "bench-support")]
impl WarmInstance {
    pub fn assess(
        &mut self,
        message: &Inbound,
        user: &UserContext,
        recent: &[Turn],
    ) -> Result<Assessment, CallError> {
        checked_assess(
            self.live.call(&self.bundle, assess(message, user, recent)),
            message,
        )
    }

    pub fn evaluate(
        &mut self,
        message: &Inbound,
        user: &UserContext,
    ) -> Result<Decision, CallError> {
        checked_decision(self.live.call(&self.bundle, evaluate(message, user)))
    }

    pub fn shape(&mut self, reply: &str, disclose: bool) -> Result<Outbound, CallError> {
        checked_outbound(self.live.call(&self.bundle, shape(reply, disclose)))
    }

    pub fn build(&mut self, input: &PromptInput<'_>) -> Result<LlmRequest, CallError> {
        checked_request(self.live.call(&self.bundle, build(input)))
    }
}

fn assess<'a>(
    message: &'a Inbound,
    user: &'a UserContext,
    recent: &'a [Turn],
) -> impl FnOnce(&VersionedInstance, &mut Store<SandboxState>) -> Answer<Assessment> + 'a {
    move |i, store| match i {
        VersionedInstance::V0_1_0(i) => i.assess(store, message, user, recent),
    }
}

fn evaluate<'a>(
    message: &'a Inbound,
    user: &'a UserContext,
) -> impl FnOnce(&VersionedInstance, &mut Store<SandboxState>) -> Answer<Decision> + 'a {
    move |i, store| match i {
        VersionedInstance::V0_1_0(i) => i.evaluate(store, message, user),
    }
}

fn shape(
    reply: &str,
    disclose: bool,
) -> impl FnOnce(&VersionedInstance, &mut Store<SandboxState>) -> Answer<Outbound> + '_ {
    move |i, store| match i {
        VersionedInstance::V0_1_0(i) => i.shape(store, reply, disclose),
    }
}

fn build<'a>(
    input: &'a PromptInput<'a>,
) -> impl FnOnce(&VersionedInstance, &mut Store<SandboxState>) -> Answer<LlmRequest> + 'a {
    move |i, store| match i {
        VersionedInstance::V0_1_0(i) => i.build(store, input),
    }
}

fn invalid(reason: String) -> CallError {
    CallError::InvalidOutput { reason }
}

fn checked_assess(
    r: Result<Assessment, CallError>,
    message: &Inbound,
) -> Result<Assessment, CallError> {
    let a = r?;
    validate::assessment(&a, &message.text).map_err(invalid)?;
    Ok(a)
}

fn checked_decision(r: Result<Decision, CallError>) -> Result<Decision, CallError> {
    let d = r?;
    validate::decision(&d).map_err(invalid)?;
    Ok(d)
}

fn checked_outbound(r: Result<Outbound, CallError>) -> Result<Outbound, CallError> {
    let o = r?;
    validate::outbound(&o).map_err(invalid)?;
    Ok(o)
}

fn checked_request(r: Result<LlmRequest, CallError>) -> Result<LlmRequest, CallError> {
    let q = r?;
    validate::request(&q).map_err(invalid)?;
    Ok(q)
}
