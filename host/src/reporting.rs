//! Error reporting to Sentry (`SENTRY_DSN`): errors logged through `tracing` and
//! panics become Sentry events, warnings and info lines their breadcrumbs.
//!
//! Nothing a person wrote and no phone number leaves the host. Every event passes
//! `scrub` before it is sent: of the logged fields only the ones named in `KEPT`
//! (identifiers and kinds the host itself chose) survive; the request id and the
//! bundle digest become tags; what is left of messages and exception texts has every
//! run of digits that could be a phone number replaced.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use sentry::protocol::{Breadcrumb, Context, Event, Value};

/// Logged fields that may leave the host: the host's own ids, counts and kinds. Span
/// fields come as `span:field`.
const KEPT: [&str; 14] = [
    "request:id",
    "request:method",
    "request:path",
    "outbox",
    "attempts",
    "carrier",
    "provider",
    "world",
    "bundle",
    "digest",
    "kind",
    "migration",
    "event",
    "severity",
];

/// The Sentry client, when `SENTRY_DSN` is set; events are sent until it is dropped.
pub fn init(
    dsn: Option<&str>,
    environment: &str,
) -> anyhow::Result<Option<sentry::ClientInitGuard>> {
    let Some(dsn) = dsn else {
        return Ok(None);
    };
    let dsn: sentry::types::Dsn = dsn
        .parse()
        .map_err(|e| anyhow::anyhow!("SENTRY_DSN: {e}"))?;
    crate::net::install_tls();
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(dsn);
    options.release = Some(Cow::Borrowed(concat!("jules@", env!("CARGO_PKG_VERSION"))));
    options.environment = Some(Cow::Owned(environment.to_owned()));
    options.send_default_pii = false;
    options.before_send = Some(Arc::new(|event| Some(scrub(event))));
    options.before_breadcrumb = Some(Arc::new(|crumb| Some(scrub_breadcrumb(crumb))));
    Ok(Some(sentry::init(options)))
}

/// The tracing layers, when `SENTRY_DSN` is set: spans (so that an error event carries
/// the fields of the spans it happened in, the request id among them), errors as events,
/// warnings and info lines as breadcrumbs. Spans are not sent as traces.
pub fn layers<S>() -> Option<impl tracing_subscriber::Layer<S>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer, SpanLayer};
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::{LevelFilter, filter_fn};
    std::env::var("SENTRY_DSN")
        .ok()
        .filter(|v| !v.trim().is_empty())?;
    let errors = filter_fn(|m| m.is_span() || *m.level() == tracing::Level::ERROR);
    Some(
        SpanLayer::new()
            .with_filter(LevelFilter::INFO)
            .and_then(
                ErrorLayer::new()
                    .enable_span_attributes()
                    .with_filter(errors),
            )
            .and_then(BreadcrumbLayer::new().with_filter(LevelFilter::INFO)),
    )
}

