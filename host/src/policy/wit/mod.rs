//! One adapter per frozen WIT version. Each generates its own bindings and converts
//! them into the internal model (`jules_policy_model`); `Pre` is the enum over
//! versions the rest of the runtime dispatches on. A new WIT version adds a module
//! here and a case to `SUPPORTED`; existing adapters are never edited.

pub mod since_v0_1_0;

use semver::Version;

/// WIT versions this host can run.
pub const SUPPORTED: &[&str] = &["0.1.0"];

/// The WIT package's name, as it appears in import names (`jules:policy/types@0.1.0`).
pub const PACKAGE: &str = "jules:policy";

pub fn is_supported(v: &Version) -> bool {
    SUPPORTED
        .iter()
        .any(|s| Version::parse(s).is_ok_and(|s| &s == v))
}

/// A pre-instantiated component, by WIT version.
pub enum VersionedPre {
    V0_1_0(since_v0_1_0::Pre),
}

/// A live instance, by WIT version.
pub enum VersionedInstance {
    V0_1_0(since_v0_1_0::Instance),
}

impl VersionedPre {
    pub fn instantiate(
        &self,
        store: &mut wasmtime::Store<super::sandbox::SandboxState>,
    ) -> wasmtime::Result<VersionedInstance> {
        Ok(match self {
            VersionedPre::V0_1_0(p) => VersionedInstance::V0_1_0(p.instantiate(store)?),
        })
    }
}
