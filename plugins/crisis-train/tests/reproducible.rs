//! The shipped model is exactly what the repository's data and the default seed give.

use std::path::PathBuf;

use jules_crisis_train::learn::Settings;
use jules_crisis_train::train;

fn bundle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies/crisis")
}

#[test]
fn the_shipped_model_is_what_training_gives_byte_for_byte() {
    let shipped = std::fs::read_to_string(bundle().join("config.json")).unwrap();
    let trained = train(&bundle(), &Settings::default(), false).unwrap();
    assert!(
        trained.config == shipped,
        "policies/crisis/config.json is not what training gives: run scripts/train-crisis"
    );
}

#[test]
fn another_seed_gives_other_weights_and_the_same_lexicons() {
    let shipped = std::fs::read_to_string(bundle().join("config.json")).unwrap();
    let other = train(
        &bundle(),
        &Settings {
            seed: 7,
            ..Settings::default()
        },
        false,
    )
    .unwrap();
    assert_ne!(other.config, shipped);
    let cut = shipped.find("\n  \"model\": ").unwrap();
    assert_eq!(other.config[..cut], shipped[..cut]);
}
