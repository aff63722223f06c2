//! The configuration reference (host/src/config/reference.rs) names every variable
//! Jules reads and nothing it does not, and `.env.example` and
//! `docs/configuration.md` are what it renders now.

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
    // Not the reference itself: it names what it describes.
    let mut files: Vec<_> = std::fs::read_dir(host.join("src/config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("reference.rs"))
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
fn the_reference_names_every_variable_read() {
    let host = Path::new(env!("CARGO_MANIFEST_DIR"));
    let described: BTreeSet<String> = jules::config::reference::BLOCKS
        .iter()
        .flat_map(|b| b.vars)
        .map(|v| v.name.to_string())
        .collect();
    let read = read_by_code(host);
    assert!(read.len() > 40, "the scan found too little: {read:?}");
    let missing: Vec<_> = read.difference(&described).collect();
    assert!(
        missing.is_empty(),
        "read but not in host/src/config/reference.rs: {missing:?}"
    );
    let stale: Vec<_> = described.difference(&read).collect();
    assert!(
        stale.is_empty(),
        "in host/src/config/reference.rs but never read: {stale:?}"
    );
}

#[test]
fn env_example_and_the_configuration_page_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (file, rendered, format) in [
        (".env.example", jules::config::reference::env_file(), "env"),
        (
            "docs/configuration.md",
            jules::config::reference::markdown(),
            "markdown",
        ),
    ] {
        let committed = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            committed == rendered,
            "{file} is not what the reference renders: run\n  cargo run -p jules -- config reference --format {format} > {file}"
        );
    }
}
