//! Naming the setting a JSON error is about: serde_json reports a line and column, and
//! a person fixing a configuration wants `generation.crisis.temperature`.

/// Prefix serde's message with the dotted path of the setting where it stopped.
pub fn describe(json: &str, error: &serde_json::Error, what: &str) -> String {
    match path_at(json, error.line(), error.column()) {
        Some(path) if error.is_data() => format!("`{path}`: {error}"),
        _ => format!("{what}: {error}"),
    }
}

enum Frame {
    Object(Option<String>),
    Array(usize),
}

/// The path of the innermost key or array element open at `line`/`column` (1-based,
/// as serde_json counts them), or `None` at the top level.
fn path_at(json: &str, line: usize, column: usize) -> Option<String> {
    let start: usize = json
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let end = start.saturating_add(column).min(json.len());
    let bytes = json.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes.get(i) {
            Some(b'"') => {
                let from = i + 1;
                i = from;
                while i < bytes.len() && bytes.get(i) != Some(&b'"') {
                    i += if bytes.get(i) == Some(&b'\\') { 2 } else { 1 };
                }
                let text = json.get(from..i.min(json.len())).unwrap_or("");
                let mut j = i + 1;
                while bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
                    j += 1;
                }
                if bytes.get(j) == Some(&b':')
                    && let Some(Frame::Object(key)) = stack.last_mut()
                {
                    *key = Some(text.to_string());
                }
            }
            Some(b'{') => stack.push(Frame::Object(None)),
            Some(b'[') => stack.push(Frame::Array(0)),
            Some(b',') => {
                if let Some(Frame::Array(n)) = stack.last_mut() {
                    *n += 1;
                }
            }
            Some(b'}' | b']') => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object(None) => {}
            Frame::Array(n) => path.push_str(&format!("[{n}]")),
        }
    }
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        a: Inner,
        list: Vec<u32>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        b: u32,
        c: String,
    }

    fn error(json: &str) -> String {
        let e = serde_json::from_str::<Outer>(json).unwrap_err();
        describe(json, &e, "config")
    }

    #[test]
    fn names_nested_settings() {
        let e = error(r#"{"a": {"b": -1, "c": "x"}, "list": []}"#);
        assert!(e.starts_with("`a.b`:"), "{e}");
        let e = error("{\"a\": {\"b\": 1,\n \"c\": 7}, \"list\": []}");
        assert!(e.starts_with("`a.c`:"), "{e}");
        let e = error(r#"{"a": {"b": 1, "c": "x"}, "list": [1, 2, "x"]}"#);
        assert!(e.starts_with("`list[2]`:"), "{e}");
        let e = error(r#"{"a": {"b": 1, "c": "x", "d": 1}, "list": []}"#);
        assert!(e.starts_with("`a.d`:"), "{e}");
        let e = error(r#"{"a": {"b": 1}, "list": []}"#);
        assert!(e.starts_with("`a`: missing field `c`"), "{e}");
        let e = error("{");
        assert!(e.starts_with("config:"), "{e}");
    }
}
