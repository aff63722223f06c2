use std::fmt::Write as _;

use crate::{Output, action_label};

/// What a policy answered, for a person reading a failure: crisis evidence with the
/// words it matched, compliance actions, the shaped text, the request's shape.
pub fn describe(text: &str, output: &Output) -> String {
    let mut out = String::new();
    let slice = |s: u32, e: u32| text.get(s as usize..e as usize).unwrap_or("?").to_string();
    match output {
        Output::Assessment(a) => {
            for e in &a.evidence {
                let _ = writeln!(
                    out,
                    "    evidence: {} [{} {}] {:?}",
                    e.rule_id,
                    e.category.as_str(),
                    e.severity.as_str(),
                    slice(e.start, e.end)
                );
            }
            for d in &a.discounted {
                let _ = writeln!(
                    out,
                    "    discounted: {} by {} {:?}",
                    d.rule_id,
                    d.reason,
                    slice(d.start, d.end)
                );
            }
        }
        Output::Decision(d) => {
            let labels: Vec<String> = d.actions.iter().map(action_label).collect();
            let _ = writeln!(out, "    actions: {}", labels.join(", "));
        }
        Output::Outbound(o) => {
            let _ = writeln!(
                out,
                "    outbound: {:?} segments={} truncated={} text={:?}",
                o.encoding, o.segments, o.truncated, o.text
            );
        }
        Output::Request(r) => {
            let _ = writeln!(
                out,
                "    request: crisis-mode={} messages={} max-tokens={} temperature={}",
                r.crisis_mode,
                r.messages.len(),
                r.max_tokens,
                r.temperature
            );
        }
    }
    out
}
