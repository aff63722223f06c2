use super::*;

fn manifest(version: &str) -> Manifest {
    toml::from_str(&format!(
        "name = \"jules-crisis\"\nversion = \"{version}\"\nworld = \"crisis-detector\"\nwit = \"0.1.0\"\n"
    ))
    .unwrap()
}

fn digest(config: &str) -> BundleDigest {
    BundleDigest::of(b"\0asm component", config.as_bytes())
}

fn production(ids: &[&SigningIdentity]) -> Trust {
    let entries: Vec<String> = ids.iter().map(|i| i.trusted_entry()).collect();
    Trust::Verify {
        keys: TrustedKeys::parse(&entries.join(",")).unwrap(),
        allow_unsigned: false,
    }
}

fn signed(id: &SigningIdentity, m: &Manifest, d: &BundleDigest) -> String {
    serde_json::to_string(&id.sign(m, d)).unwrap()
}

#[test]
fn a_trusted_signature_over_this_bundle_verifies() {
    let key = SigningIdentity::generate("safety-2026").unwrap();
    let (m, d) = (manifest("1.2.0"), digest("{}"));
    let got = production(&[&key]).check(&m, &d, Some(&signed(&key, &m, &d)));
    assert_eq!(
        got,
        Ok(Provenance::Signed {
            key_id: "safety-2026".into()
        })
    );
}

#[test]
fn a_changed_config_is_a_digest_mismatch() {
    let key = SigningIdentity::generate("k").unwrap();
    let m = manifest("1.0.0");
    let sig = signed(&key, &m, &digest("{\"a\":1}"));
    let err = production(&[&key])
        .check(&m, &digest("{\"a\":2}"), Some(&sig))
        .unwrap_err();
    assert_eq!(err.kind(), "digest-mismatch", "{err}");
}

#[test]
fn a_manifest_edited_after_signing_is_named() {
    let key = SigningIdentity::generate("k").unwrap();
    let d = digest("{}");
    let sig = signed(&key, &manifest("1.0.0"), &d);
    let err = production(&[&key])
        .check(&manifest("9.0.0"), &d, Some(&sig))
        .unwrap_err();
    assert!(
        matches!(
            err,
            SignatureError::StatementMismatch {
                field: "version",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_signature_without_key_id_is_refused_even_when_valid() {
    let key = SigningIdentity::generate("k").unwrap();
    let (m, d) = (manifest("1.0.0"), digest("{}"));
    let mut file = key.sign(&m, &d);
    file.key_id = None;
    let text = serde_json::to_string(&file).unwrap();
    let err = production(&[&key]).check(&m, &d, Some(&text)).unwrap_err();
    assert_eq!(err, SignatureError::MissingKeyId);
    file.key_id = Some("  ".into());
    let text = serde_json::to_string(&file).unwrap();
    let err = production(&[&key]).check(&m, &d, Some(&text)).unwrap_err();
    assert_eq!(err, SignatureError::MissingKeyId);
}

#[test]
fn an_untrusted_key_is_refused_in_development_too() {
    let (trusted, other) = (
        SigningIdentity::generate("trusted").unwrap(),
        SigningIdentity::generate("other").unwrap(),
    );
    let (m, d) = (manifest("1.0.0"), digest("{}"));
    let sig = signed(&other, &m, &d);
    let development = Trust::Verify {
        keys: TrustedKeys::parse(&trusted.trusted_entry()).unwrap(),
        allow_unsigned: true,
    };
    let err = development.check(&m, &d, Some(&sig)).unwrap_err();
    assert_eq!(err, SignatureError::UnknownKey("other".into()));
}

#[test]
fn a_key_claiming_another_id_does_not_verify() {
    let (trusted, forger) = (
        SigningIdentity::generate("safety").unwrap(),
        SigningIdentity::generate("safety").unwrap(),
    );
    let (m, d) = (manifest("1.0.0"), digest("{}"));
    let err = production(&[&trusted])
        .check(&m, &d, Some(&signed(&forger, &m, &d)))
        .unwrap_err();
    assert_eq!(err, SignatureError::BadSignature("safety".into()));
}

#[test]
fn unsigned_is_refused_in_production_and_marked_in_development() {
    let (m, d) = (manifest("1.0.0"), digest("{}"));
    let key = SigningIdentity::generate("k").unwrap();
    assert_eq!(
        production(&[&key]).check(&m, &d, None),
        Err(SignatureError::Unsigned)
    );
    assert_eq!(
        Trust::default().check(&m, &d, None),
        Ok(Provenance::Unsigned)
    );
}

#[test]
fn malformed_files_and_other_algorithms_are_named() {
    let key = SigningIdentity::generate("k").unwrap();
    let (m, d) = (manifest("1.0.0"), digest("{}"));
    let trust = production(&[&key]);
    let err = trust.check(&m, &d, Some("not json")).unwrap_err();
    assert_eq!(err.kind(), "malformed-signature");
    let mut file = key.sign(&m, &d);
    file.algorithm = "rsa".into();
    let err = trust
        .check(&m, &d, Some(&serde_json::to_string(&file).unwrap()))
        .unwrap_err();
    assert_eq!(err, SignatureError::Algorithm("rsa".into()));
    let mut file = key.sign(&m, &d);
    file.signature = "AAAA".into();
    let err = trust
        .check(&m, &d, Some(&serde_json::to_string(&file).unwrap()))
        .unwrap_err();
    assert_eq!(err.kind(), "malformed-signature");
}

#[test]
fn key_files_round_trip_and_trusted_keys_are_parsed_strictly() {
    let key = SigningIdentity::generate("release.1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.key");
    std::fs::write(&path, key.private_file()).unwrap();
    let read = SigningIdentity::read(&path).unwrap();
    assert_eq!(read.trusted_entry(), key.trusted_entry());

    let two = format!(
        "{}, {}",
        key.trusted_entry(),
        SigningIdentity::generate("b").unwrap().trusted_entry()
    );
    let keys = TrustedKeys::parse(&two).unwrap();
    assert_eq!(keys.ids().collect::<Vec<_>>(), ["b", "release.1"]);
    for bad in [
        "nocolon",
        "a:notbase64!",
        "a:AAAA",
        "bad id:AAAA",
        &format!("{0},{0}", key.trusted_entry()),
    ] {
        assert!(TrustedKeys::parse(bad).is_err(), "{bad:?} was accepted");
    }
    assert!(SigningIdentity::generate("has space").is_err());
}
