use jules_policy_model::{Assessment, Inbound, LlmRequest, MemoryFact, Turn, UserContext};

#[derive(Debug)]
pub struct Builder {}

impl Builder {
    pub fn from_config_json(json: &str) -> Result<Builder, String> {
        let _: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Ok(Builder {})
    }

    pub fn build(
        &self,
        _message: &Inbound,
        _user: &UserContext,
        _recent: &[Turn],
        _facts: &[MemoryFact],
        _crisis: &Assessment,
    ) -> LlmRequest {
        LlmRequest { system: String::new(), messages: vec![], max_tokens: 300, temperature: 0.7, crisis_mode: false }
    }
}
