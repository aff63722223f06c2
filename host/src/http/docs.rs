//! The API described by the code that serves it: `/openapi.json` (OpenAPI 3.1) is
//! assembled from the handlers' annotations by the same `routes!` calls that register
//! them, so a route cannot exist without being described; `/docs` is a page the host
//! renders from that document, with no script and nothing fetched from elsewhere
//! (operators read it on machines with no internet).

use std::fmt::Write as _;
use std::sync::LazyLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr};

/// The reason every refusal carries: `{"error": "..."}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Error {
    /// What is wrong, in words; never a phone number or a message's text.
    error: String,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Jules",
        description = "An SMS companion: carriers post texts to the webhooks, Jules checks them for crisis language, applies the law and answers by text. Admin routes are on ADMIN_ADDR when it is set, otherwise on the main address; they need a bearer token (`jules admin token`) with the role each names.",
    ),
    tags(
        (name = "webhooks", description = "Called by carriers and providers; each delivery is authenticated, stored and deduplicated before the 2xx."),
        (name = "health", description = "For load balancers, orchestrators and Prometheus."),
        (name = "policies", description = "Policy rollouts: desired state, history, shadows (admin API)."),
        (name = "crisis", description = "Human review of crisis events (admin API)."),
        (name = "docs", description = "This document and its page."),
    ),
    components(schemas(Error)),
    modifiers(&Security),
)]
struct Base;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let header = |name: &str, what: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, what)))
        };
        let schemes = [
            (
                "admin_token",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "HS256 token from `jules admin token --role viewer|reviewer|author|approver`",
                        ))
                        .build(),
                ),
            ),
            (
                "bandwidth_basic",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Basic)
                        .description(Some(
                            "BANDWIDTH_WEBHOOK_USERNAME / BANDWIDTH_WEBHOOK_PASSWORD, in Bandwidth's challenge flow",
                        ))
                        .build(),
                ),
            ),
            (
                "twilio_signature",
                header(
                    "X-Twilio-Signature",
                    "HMAC of PUBLIC_URL + path + sorted parameters with TWILIO_AUTH_TOKEN",
                ),
            ),
            (
                "veriff_signature",
                header(
                    "X-HMAC-SIGNATURE",
                    "HMAC-SHA256 of the body with VERIFF_SHARED_SECRET",
                ),
            ),
            (
                "stripe_signature",
                header(
                    "Stripe-Signature",
                    "t=…,v1=… with STRIPE_WEBHOOK_SECRET, within 300 s",
                ),
            ),
        ];
        for (name, scheme) in schemes {
            components.add_security_scheme(name, scheme);
        }
    }
}

pub type Responses = std::collections::BTreeMap<String, RefOr<utoipa::openapi::response::Response>>;

/// Refusals by status, each with the `Error` body: for responses several routes share.
pub fn refusals(list: &[(&str, &str)]) -> Responses {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    list.iter()
        .map(|(code, what)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build();
            let response = ResponseBuilder::new()
                .description(*what)
                .content("application/json", content)
                .build();
            (code.to_string(), response.into())
        })
        .collect()
}

/// The whole API: the main address's routes and the admin API's.
static DOCUMENT: LazyLock<OpenApi> = LazyLock::new(|| {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.merge(super::routes().into_openapi());
    doc.merge(super::admin::routes().into_openapi());
    doc
});

static JSON: LazyLock<String> =
    LazyLock::new(|| DOCUMENT.to_pretty_json().expect("the document serializes"));

static PAGE: LazyLock<String> = LazyLock::new(|| page(&DOCUMENT));

pub fn document() -> &'static OpenApi {
    &DOCUMENT
}

/// The OpenAPI 3.1 document of every route.
#[utoipa::path(get, path = "/openapi.json", tag = "docs",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    ([(CONTENT_TYPE, "application/json")], JSON.as_str()).into_response()
}

/// The API for people: this document as a page, with nothing loaded from elsewhere.
#[utoipa::path(get, path = "/docs", tag = "docs",
    responses((status = 200, description = "An HTML page", content_type = "text/html")))]