/// What of `event` may leave the host (see the module's comment).
pub fn scrub(mut event: Event<'static>) -> Event<'static> {
    let mut tags = BTreeMap::new();
    for context in event.contexts.values_mut() {
        let Context::Other(fields) = context else {
            continue;
        };
        if let Some(Value::String(id)) = fields.get("request:id") {
            tags.insert("request_id".to_owned(), id.clone());
        }
        if let Some(Value::String(d)) = fields.get("digest") {
            tags.insert("bundle_digest".to_owned(), d.clone());
        }
        fields.retain(|k, _| KEPT.contains(&k.as_str()) || is_location(k));
        for v in fields.values_mut() {
            scrub_value(v);
        }
    }
    event.tags.extend(tags);
    event.extra.retain(|k, _| KEPT.contains(&k.as_str()));
    event.message = event.message.map(|m| phone_free(&m));
    if let Some(entry) = event.logentry.as_mut() {
        entry.message = phone_free(&entry.message);
        entry.params.clear();
    }
    for e in event.exception.values.iter_mut() {
        e.value = e.value.as_deref().map(phone_free);
    }
    event.user = None;
    event.request = None;
    event.breadcrumbs.values = std::mem::take(&mut event.breadcrumbs.values)
        .into_iter()
        .map(scrub_breadcrumb)
        .collect();
    event
}

fn scrub_breadcrumb(mut crumb: Breadcrumb) -> Breadcrumb {
    crumb.message = crumb.message.map(|m| phone_free(&m));
    crumb.data.retain(|k, _| KEPT.contains(&k.as_str()));
    for v in crumb.data.values_mut() {
        scrub_value(v);
    }
    crumb
}

fn is_location(key: &str) -> bool {
    matches!(key, "module_path" | "file" | "line")
}

fn scrub_value(v: &mut Value) {
    if let Value::String(s) = v {
        *s = phone_free(s);
    }
}

/// `text` with every run of 7 or more digits (spaces, dots, dashes, parentheses and a
/// leading + allowed between them: how numbers are written) replaced by `[number]`.
/// Digits inside a word or glued to letters (UUIDs, digests, ids) are left alone; so
/// are counts and years.
pub fn phone_free(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let number_start = c.is_ascii_digit()
            || (matches!(c, '+' | '(') && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if number_start {
            let (end, digits) = number_run(&chars, i);
            if digits >= 7 && !chars.get(end).is_some_and(|&c| word(c)) {
                out.push_str("[number]");
                i = end;
                continue;
            }
            out.push(c);
            i += 1;
        }
        // The rest of the word, digits included, is copied as it is.
        while i < chars.len() && word(chars[i]) {
            out.push(chars[i]);
            i += 1;
        }
        if !number_start && i < chars.len() && !word(chars[i]) {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Where the number starting at `start` ends, and how many digits it holds.
fn number_run(chars: &[char], start: usize) -> (usize, usize) {
    let (mut end, mut digits, mut last_digit_end) = (start, 0, start);
    while end < chars.len() {
        let c = chars[end];
        if c.is_ascii_digit() {
            digits += 1;
            last_digit_end = end + 1;
        } else if !(matches!(c, ' ' | '.' | '-' | '(' | ')') || (c == '+' && end == start)) {
            break;
        }
        end += 1;
    }
    (last_digit_end, digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_however_written_are_replaced_and_ids_survive() {
        for (text, want) in [
            ("to +15557654321 failed", "to [number] failed"),
            ("call (555) 765-4321 now", "call [number] now"),
            ("+1 555.765.4321", "[number]"),
            ("attempt 3 of 8 in 2026", "attempt 3 of 8 in 2026"),
            (
                "outbox 0192f4c1-7b7e-7c3a-9d52-1a2b3c4d5e6f",
                "outbox 0192f4c1-7b7e-7c3a-9d52-1a2b3c4d5e6f",
            ),
            (
                "digest sha256:4eae08e9f1289017694ae12c",
                "digest sha256:4eae08e9f1289017694ae12c",
            ),
            ("order 12345678", "order [number]"),
            ("a1234567890", "a1234567890"),
        ] {
            assert_eq!(phone_free(text), want, "{text}");
        }
    }

    #[test]
    fn only_kept_fields_leave_and_the_request_id_and_digest_become_tags() {
        let mut fields = BTreeMap::new();
        for (k, v) in [
            ("request:id", "req-7"),
            ("digest", "sha256:abc"),
            ("outbox", "0192f4c1-7b7e-7c3a-9d52-1a2b3c4d5e6f"),
            ("error", "bandwidth 400: +15557654321 said i want to die"),
            ("file", "host/src/pipeline/sender.rs"),
        ] {
            fields.insert(k.to_owned(), Value::String(v.to_owned()));
        }
        let mut event = Event {
            message: Some("dead-lettered for +1 555 765 4321".into()),
            ..Default::default()
        };
        event
            .contexts
            .insert("Rust Tracing Fields".into(), Context::Other(fields));
        let event = scrub(event);
        assert_eq!(event.tags["request_id"], "req-7");
        assert_eq!(event.tags["bundle_digest"], "sha256:abc");
        let Context::Other(kept) = &event.contexts["Rust Tracing Fields"] else {
            panic!("fields");
        };
        assert!(!kept.contains_key("error"), "{kept:?}");
        assert!(kept.contains_key("outbox") && kept.contains_key("file"));
        assert_eq!(event.message.as_deref(), Some("dead-lettered for [number]"));
    }
}
