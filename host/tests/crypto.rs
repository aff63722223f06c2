//! Personal data sealing: round trips, tampering and row swaps rejected, rotation,
//! key parsing errors, blind indexes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jules::crypto::{Binding, BlindIndex, CryptoError, KeyRing, key_id_of, open, seal};

fn key(byte: u8) -> String {
    STANDARD.encode([byte; 32])
}

fn ring(spec: &[(&str, u8)]) -> KeyRing {
    let s: Vec<String> = spec
        .iter()
        .map(|(id, b)| format!("{id}:{}", key(*b)))
        .collect();
    KeyRing::parse(&s.join(",")).expect("ring")
}

const PHONE: Binding<'static> = Binding {
    table: "users",
    column: "phone",
    row: "user-1",
};

#[test]
fn sealed_values_round_trip_and_hide_the_plaintext() {
    let r = ring(&[("k1", 1)]);
    let text = "+15551234567".as_bytes();
    let a = seal(&r, PHONE, text);
    let b = seal(&r, PHONE, text);
    assert_ne!(a, b, "a fresh nonce per value");
    assert!(!a.windows(text.len()).any(|w| w == text));
    assert_eq!(open(&r, PHONE, &a).unwrap(), text);
    assert_eq!(key_id_of(&a).unwrap(), "k1");
}

