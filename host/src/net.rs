//! Outbound HTTP clients (carriers, language models, alerts): TLS by rustls with the
//! ring provider, installed once for the process.

use std::time::Duration;

/// The process's TLS provider (ring), for every client made here or by a library.
pub fn install_tls() {
    static TLS: std::sync::Once = std::sync::Once::new();
    TLS.call_once(|| {
        // Another part of the process may have installed one first; either serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub fn client(timeout: Duration) -> reqwest::Client {
    install_tls();
    reqwest::Client::builder()
        .timeout(timeout)
        // Retries are the caller's (each provider's policy from WIRE.md), not the
        // client's: no request in flight keeps a copy of its headers for one.
        .retry(reqwest::retry::never())
        // Provider APIs do not redirect; following one would resend the key elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        // After a burst, keep a few hundred idle connections per host, not thousands
        // (each holds about 27 KB of buffers until the idle timeout).
        .pool_max_idle_per_host(256)
        .build()
        .expect("an HTTP client with a TLS provider builds")
}

/// What went wrong with a request, for logs and errors: a timeout or a refused
/// connection said plainly, with the underlying cause.
pub fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        e.to_string()
    };
    if let Some(src) = std::error::Error::source(e) {
        s.push_str(&format!(" ({src})"));
    }
    s
}
