//! `jules policy keygen | sign | verify` as a safety team runs them, and what a host
//! does with bundles whose signatures do not hold.

use std::path::Path;
use std::process::Command;

use crate::support::copy_bundle;

fn jules(args: &[&str], trusted: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jules"));
    cmd.args(args).env_remove("POLICY_TRUSTED_KEYS");
    if let Some(keys) = trusted {
        cmd.env("POLICY_TRUSTED_KEYS", keys);
    }
    let out = cmd.output().expect("run jules");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn keygen(dir: &Path, id: &str) -> String {
    let (code, out, err) = jules(
        &[
            "policy",
            "keygen",
            "--id",
            id,
            "--dir",
            dir.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    std::fs::read_to_string(dir.join(format!("{id}.pub")))
        .unwrap()
        .trim()
        .to_string()
}

fn sign(bundle: &Path, key: &Path) {
    let (code, out, err) = jules(
        &[
            "policy",
            "sign",
            bundle.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("signed jules-crisis"), "{out}");
}

fn verify(bundle: &Path, trusted: &str) -> (i32, String) {
    let (code, out, err) = jules(
        &["policy", "verify", bundle.to_str().unwrap()],
        Some(trusted),
    );
    (code, out + &err)
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites_one() {
    let keys = tempfile::tempdir().unwrap();
    let entry = keygen(keys.path(), "safety-2026");
    assert!(entry.starts_with("safety-2026:"), "{entry}");
    let private = keys.path().join("safety-2026.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the private key is readable by others: {mode:o}"
        );
    }
    let before = std::fs::read(&private).unwrap();
    let (code, _, err) = jules(
        &[
            "policy",
            "keygen",
            "--id",
            "safety-2026",
            "--dir",
            keys.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("safety-2026.key"), "{err}");
    assert_eq!(
        std::fs::read(&private).unwrap(),
        before,
        "the key was overwritten"
    );
    let (code, _, err) = jules(&["policy", "keygen", "--id", "no spaces"], None);
    assert_eq!(code, 2);
    assert!(err.contains("key id"), "{err}");
}

#[test]
fn a_signed_bundle_verifies_and_every_tampering_is_named() {
    let keys = tempfile::tempdir().unwrap();
    let trusted = keygen(keys.path(), "safety");
    let other = keygen(keys.path(), "intern");
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("crisis");
    copy_bundle("crisis", &bundle);

    let (code, out) = verify(&bundle, &trusted);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unsigned"), "{out}");

    sign(&bundle, &keys.path().join("safety.key"));
    let (code, out) = verify(&bundle, &trusted);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("signed by safety"), "{out}");

    // Trusting only another key.
    let (code, out) = verify(&bundle, &other);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not in POLICY_TRUSTED_KEYS"), "{out}");

    // The signature without its key id.
    let sig_path = bundle.join("signature.json");
    let signed = std::fs::read_to_string(&sig_path).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&signed).unwrap();
    json.as_object_mut().unwrap().remove("key-id");
    std::fs::write(&sig_path, json.to_string()).unwrap();
    let (code, out) = verify(&bundle, &trusted);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("names no key id"), "{out}");
    std::fs::write(&sig_path, &signed).unwrap();

    // One byte of the component changed after signing.
    let component = bundle.join("component.wasm");
    let mut bytes = std::fs::read(&component).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&component, bytes).unwrap();
    let (code, out) = verify(&bundle, &trusted);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("digest mismatch"), "{out}");
}
