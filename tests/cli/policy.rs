//! `jules policy test` and `jules policy check` as an author runs them.

use std::process::Command;

use crate::support::{shipped_bundle, temp_bundle, test_component, workspace};

fn jules(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .args(args)
        .env(
            "POLICY_CACHE_DIR",
            workspace().join("target").join("policy-cache-tests"),
        )
        .output()
        .expect("run jules");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `jules policy test` of the shipped crisis bundle on a corpus of `lines`.
fn crisis_test_on(lines: &str) -> (i32, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus.jsonl");
    std::fs::write(&corpus, lines).unwrap();
    let bundle = shipped_bundle("crisis");
    jules(&[
        "policy",
        "test",
        bundle.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--no-progress",
    ])
}

#[test]
fn shipped_bundles_pass_their_own_corpora() {
    for name in ["crisis", "compliance", "prompt"] {
        let dir = shipped_bundle(name);
        let (code, out, err) = jules(&["policy", "test", dir.to_str().unwrap(), "--no-progress"]);
        assert_eq!(code, 0, "{name}:\n{out}\n{err}");
        assert!(out.contains("0 failed"), "{out}");
        assert!(
            out.contains("precision"),
            "the per-label table is printed:\n{out}"
        );
    }
}

#[test]
fn a_failing_fixture_exits_1_and_is_listed_with_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("wrong.jsonl");
    std::fs::write(
        &corpus,
        concat!(
            "{\"id\":\"mislabelled\",\"text\":\"i want to kill myself tonight\",\"expect\":{\"severity\":\"none\"}}\n",
            "{\"id\":\"fine\",\"text\":\"what a lovely day\",\"expect\":{\"severity\":\"none\"}}\n",
        ),
    )
    .unwrap();
    let bundle = shipped_bundle("crisis");
    let args = [
        "policy",
        "test",
        bundle.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--no-progress",
    ];
    let (code, out, _) = jules(&args);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 passed, 1 failed"), "{out}");
    assert!(out.contains("mislabelled"), "{out}");
    assert!(out.contains("severity: expected none, got"), "{out}");
    assert!(out.contains("evidence: "), "the evidence is shown:\n{out}");
    assert!(
        !out.contains("  fine ("),
        "passing fixtures are not listed:\n{out}"
    );

    let xml_path = tmp.path().join("report.xml");
    let mut junit = args.to_vec();
    junit.extend(["--format", "junit", "--output", xml_path.to_str().unwrap()]);
    let (code, _, _) = jules(&junit);
    assert_eq!(code, 1);
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"fine\""), "{xml}");
    assert!(
        xml.contains("<failure message=\"severity: expected none"),
        "{xml}"
    );
}

#[test]
fn a_bad_corpus_line_exits_2_naming_the_line() {
    let (code, _, err) = crisis_test_on(
        "{\"id\":\"a\",\"text\":\"hi\",\"expect\":{\"severity\":\"none\"}}\n{not json\n",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn a_bundle_that_cannot_load_exits_2() {
    let dir = temp_bundle(&test_component("clock"), "crisis-detector", "0.1.0", "{}");
    let (code, _, err) = jules(&[
        "policy",
        "test",
        dir.path().to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("wasi:clocks"), "{err}");
}

#[test]
fn check_describes_a_component_and_refuses_capabilities() {
    let good = shipped_bundle("crisis").join("component.wasm");
    let (code, out, _) = jules(&["policy", "check", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("world      crisis-detector"), "{out}");
    assert!(out.contains("jules:policy@0.1.0"), "{out}");
    assert!(out.contains("exports    init, assess"), "{out}");

    let bad = test_component("clock");
    let (code, out, err) = jules(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.contains("REFUSED  wasi:clocks/wall-clock"), "{out}");
    assert!(err.contains("capabilities policies may not have"), "{err}");
}

#[test]
fn a_crisis_report_says_who_would_get_the_resources_per_language() {
    let (code, out, _) = crisis_test_on(concat!(
        "{\"id\":\"a\",\"text\":\"im going to end it all tonight\",\"expect\":{\"severity\":\"imminent\",\"categories\":[\"suicide\"]}}\n",
        "{\"id\":\"b\",\"text\":\"what a lovely day\",\"expect\":{\"severity\":\"imminent\",\"categories\":[\"suicide\"]}}\n",
        "{\"id\":\"c\",\"text\":\"i killed it at the gym\",\"expect\":{\"severity\":\"none\"}}\n",
        "{\"id\":\"d\",\"text\":\"me quiero morir\",\"expect\":{\"severity\":\"moderate\",\"categories\":[\"suicide\"]},\"note\":\"lang:es\"}\n",
        "{\"id\":\"e\",\"text\":\"i want to kill myself\",\"expect\":{\"severity\":\"none\"},\"note\":\"mislabelled on purpose lang:es\"}\n",
    ));
    assert_eq!(code, 1, "{out}");
    let row = |lang: &str, category: &str| -> Vec<String> {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().take(2).eq([lang, category]))
            .unwrap_or_else(|| panic!("no {lang} {category} row:\n{out}"));
        line.split_whitespace()
            .skip(2)
            .map(str::to_string)
            .collect()
    };
    assert!(out.contains("escalation (at moderate)"), "{out}");
    // en: 1 of 2 imminent escalated, assessed imminent; the negative left alone.
    assert_eq!(
        row("en", "all"),
        [
            "0.50", "(1/2)", "0.50", "(1/2)", "0.50", "(1/2)", "0.00", "(0/1)", "-"
        ]
    );
    // es: the one crisis escalated; the (mislabelled) negative escalated.
    assert_eq!(
        row("es", "all"),
        ["1.00", "(1/1)", "-", "-", "1.00", "(1/1)", "-"]
    );
}
