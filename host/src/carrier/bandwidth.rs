//! Bandwidth Messaging v2: `POST {base}/api/v2/users/{accountId}/messages`, Basic auth.

use serde_json::json;

use super::{SendError, status_error, transport_error};

#[derive(Debug, Clone)]
pub struct BandwidthOut {
    pub base_url: String,
    pub account_id: String,
    pub username: String,
    pub password: String,
    pub application_id: String,
    pub from: String,
}

impl BandwidthOut {
    pub async fn send(
        &self,
        http: &reqwest::Client,
        to: &str,
        text: &str,
    ) -> Result<String, SendError> {
        let url = format!(
            "{}/api/v2/users/{}/messages",
            self.base_url.trim_end_matches('/'),
            self.account_id
        );
        let resp = http
            .post(url)
            .basic_auth(&self.username, Some(&self.password))
            .json(&json!({
                "applicationId": self.application_id,
                "to": [to],
                "from": self.from,
                "text": text,
            }))
            .send()
            .await
            .map_err(|e| transport_error("bandwidth", &e))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if status != 202 && status != 200 {
            return Err(status_error("bandwidth", status, &body));
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(v["id"].as_str().unwrap_or_default().to_string())
    }
}
