//! Bundles in an OCI registry, as Wasm OCI artifacts: the config blob is
//! `application/vnd.wasm.config.v0+json` describing the component, the component is an
//! `application/wasm` layer, the bundle's manifest, config and signature are layers of
//! their own, and name, version, world, WIT version and digest are annotations.
//! Plain HTTP is allowed only for a registry on loopback.

use std::collections::BTreeMap;
use std::path::Path;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::policy::{BundleSource, MANIFEST_FILE, SIGNATURE_FILE};

pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
pub const MANIFEST_LAYER: &str = "application/vnd.jules.policy.manifest.v1+toml";
pub const CONFIG_LAYER: &str = "application/vnd.jules.policy.config.v1+json";
pub const SIGNATURE_LAYER: &str = "application/vnd.jules.policy.signature.v1+json";

pub const WORLD_ANNOTATION: &str = "dev.jules.policy.world";
pub const WIT_ANNOTATION: &str = "dev.jules.policy.wit";
pub const DIGEST_ANNOTATION: &str = "dev.jules.policy.digest";

/// Whether `text` names a registry reference rather than a folder: its first path
/// segment is a registry host (has a dot or a port, or is localhost).
pub fn is_reference(text: &str) -> bool {
    let Some((host, rest)) = text.split_once('/') else {
        return false;
    };
    !rest.is_empty()
        && (host.contains('.') || host.contains(':') || host == "localhost")
        && !text.starts_with('.')
        && Reference::try_from(text).is_ok()
}

fn parse(reference: &str) -> Result<Reference, String> {
    Reference::try_from(reference)
        .map_err(|e| format!("{reference}: not a registry reference: {e}"))
}

fn loopback(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(registry, |(host, _)| host);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

fn client(reference: &Reference) -> Client {
    crate::net::install_tls();
    let registry = reference.resolve_registry().to_string();
    let protocol = if loopback(&registry) {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        ..Default::default()
    })
}

/// POLICY_REGISTRY_USERNAME and POLICY_REGISTRY_PASSWORD, else anonymous.
fn auth() -> RegistryAuth {
    match (
        crate::config::var("POLICY_REGISTRY_USERNAME"),
        crate::config::var("POLICY_REGISTRY_PASSWORD"),
    ) {
        (Some(user), Some(password)) => RegistryAuth::Basic(user, password),
        _ => RegistryAuth::Anonymous,
    }
}

fn layer(data: Vec<u8>, media_type: &str, title: &str) -> ImageLayer {
    let annotations = BTreeMap::from([(
        "org.opencontainers.image.title".to_string(),
        title.to_string(),
    )]);
    ImageLayer::new(data, media_type.to_string(), Some(annotations))
}

/// Why a push failed: the bundle (or reference) is wrong, or the registry refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Bundle(String),
    #[error("{0}")]
    Registry(String),
}

/// Push the bundle in `dir` to `reference`; returns `repository@sha256:…`, the
/// reference that always names exactly what was pushed.
pub async fn push(dir: &Path, reference: &str) -> Result<String, PushError> {
    let target = parse(reference).map_err(PushError::Bundle)?;
    let d = dir.to_path_buf();
    let (bundle, manifest_text, inspection) = tokio::task::spawn_blocking(move || {
        let bundle = BundleSource::read(&d).map_err(|e| e.to_string())?;
        let text = std::fs::read(d.join(MANIFEST_FILE)).map_err(|e| e.to_string())?;
        let inspection =
            crate::policy::check_component(&bundle.component_path).map_err(|e| e.to_string())?;
        Ok::<_, String>((bundle, text, inspection))
    })
    .await
    .map_err(|e| PushError::Bundle(e.to_string()))?
    .map_err(PushError::Bundle)?;
    let m = &bundle.manifest;
    let component = layer(bundle.component.clone(), WASM_LAYER, "component.wasm");
    let config_json = serde_json::json!({
        "created": chrono::Utc::now().to_rfc3339(),
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [component.sha256_digest()],
        "component": {
            "target": format!("jules:policy/{}@{}", m.world, m.wit),
            "exports": inspection.exports,
            "imports": inspection.imports.iter().map(|i| &i.name).collect::<Vec<_>>(),
        },
    });
    let mut layers = vec![
        component,
        layer(manifest_text, MANIFEST_LAYER, MANIFEST_FILE),
        layer(
            bundle.config.clone().into_bytes(),
            CONFIG_LAYER,
            "config.json",
        ),
    ];
    if let Some(signature) = &bundle.signature {
        layers.push(layer(
            signature.clone().into_bytes(),
            SIGNATURE_LAYER,
            SIGNATURE_FILE,
        ));
    }
    let config = Config::new(
        serde_json::to_vec(&config_json).expect("json serializes"),
        WASM_CONFIG.to_string(),
        None,
    );
    let annotations = BTreeMap::from([
        ("org.opencontainers.image.title".to_string(), m.name.clone()),
        (
            "org.opencontainers.image.version".to_string(),
            m.version.to_string(),
        ),
        (
            "org.opencontainers.image.description".to_string(),
            m.description.clone(),
        ),
        (WORLD_ANNOTATION.to_string(), m.world.to_string()),
        (WIT_ANNOTATION.to_string(), m.wit.to_string()),
        (DIGEST_ANNOTATION.to_string(), bundle.digest.to_string()),
    ]);
    let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
    let client = client(&target);
    client
        .push(&target, &layers, config, &auth(), Some(manifest))
        .await
        .map_err(|e| PushError::Registry(format!("cannot push to {reference}: {e}")))?;
    let digest = client
        .fetch_manifest_digest(&target, &auth())
        .await
        .map_err(|e| {
            PushError::Registry(format!("pushed, but cannot read back {reference}: {e}"))
        })?;
    Ok(by_digest(&target, &digest))
}

