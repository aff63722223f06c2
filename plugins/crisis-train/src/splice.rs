//! The model is the config's last key, so that retraining rewrites only it and the
//! hand-written lexicons above keep their layout.

const KEY: &str = ",\n  \"model\": ";

/// The config without its `model` (unchanged when it has none).
pub fn without_model(text: &str) -> Result<String, String> {
    let parsed: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("config.json: {e}"))?;
    let Some(at) = text.find(KEY) else {
        if parsed.get("model").is_some() {
            return Err("config.json: `model` must be the last key, at the top level".into());
        }
        return Ok(text.to_string());
    };
    let base = format!("{}\n}}\n", &text[..at]);
    let mut left: serde_json::Value = serde_json::from_str(&base)
        .map_err(|_| "config.json: `model` must be the last key, at the top level".to_string())?;
    let mut whole = parsed;
    if let (Some(a), Some(b)) = (whole.as_object_mut(), left.as_object_mut()) {
        a.remove("model");
        b.remove("model");
    }
    if whole != left {
        return Err("config.json: `model` must be the last key, at the top level".into());
    }
    Ok(base)
}

/// `base` (a config without a model) with `model` appended as its last key.
pub fn with_model(base: &str, model: &str) -> String {
    let body = base.trim_end();
    let body = body.strip_suffix('}').unwrap_or(body).trim_end();
    format!("{body}{KEY}{model}\n}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_replaced_and_the_rest_kept_byte_for_byte() {
        let base = "{\n  \"version\": 1,\n  \"rules\": [ 1, 2 ]\n}\n";
        let with = with_model(base, "{ \"a\": 1 }");
        assert_eq!(
            with,
            "{\n  \"version\": 1,\n  \"rules\": [ 1, 2 ],\n  \"model\": { \"a\": 1 }\n}\n"
        );
        assert_eq!(without_model(&with).unwrap(), base);
        assert_eq!(without_model(base).unwrap(), base);
    }

    #[test]
    fn a_model_that_is_not_last_is_refused() {
        let text = "{\n  \"version\": 1,\n  \"model\": { \"a\": 1 },\n  \"rules\": []\n}\n";
        assert!(without_model(text).unwrap_err().contains("last key"));
    }
}
