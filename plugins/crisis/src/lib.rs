//! Crisis detection logic (placeholder API; see the crate's README).
use jules_policy_model::{Assessment, Inbound, Turn, UserContext};

#[derive(Debug)]
pub struct Detector {}

impl Detector {
    pub fn from_config_json(json: &str) -> Result<Detector, String> {
        let _: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Ok(Detector {})
    }

    pub fn assess(&self, _message: &Inbound, _user: &UserContext, _recent: &[Turn]) -> Assessment {
        Assessment::default()
    }
}
