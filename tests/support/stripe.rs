//! Stripe's own client library, as the tests use it: its Python package's webhook
//! signing code signs the events posted to Jules (scripts/provider-clients installs it).

use std::process::Command;

/// The `Stripe-Signature` header Stripe's Python package makes for `payload` at `t`.
pub fn signature(payload: &str, secret: &str, t: i64) -> String {
    let python = super::workspace().join("target/provider-clients/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/provider-clients (scripts/test does it)",
        python.display()
    );
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, stripe\n\
             payload, secret, t = sys.argv[1], sys.argv[2], int(sys.argv[3])\n\
             signed = stripe.WebhookSignature._compute_signature('%d.%s' % (t, payload), secret)\n\
             header = 't=%d,%s=%s' % (t, stripe.WebhookSignature.EXPECTED_SCHEME, signed)\n\
             stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)\n\
             print(header)",
            payload,
            secret,
            &t.to_string(),
        ])
        .output()
        .expect("run Stripe's Python package");
    assert!(
        out.status.success(),
        "stripe's signing failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
