//! OpenAI Chat Completions (`POST {base}/v1/chat/completions`).

use jules_policy_model::{LlmRequest, Role};
use serde_json::{Value, json};

use super::Answered;
use super::retry::Failure;

#[derive(Debug, Clone)]
pub struct OpenAi {
    pub base_url: String,
    pub api_key: String,
    pub model: String,
}

impl OpenAi {
    pub fn body(&self, req: &LlmRequest) -> Value {
        let mut messages = vec![json!({"role": "system", "content": req.system})];
        messages.extend(req.messages.iter().map(|m| {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({"role": role, "content": m.content})
        }));
        json!({
            "model": self.model,
            "messages": messages,
            "max_completion_tokens": req.max_tokens.max(1),
            "temperature": req.temperature,
        })
    }

    pub async fn call(
        &self,
        http: &reqwest::Client,
        req: &LlmRequest,
    ) -> Result<Answered, Failure> {
        let url = format!(
            "{}/v1/chat/completions",
            self.base_url.trim_end_matches('/')
        );
        let request = http
            .post(url)
            .bearer_auth(&self.api_key)
            .json(&self.body(req));
        let (status, after, body) = super::exchange("openai", request).await?;
        if status.is_success() {
            let tokens = |k: &str| body["usage"][k].as_u64().unwrap_or(0);
            return match body["choices"][0]["message"]["content"].as_str() {
                Some(t) if !t.trim().is_empty() => Ok(Answered {
                    text: t.to_string(),
                    input_tokens: tokens("prompt_tokens"),
                    output_tokens: tokens("completion_tokens"),
                }),
                _ => Err(Failure::Fatal {
                    reason: "openai: the reply holds no text".into(),
                }),
            };
        }
        let error = &body["error"];
        let code = error["code"]
            .as_str()
            .or_else(|| error["type"].as_str())
            .unwrap_or("unknown");
        let reason = format!(
            "openai {}: {code}: {}",
            status.as_u16(),
            error["message"].as_str().unwrap_or("")
        );
        Err(super::classify(status.as_u16(), code, reason, after))
    }
}
