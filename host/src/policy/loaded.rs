//! A loaded bundle: compiled, pre-initialized, pre-instantiated, with its baseline.
//! Its call methods run the component alone (no fallback): the harness uses them
//! directly, the runtime wraps them with containment.

use std::sync::Arc;

use jules_policy_model::{Assessment, Decision, Inbound, LlmRequest, Outbound, Turn, UserContext, World};
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
use super::wit::VersionedPre;

pub struct LoadedBundle {
    pub manifest: Manifest,
    pub digest: BundleDigest,
    pub world: World,
    pub wit_version: Version,
    pub inspection: Inspection,
    /// Whether the compiled artifact came from the on-disk cache.
    pub from_cache: bool,
    pub(super) pre: VersionedPre,
    pub(super) baseline: Baseline,
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

impl LoadedBundle {
    /// A fresh, isolated instance for one call: its store dies with the call.
    fn call<R>(
        &self,
        run: impl FnOnce(&VersionedPre, &mut Store<SandboxState>) -> Option<wasmtime::Result<R>>,
    ) -> Result<R, CallError> {
        let mut store = sandbox::new_store(&self.engine, &self.settings);
        match run(&self.pre, &mut store) {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(sandbox::classify(&store, &self.settings, e)),
            None => Err(CallError::Instantiate {
                reason: format!("bundle {} is a {}", self.manifest.name, self.world),
            }),
        }
    }

    pub fn assess(&self, message: &Inbound, user: &UserContext, recent: &[Turn]) -> Result<Assessment, CallError> {
        let a = self.call(|pre, store| match pre {
            VersionedPre::V0_1_0(p) => p.assess(store, message, user, recent),
        })?;
        validate::assessment(&a, &message.text).map_err(|reason| CallError::InvalidOutput { reason })?;
        Ok(a)
    }

    pub fn evaluate(&self, message: &Inbound, user: &UserContext) -> Result<Decision, CallError> {
        let d = self.call(|pre, store| match pre {
            VersionedPre::V0_1_0(p) => p.evaluate(store, message, user),
        })?;
        validate::decision(&d).map_err(|reason| CallError::InvalidOutput { reason })?;
        Ok(d)
    }

    pub fn shape(&self, reply: &str, disclose: bool) -> Result<Outbound, CallError> {
        let o = self.call(|pre, store| match pre {
            VersionedPre::V0_1_0(p) => p.shape(store, reply, disclose),
        })?;
        validate::outbound(&o, reply).map_err(|reason| CallError::InvalidOutput { reason })?;
        Ok(o)
    }

    pub fn build(&self, input: &PromptInput<'_>) -> Result<LlmRequest, CallError> {
        let r = self.call(|pre, store| match pre {
            VersionedPre::V0_1_0(p) => p.build(store, input),
        })?;
        validate::request(&r).map_err(|reason| CallError::InvalidOutput { reason })?;
        Ok(r)
    }

    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }
}
