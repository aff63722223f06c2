//! Anthropic Messages API (`POST {base}/v1/messages`).

use jules_policy_model::{LlmRequest, Role};
use serde_json::{Value, json};

use super::Answered;
use super::retry::Failure;

#[derive(Debug, Clone)]
pub struct Anthropic {
    pub base_url: String,
    pub api_key: String,
    pub model: String,
}

fn role(r: Role) -> &'static str {
    match r {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

impl Anthropic {
    pub fn body(&self, req: &LlmRequest) -> Value {
        let messages: Vec<Value> = req
            .messages
            .iter()
            .map(|m| json!({"role": role(m.role), "content": m.content}))
            .collect();
        json!({
            "model": self.model,
            "max_tokens": req.max_tokens.max(1),
            "system": req.system,
            "temperature": req.temperature,
            "messages": messages,
        })
    }

    pub async fn call(
        &self,
        http: &reqwest::Client,
        req: &LlmRequest,
    ) -> Result<Answered, Failure> {
        let url = format!("{}/v1/messages", self.base_url.trim_end_matches('/'));
        let request = http
            .post(url)
            .header("x-api-key", &self.api_key)
            .header("anthropic-version", "2023-06-01")
            .json(&self.body(req));
        let (status, after, body) = super::exchange("anthropic", request).await?;
        if status.is_success() {
            let text: String = body["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] == "text")
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join("");
            if text.trim().is_empty() {
                return Err(Failure::Fatal {
                    reason: "anthropic: the reply holds no text".into(),
                });
            }
            let tokens = |k: &str| body["usage"][k].as_u64().unwrap_or(0);
            return Ok(Answered {
                text,
                input_tokens: tokens("input_tokens"),
                output_tokens: tokens("output_tokens"),
            });
        }
        let kind = body["error"]["type"].as_str().unwrap_or("unknown");
        let reason = format!(
            "anthropic {}: {kind}: {}",
            status.as_u16(),
            body["error"]["message"].as_str().unwrap_or("")
        );
        Err(super::classify(status.as_u16(), kind, reason, after))
    }
}