pub async fn docs_page() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text with its `code` spans marked up.
fn prose(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_string()
            }
        })
        .collect()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    escape(&serde_json::to_string_pretty(value).unwrap_or_default())
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
h2{border-bottom:1px solid #ccc;margin-top:2.5rem}\
section.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}\
.method{font-weight:bold;text-transform:uppercase;display:inline-block;min-width:4rem}\
code,pre{background:#f5f5f5;border-radius:4px}pre{padding:.5rem;overflow:auto;font-size:13px}\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}";

/// The document as HTML: per tag, each operation with its parameters, body, responses
/// and the credentials it needs. Read from the document's JSON form, as any client
/// would read it.
fn page(doc: &OpenApi) -> String {
    let doc = serde_json::to_value(doc).expect("the document serializes");
    let text = |v: &Value| escape(v.as_str().unwrap_or(""));
    let info = &doc["info"];
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} API</title><style>{STYLE}</style></head><body><h1>{title} API <small>{}</small></h1><p>{}</p><p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI {}).</p>",
        text(&info["version"]),
        prose(info["description"].as_str().unwrap_or("")),
        text(&doc["openapi"]),
        title = text(&info["title"]),
    );
    let schemes = &doc["components"]["securitySchemes"];
    for tag in doc["tags"].as_array().into_iter().flatten() {
        let _ = write!(
            html,
            "<h2 id=\"{0}\">{0}</h2><p>{1}</p>",
            text(&tag["name"]),
            prose(tag["description"].as_str().unwrap_or(""))
        );
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in ["get", "post", "put", "patch", "delete"] {
                let op = &item[method];
                let tagged = op["tags"].as_array().into_iter().flatten();
                if tagged.into_iter().any(|t| *t == tag["name"]) {
                    operation(&mut html, method, path, op, schemes);
                }
            }
        }
    }
    html.push_str("<h2 id=\"schemas\">Schemas</h2>");
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = write!(
            html,
            "<h3 id=\"schema-{0}\">{0}</h3><pre>{1}</pre>",
            escape(name),
            json(schema)
        );
    }
    html.push_str("</body></html>");
    html
}

fn operation(html: &mut String, method: &str, path: &str, op: &Value, schemes: &Value) {
    let text = |v: &Value| escape(v.as_str().unwrap_or(""));
    let _ = write!(
        html,
        "<section class=\"op\"><h3><span class=\"method\">{method}</span> <code>{}</code></h3><p><strong>{}</strong></p>",
        escape(path),
        prose(op["summary"].as_str().unwrap_or(""))
    );
    for para in op["description"].as_str().unwrap_or("").split("\n\n") {
        let _ = write!(html, "<p>{}</p>", prose(para));
    }
    // Each requirement names a scheme; say what the scheme is (a header, a token).
    for requirement in op["security"].as_array().into_iter().flatten() {
        for name in requirement
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let scheme = &schemes[name];
            let how = match scheme["type"].as_str() {
                Some("apiKey") => format!("header <code>{}</code>", text(&scheme["name"])),
                Some("http") => format!("HTTP {}", text(&scheme["scheme"])),
                _ => String::new(),
            };
            let _ = write!(
                html,
                "<p>Credentials: {how}: {}</p>",
                prose(scheme["description"].as_str().unwrap_or(""))
            );
        }
    }
    let params = op["parameters"].as_array().into_iter().flatten();
    let rows: Vec<String> = params
        .map(|p| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&p["name"]),
                text(&p["in"]),
                if p["required"] == Value::Bool(true) {
                    "yes"
                } else {
                    "no"
                },
                prose(p["description"].as_str().unwrap_or(""))
            )
        })
        .collect();
    if !rows.is_empty() {
        let _ = write!(
            html,
            "<table><tr><th>parameter</th><th>in</th><th>required</th><th>description</th></tr>{}</table>",
            rows.concat()
        );
    }
    let body = &op["requestBody"];
    for (content_type, content) in body["content"].as_object().into_iter().flatten() {
        let _ = write!(
            html,
            "<p>Body <code>{}</code> {}</p><pre>{}</pre>",
            escape(content_type),
            prose(body["description"].as_str().unwrap_or("")),
            json(&content["schema"])
        );
    }
    html.push_str("<table><tr><th>status</th><th>response</th></tr>");
    for (status, response) in op["responses"].as_object().into_iter().flatten() {
        let types: Vec<String> = response["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(t, _)| format!(" <code>{}</code>", escape(t)))
            .collect();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}{}</td></tr>",
            escape(status),
            prose(response["description"].as_str().unwrap_or("")),
            types.concat()
        );
    }
    html.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_document_is_escaped_and_code_marked_up() {
        assert_eq!(
            prose("a <b> & `X-Sig` \"q\""),
            "a &lt;b&gt; &amp; <code>X-Sig</code> &quot;q&quot;"
        );
        assert_eq!(prose("`<i>`"), "<code>&lt;i&gt;</code>");
    }

    #[test]
    fn the_page_shows_each_operation_once_under_its_tag() {
        let html = page(document());
        let shown = |m: &str, p: &str| {
            html.matches(&format!(
                "<span class=\"method\">{m}</span> <code>{p}</code>"
            ))
            .count()
        };
        assert_eq!(shown("post", "/webhooks/bandwidth"), 1);
        assert_eq!(shown("get", "/admin/v1/crisis-events/{id}"), 1);
        assert!(
            html.contains("header <code>X-HMAC-SIGNATURE</code>"),
            "{html}"
        );
    }
}
