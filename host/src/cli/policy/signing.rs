//! `jules policy keygen | sign | verify`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::policy::{BundleSource, SIGNATURE_FILE, SigningIdentity, Trust, TrustedKeys};

const REFUSED: u8 = 2;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(REFUSED)
}

pub fn keygen(id: &str, dir: &Path) -> ExitCode {
    let identity = match SigningIdentity::generate(id) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let private = dir.join(format!("{id}.key"));
    let public = dir.join(format!("{id}.pub"));
    if let Err(e) = write_new(&private, &identity.private_file(), 0o600) {
        return fail(format!("{}: {e}", private.display()));
    }
    if let Err(e) = write_new(&public, &format!("{}\n", identity.trusted_entry()), 0o644) {
        return fail(format!("{}: {e}", public.display()));
    }
    println!(
        "private key  {} (keep it secret; it signs bundles)",
        private.display()
    );
    println!("public key   {}", public.display());
    println!(
        "trust it on hosts with POLICY_TRUSTED_KEYS={}",
        identity.trusted_entry()
    );
    ExitCode::SUCCESS
}

/// Create `path` with `mode`; never overwrite a key.
fn write_new(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let _ = mode;
    options.open(path)?.write_all(text.as_bytes())
}

pub fn sign(bundle: &Path, key: &Path) -> ExitCode {
    let identity = match SigningIdentity::read(key) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let source = match BundleSource::read(bundle) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot read bundle {}: {e}", bundle.display())),
    };
    let file = identity.sign(&source.manifest, &source.digest);
    let text = serde_json::to_string_pretty(&file).expect("a signature serializes") + "\n";
    let path = bundle.join(SIGNATURE_FILE);
    if let Err(e) = std::fs::write(&path, text) {
        return fail(format!("cannot write {}: {e}", path.display()));
    }
    println!(
        "signed {} {} ({}) with key {} -> {}",
        source.manifest.name,
        source.manifest.version,
        source.digest,
        identity.key_id,
        path.display()
    );
    ExitCode::SUCCESS
}

pub fn verify(bundle: &Path) -> ExitCode {
    let keys = match TrustedKeys::parse(&std::env::var("POLICY_TRUSTED_KEYS").unwrap_or_default()) {
        Ok(k) => k,
        Err(e) => return fail(format!("POLICY_TRUSTED_KEYS: {e}")),
    };
    let source = match BundleSource::read(bundle) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot read bundle {}: {e}", bundle.display())),
    };
    let trust = Trust::Verify {
        keys,
        allow_unsigned: false,
    };
    match trust.check(
        &source.manifest,
        &source.digest,
        source.signature.as_deref(),
    ) {
        Ok(provenance) => {
            println!(
                "{} {} ({}) {provenance}",
                source.manifest.name, source.manifest.version, source.digest
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{} refused: {e}", bundle.display())),
    }
}