fn by_digest(reference: &Reference, digest: &str) -> String {
    format!(
        "{}/{}@{digest}",
        reference.resolve_registry(),
        reference.repository()
    )
}

/// `reference` pinned to the manifest it names now (`repository@sha256:…`).
pub async fn resolve(reference: &str) -> Result<String, String> {
    let target = parse(reference)?;
    if target.digest().is_some() {
        return Ok(reference.to_string());
    }
    let digest = client(&target)
        .fetch_manifest_digest(&target, &auth())
        .await
        .map_err(|e| format!("cannot resolve {reference}: {e}"))?;
    Ok(by_digest(&target, &digest))
}

/// Pull the bundle at `reference` into the folder `dir` (created; must not exist).
pub async fn pull(reference: &str, dir: &Path) -> Result<(), String> {
    let target = parse(reference)?;
    let image = client(&target)
        .pull(
            &target,
            &auth(),
            vec![WASM_LAYER, MANIFEST_LAYER, CONFIG_LAYER, SIGNATURE_LAYER],
        )
        .await
        .map_err(|e| format!("cannot pull {reference}: {e}"))?;
    if image.config.media_type != WASM_CONFIG {
        return Err(format!(
            "{reference} is not a Wasm OCI artifact (config {})",
            image.config.media_type
        ));
    }
    let one = |media_type: &str| {
        let mut found = image.layers.iter().filter(|l| l.media_type == media_type);
        match (found.next(), found.next()) {
            (Some(l), None) => Ok(Some(l.data.to_vec())),
            (None, _) => Ok(None),
            _ => Err(format!("{reference} has more than one {media_type} layer")),
        }
    };
    let missing = |what: &str| format!("{reference} has no {what} layer");
    let manifest = one(MANIFEST_LAYER)?.ok_or_else(|| missing(MANIFEST_LAYER))?;
    let component = one(WASM_LAYER)?.ok_or_else(|| missing(WASM_LAYER))?;
    let config = one(CONFIG_LAYER)?.ok_or_else(|| missing(CONFIG_LAYER))?;
    let signature = one(SIGNATURE_LAYER)?;
    // The manifest names the component's and config's files; a pulled one may only
    // name plain files in the bundle's own folder.
    let parsed: crate::policy::Manifest = toml::from_str(
        std::str::from_utf8(&manifest)
            .map_err(|_| format!("{reference}: the manifest is not UTF-8"))?,
    )
    .map_err(|e| format!("{reference}: bad manifest: {e}"))?;
    for path in [&parsed.component, &parsed.config] {
        let plain = path.components().count() == 1
            && matches!(
                path.components().next(),
                Some(std::path::Component::Normal(_))
            );
        if !plain {
            return Err(format!(
                "{reference}: the manifest names {} outside the bundle's folder",
                path.display()
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = vec![
        (dir.join(MANIFEST_FILE), manifest),
        (dir.join(&parsed.component), component),
        (dir.join(&parsed.config), config),
    ];
    if let Some(s) = signature {
        files.push((dir.join(SIGNATURE_FILE), s));
    }
    for (path, bytes) in files {
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
