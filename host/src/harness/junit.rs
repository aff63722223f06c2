//! JUnit XML, the format CI systems read: one testsuite per run, one testcase per fixture.

use std::fmt::Write as _;

use super::report::{Outcome, Report, describe_failure};

pub fn to_junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures = report.failed() - report.errors();
    let _ = writeln!(
        out,
        "<testsuites name=\"jules policy test\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        report.rows.len(),
        failures,
        report.errors()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        xml(&report.bundle),
        report.rows.len(),
        failures,
        report.errors()
    );
    let _ = writeln!(
        out,
        "    <properties><property name=\"digest\" value=\"{}\"/><property name=\"world\" value=\"{}\"/></properties>",
        xml(&report.digest),
        xml(&report.world)
    );
    for row in &report.rows {
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\"",
            xml(&row.fixture.id),
            xml(&format!("{}.{}", report.world, row.corpus.display()))
        );
        if row.passed() {
            out.push_str("/>\n");
            continue;
        }
        let detail = describe_failure(row);
        let (tag, message) = match &row.outcome {
            Outcome::Error(e) => ("error", e.to_string()),
            Outcome::Checked { verdict, .. } => ("failure", verdict.failures.join("; ")),
        };
        let _ = writeln!(
            out,
            ">\n      <{tag} message=\"{}\">{}</{tag}>\n    </testcase>",
            xml(&message),
            xml(&detail)
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Escape for XML 1.0 text and attributes; characters XML 1.0 cannot hold at all
/// (NUL, most C0 controls, lone surrogates cannot occur in &str) are written as
/// their code point, e.g. `\u{0}`, so fixtures with any text still produce valid XML.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn escapes_markup_and_forbidden_characters() {
        assert_eq!(xml("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(xml("nul\0here"), "nul\\u{0}here");
        assert_eq!(xml("emoji 💀 stays"), "emoji 💀 stays");
    }
}
