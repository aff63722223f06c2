//! `jules policy diff` as a safety team's CI runs it: two crisis bundles that differ in
//! one lexicon rule, on the shipped corpus.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use jules_policy_corpus::{Case, parse};
use jules_policy_model::{Severity, World};

use crate::support::{copy_bundle, workspace};

const RULE: &str = "suicide.kill-myself";

fn jules(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .args(args)
        .env(
            "POLICY_CACHE_DIR",
            workspace().join("target/policy-cache-tests"),
        )
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

type Decisions = BTreeMap<String, (Severity, BTreeSet<String>, BTreeSet<String>, Severity)>;

/// What the native detector (the same logic, compiled into the host) decides for each
/// fixture under `config`, by id: severity, categories got, categories and severity
/// expected.
fn decide(config: &str, corpus: &str) -> Decisions {
    let detector = jules_crisis::Detector::from_config_json(config).unwrap();
    let mut out = BTreeMap::new();
    for f in parse(World::CrisisDetector, corpus).unwrap() {
        let Case::Assess {
            message,
            user,
            recent,
            expect,
        } = &f.case
        else {
            continue;
        };
        let a = detector.assess(message, user, recent);
        let got: BTreeSet<String> = a
            .categories
            .iter()
            .map(|c| c.as_str().to_string())
            .collect();
        let expected: BTreeSet<String> = expect
            .categories
            .iter()
            .map(|c| c.as_str().to_string())
            .collect();
        out.insert(f.id.clone(), (a.severity, got, expected, expect.severity));
    }
    out
}

fn recall(decisions: &Decisions, label: &str) -> f64 {
    let (mut tp, mut support) = (0, 0);
    for (_, got, expected, _) in decisions.values() {
        if expected.contains(label) {
            support += 1;
            tp += usize::from(got.contains(label));
        }
    }
    tp as f64 / support as f64
}

#[test]
fn a_removed_rule_is_diffed_fixture_by_fixture_and_its_recall_loss_fails_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    copy_bundle("crisis", &old);
    copy_bundle("crisis", &new);
    let old_config = std::fs::read_to_string(old.join("config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&old_config).unwrap();
    let rules = config["rules"].as_array_mut().unwrap();
    let before = rules.len();
    rules.retain(|r| r["id"] != RULE);
    assert_eq!(rules.len(), before - 1, "{RULE} is a shipped rule");
    let new_config = serde_json::to_string(&config).unwrap();
    std::fs::write(new.join("config.json"), &new_config).unwrap();

    let corpus_path = workspace().join("policies/crisis/corpus.jsonl");
    let corpus = std::fs::read_to_string(&corpus_path).unwrap();
    let (was, now) = (decide(&old_config, &corpus), decide(&new_config, &corpus));
    let changed: BTreeSet<&String> = was
        .iter()
        .filter(|(id, (sev, got, _, _))| {
            let (s, g, _, _) = &now[*id];
            (sev, got) != (s, g)
        })
        .map(|(id, _)| id)
        .collect();
    // What the diff must call a regression, from the definitions: an imminent missed,
    // a person in danger no longer sent the resources, an expected category lost.
    let at = jules_crisis::Detector::from_config_json(&old_config)
        .unwrap()
        .response()
        .escalate_at;
    let regressions: BTreeSet<&String> = changed
        .iter()
        .copied()
        .filter(|id| {
            let ((s0, g0, e, want), (s1, g1, _, _)) = (&was[*id], &now[*id]);
            (*s0 == Severity::Imminent && *s1 < Severity::Imminent)
                || (*want >= at && *s0 >= at && *s1 < at)
                || e.iter().any(|l| g0.contains(l) && !g1.contains(l))
        })
        .collect();
    assert!(!regressions.is_empty(), "removing {RULE} loses something");

    let path = |p: &Path| p.to_str().unwrap().to_string();
    let base = [
        "policy".to_string(),
        "diff".into(),
        path(&old),
        path(&new),
        "--corpus".into(),
        path(&corpus_path),
        "--no-progress".into(),
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |a: Vec<String>| jules(&a.iter().map(String::as_str).collect::<Vec<_>>());

    let (code, out, err) = run(args(&["--format", "json"]));
    assert_eq!(code, 1, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let listed: BTreeSet<String> = json["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        listed.iter().collect::<BTreeSet<_>>(),
        changed,
        "exactly the affected fixtures"
    );
    assert_eq!(json["regressions"], regressions.len(), "{out}");
    assert_eq!(json["verdict"], "regression");
    let suicide = json["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "suicide")
        .unwrap();
    let (r0, r1) = (
        suicide["old"]["recall"].as_f64().unwrap(),
        suicide["new"]["recall"].as_f64().unwrap(),
    );
    assert!(
        (r0 - recall(&was, "suicide")).abs() < 1e-9 && (r1 - recall(&now, "suicide")).abs() < 1e-9,
        "{suicide}"
    );
    assert!(r1 < r0, "{suicide}");

    // The text report names each change with its evidence and the verdict.
    let (code, text, _) = run(args(&[]));
    assert_eq!(code, 1);
    let first = regressions.iter().next().unwrap();
    assert!(
        text.contains(&format!("{first} (")) && text.contains("REGRESSION: "),
        "{text}"
    );
    assert!(
        text.contains(&format!("evidence: {RULE}")),
        "the old side's evidence: {text}"
    );
    assert!(text.trim_end().ends_with("verdict: regression"), "{text}");

    // JUnit: one case per change, the regressions failing.
    let xml_path = tmp.path().join("diff.xml");
    let (code, _, _) = run(args(&[
        "--format",
        "junit",
        "--output",
        xml_path.to_str().unwrap(),
    ]));
    assert_eq!(code, 1);
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    let failures = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!((cases, failures), (changed.len(), regressions.len()));

    // Accepting every regression by id passes; a misspelt id is named.
    let mut allowed = vec!["--format".to_string(), "json".into()];
    for id in &regressions {
        allowed.extend(["--allow".to_string(), id.to_string()]);
    }
    allowed.extend(["--allow".to_string(), "no-such-fixture".into()]);
    let (code, out, err) = run(base.iter().cloned().chain(allowed).collect());
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(
        json["unused_allows"],
        serde_json::json!(["no-such-fixture"])
    );

    // The same bundle against itself changes nothing.
    let (code, out, _) = run(vec![
        "policy".into(),
        "diff".into(),
        path(&old),
        path(&old),
        "--corpus".into(),
        path(&corpus_path),
        "--no-progress".into(),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("0 decisions changed"), "{out}");
}
