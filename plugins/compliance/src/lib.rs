use jules_policy_model::{Decision, Encoding, Inbound, Outbound, UserContext};

#[derive(Debug)]
pub struct Policy {}

impl Policy {
    pub fn from_config_json(json: &str) -> Result<Policy, String> {
        let _: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Ok(Policy {})
    }

    pub fn evaluate(&self, _message: &Inbound, _user: &UserContext) -> Decision {
        Decision::default()
    }

    pub fn shape(&self, reply: &str, _disclose: bool) -> Outbound {
        Outbound { text: reply.to_string(), encoding: Encoding::Gsm7, segments: 1, truncated: false }
    }
}
