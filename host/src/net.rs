//! Outbound HTTP clients (carriers, language models, alerts): TLS by rustls with the
//! ring provider, installed once for the process.

use std::time::Duration;

pub fn client(timeout: Duration) -> reqwest::Client {
    static TLS: std::sync::Once = std::sync::Once::new();
    TLS.call_once(|| {
        // Another part of the process may have installed one first; either serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client with a TLS provider builds")
}
