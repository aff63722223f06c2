//! What a component is: its world, WIT version, exports and imports, and whether it
//! asks for capabilities beyond the deny-all set. Used at load and by `policy check`.

use std::path::Path;

use jules_policy_model::World;
use semver::Version;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::error::LoadError;
use super::wit;

/// WASI interfaces a policy may import. Rust's std links these even when unused; the
/// host satisfies them with an empty context (no env, no args, empty stdin, stdout
/// discarded, stderr captured for panic messages).
const DENY_ALL_SET: &[&str] = &[
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:io/poll",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
];

#[derive(Debug, Clone)]
pub struct Import {
    pub name: String,
    pub allowed: bool,
}

/// The shape of a component.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub world: Option<World>,
    pub wit_version: Option<Version>,
    pub exports: Vec<String>,
    pub imports: Vec<Import>,
}

impl Inspection {
    pub fn refused_imports(&self) -> Vec<&str> {
        self.imports
            .iter()
            .filter(|i| !i.allowed)
            .map(|i| i.name.as_str())
            .collect()
    }

    /// The checks every load makes; `expected` is the manifest's world and WIT version.
    pub fn require(
        &self,
        expected: Option<(World, &Version)>,
    ) -> Result<(World, Version), LoadError> {
        let refused = self.refused_imports();
        if !refused.is_empty() {
            return Err(LoadError::Capability {
                imports: refused.join(", "),
            });
        }
        let version = self.wit_version.clone().ok_or(LoadError::NoWitVersion)?;
        if !wit::is_supported(&version) {
            return Err(LoadError::UnsupportedWit {
                found: version.to_string(),
                supported: wit::SUPPORTED.join(", "),
            });
        }
        let world = self.world.ok_or_else(|| LoadError::UnknownWorld {
            exports: self.exports.join(", "),
        })?;
        if let Some((want_world, want_version)) = expected {
            if want_world != world {
                return Err(LoadError::WrongWorld {
                    manifest: want_world.to_string(),
                    component: world.to_string(),
                });
            }
            if want_version != &version {
                return Err(LoadError::WitVersionMismatch {
                    manifest: want_version.to_string(),
                    component: version.to_string(),
                });
            }
        }
        for name in world_exports(world) {
            if !self.exports.iter().any(|e| e == name) {
                return Err(LoadError::MissingExport {
                    world: world.to_string(),
                    name: (*name).to_string(),
                });
            }
        }
        Ok((world, version))
    }
}

pub fn world_exports(world: World) -> &'static [&'static str] {
    match world {
        World::CrisisDetector => &["init", "assess"],
        World::CompliancePolicy => &["init", "evaluate", "shape"],
        World::PromptBuilder => &["init", "build"],
    }
}

/// Refuse bytes that are not a component before handing them to the compiler, so the
/// author gets a precise message.
pub fn check_header(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm {
            path: path.to_path_buf(),
        });
    }
    // The version field: 1 for core modules, 0x0d with layer 1 for components.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::CoreModule {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Compile `bytes` and describe the result.
pub fn compile_and_inspect(
    engine: &Engine,
    path: &Path,
    bytes: &[u8],
) -> Result<(Component, Inspection), LoadError> {
    check_header(path, bytes)?;
    let component = Component::new(engine, bytes).map_err(|e| LoadError::Invalid {
        path: path.to_path_buf(),
        reason: format!("{e:#}"),
    })?;
    let inspection = inspect(engine, &component);
    Ok((component, inspection))
}

pub fn inspect(engine: &Engine, component: &Component) -> Inspection {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let mut wit_version = None;
    let mut imports = Vec::new();
    for (name, item) in ty.imports(engine) {
        let (base, version) = split_version(name);
        let allowed = if let Some(rest) = base.strip_prefix(wit::PACKAGE) {
            // The contract's interfaces carry types only: a host function here would
            // be a capability no version of the contract grants.
            if rest.starts_with('/') && wit_version.is_none() {
                wit_version = version.clone();
            }
            is_type_only(engine, &item.ty)
        } else {
            DENY_ALL_SET.contains(&base)
        };
        imports.push(Import {
            name: name.to_string(),
            allowed,
        });
    }
    let world = World::ALL.into_iter().find(|w| {
        let names = world_exports(*w);
        // The distinguishing export (the one after init) decides the world.
        exports.iter().any(|e| e == names[1])
    });
    Inspection {
        world,
        wit_version,
        exports,
        imports,
    }
}

fn split_version(name: &str) -> (&str, Option<Version>) {
    match name.rsplit_once('@') {
        Some((base, v)) => (base, Version::parse(v).ok()),
        None => (name, None),
    }
}

fn is_type_only(engine: &Engine, item: &ComponentItem) -> bool {
    match item {
        ComponentItem::ComponentInstance(inst) => inst
            .exports(engine)
            .all(|(_, item)| matches!(item.ty, ComponentItem::Type(_))),
        ComponentItem::Type(_) => true,
        _ => false,
    }
}