#[test]
fn tampered_or_moved_ciphertexts_are_rejected() {
    let r = ring(&[("k1", 1), ("k2", 2)]);
    let sealed = seal(&r, PHONE, b"+15551234567");

    for i in [5, sealed.len() / 2, sealed.len() - 1] {
        let mut t = sealed.clone();
        t[i] ^= 0x01;
        assert!(
            matches!(open(&r, PHONE, &t), Err(CryptoError::Rejected { .. })),
            "byte {i}"
        );
    }
    let other_row = Binding {
        row: "user-2",
        ..PHONE
    };
    let err = open(&r, other_row, &sealed).unwrap_err();
    assert!(err.to_string().contains("users.phone row user-2"), "{err}");
    let other_column = Binding {
        column: "name",
        ..PHONE
    };
    assert!(open(&r, other_column, &sealed).is_err());

    // Relabelled with the other key's id: the id is bound too.
    let mut relabelled = sealed.clone();
    relabelled[3] = b'2';
    assert_eq!(key_id_of(&relabelled).unwrap(), "k2");
    assert!(matches!(
        open(&r, PHONE, &relabelled),
        Err(CryptoError::Rejected { .. })
    ));

    assert!(matches!(
        open(&r, PHONE, &[]),
        Err(CryptoError::Malformed(_))
    ));
    assert!(matches!(
        open(&r, PHONE, &sealed[..10]),
        Err(CryptoError::Malformed(_))
    ));
    assert!(matches!(
        open(&r, PHONE, &[9, 0]),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn rotation_keeps_old_values_readable_until_their_key_retires() {
    let old = ring(&[("2025", 1)]);
    let sealed_old = seal(&old, PHONE, b"hello");

    let rotated = ring(&[("2026", 2), ("2025", 1)]);
    assert_eq!(rotated.active().as_str(), "2026");
    assert_eq!(open(&rotated, PHONE, &sealed_old).unwrap(), b"hello");
    let resealed = seal(
        &rotated,
        PHONE,
        &open(&rotated, PHONE, &sealed_old).unwrap(),
    );
    assert_eq!(key_id_of(&resealed).unwrap(), "2026");

    let retired = ring(&[("2026", 2)]);
    assert_eq!(open(&retired, PHONE, &resealed).unwrap(), b"hello");
    assert_eq!(
        open(&retired, PHONE, &sealed_old),
        Err(CryptoError::UnknownKey("2025".into()))
    );
}

#[test]
fn key_specs_are_checked_and_never_printed() {
    let bad = [
        ("", "entry 1 is not"),
        ("k1", "entry 1 is not"),
        ("k1:not base64!", "not base64"),
        (
            &format!("k1:{}", STANDARD.encode([1u8; 16])),
            "16 bytes, AES-256 needs 32",
        ),
        (&format!("k1:{},k1:{}", key(1), key(2)), "listed twice"),
        (&format!("bad id:{}", key(1)), "must be 1-32 characters"),
    ];
    for (spec, needle) in bad {
        let err = KeyRing::parse(spec).unwrap_err().to_string();
        assert!(err.contains(needle), "{spec:?}: {err}");
    }
    let r = ring(&[("k1", 7)]);
    assert!(!format!("{r:?}").contains(&key(7)));
    let again = KeyRing::parse(&r.to_spec()).unwrap();
    let sealed = seal(&r, PHONE, b"x");
    assert_eq!(open(&again, PHONE, &sealed).unwrap(), b"x");

    let generated = KeyRing::generate("dev").unwrap();
    assert_eq!(
        open(&generated, PHONE, &seal(&generated, PHONE, b"y")).unwrap(),
        b"y"
    );
}

#[test]
fn blind_indexes_are_stable_keyed_and_kind_separated() {
    let a = BlindIndex::parse(&key(1)).unwrap();
    let b = BlindIndex::parse(&key(2)).unwrap();
    assert_eq!(a.of("phone", "+15551234567"), a.of("phone", "+15551234567"));
    assert_ne!(a.of("phone", "+15551234567"), a.of("phone", "+15551234568"));
    assert_ne!(a.of("phone", "+15551234567"), b.of("phone", "+15551234567"));
    assert_ne!(a.of("phone", "x"), a.of("email", "x"));
    let short = BlindIndex::parse(&STANDARD.encode([1u8; 8])).unwrap_err();
    assert!(short.to_string().contains("at least 32"), "{short}");
}

mod secrets {
    use jules::crypto::{DEV_KEYS_FILE, KeyOrigin, Secrets};

    fn env<'a>(pairs: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn development_generates_keys_once_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let first = Secrets::load(env(&[]), false, dir.path()).unwrap();
        let path = dir.path().join(DEV_KEYS_FILE);
        assert_eq!(
            first.origin,
            KeyOrigin::DevelopmentFile {
                path: path.clone(),
                created: true
            }
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let second = Secrets::load(env(&[]), false, dir.path()).unwrap();
        assert_eq!(
            second.origin,
            KeyOrigin::DevelopmentFile {
                path,
                created: false
            }
        );
        let b = super::PHONE;
        let sealed = jules::crypto::seal(&first.ring, b, b"kept across restarts");
        assert_eq!(
            jules::crypto::open(&second.ring, b, &sealed).unwrap(),
            b"kept across restarts"
        );
        assert_eq!(
            first.blind.of("phone", "+1"),
            second.blind.of("phone", "+1")
        );
    }

    #[test]
    fn production_refuses_to_start_without_keys() {
        let dir = tempfile::tempdir().unwrap();
        let err = Secrets::load(env(&[]), true, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ENCRYPTION_KEYS is not set; production needs"),
            "{err}"
        );
        assert!(
            !dir.path().join(DEV_KEYS_FILE).exists(),
            "no keys are generated in production"
        );
        let only_keys = [("ENCRYPTION_KEYS", format!("k1:{}", super::key(1)))];
        let err = Secrets::load(env(&only_keys), false, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("BLIND_INDEX_KEY is not set"), "{err}");
    }

    #[test]
    fn keys_from_the_environment_are_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = [
            (
                "ENCRYPTION_KEYS",
                format!("k2:{},k1:{}", super::key(2), super::key(1)),
            ),
            ("BLIND_INDEX_KEY", super::key(9)),
        ];
        let s = Secrets::load(env(&good), true, dir.path()).unwrap();
        assert_eq!(s.origin, KeyOrigin::Environment);
        assert_eq!(s.ring.active().as_str(), "k2");
        let bad = [
            ("ENCRYPTION_KEYS", "k1:short".to_string()),
            ("BLIND_INDEX_KEY", super::key(9)),
        ];
        let err = Secrets::load(env(&bad), true, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ENCRYPTION_KEYS: key k1"), "{err}");
    }
}
