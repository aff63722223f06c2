//! `.env.example` lists every variable Jules reads, and nothing it does not.

use std::collections::BTreeSet;
use std::path::Path;

/// An environment variable's name: capitals, digits and underscores.
fn is_name(s: &str) -> bool {
    s.len() > 2
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Quoted names in the code that reads the environment: the configuration, the policy
/// rollout, the keys, the log filter.
fn read_by_code(host: &Path) -> BTreeSet<String> {
    let mut files: Vec<_> = std::fs::read_dir(host.join("src/config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.extend(
        std::fs::read_dir(host.join("src/rollout"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    files.push(host.join("src/crypto/secrets.rs"));
    files.push(host.join("src/cli/mod.rs"));
    let mut names = BTreeSet::new();
    for file in files {
        let code = std::fs::read_to_string(&file).unwrap();
        let parts: Vec<&str> = code.split('"').collect();
        for i in (1..parts.len()).step_by(2) {
            // Command-line placeholders (`value_name = "FILE"`) are not variables.
            if is_name(parts[i]) && !parts[i - 1].trim_end().ends_with("value_name =") {
                names.insert(parts[i].to_string());
            }
        }
    }
    names
}

#[test]
fn env_example_lists_every_variable_read() {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(host.join("../.env.example")).unwrap();
    let listed: BTreeSet<String> = example
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('='))
        .map(|(name, _)| name.trim().to_string())
        .filter(|name| is_name(name))
        .collect();
    let read = read_by_code(host);
    assert!(read.len() > 40, "the scan found too little: {read:?}");
    let missing: Vec<_> = read.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "read but not in .env.example: {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&read).collect();
    assert!(
        stale.is_empty(),
        "in .env.example but never read: {stale:?}"
    );
}
