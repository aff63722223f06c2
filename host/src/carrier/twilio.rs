//! Twilio: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, Basic
//! `AccountSid:AuthToken`, form fields.

use super::{SendError, status_error, transport_error};

#[derive(Debug, Clone)]
pub struct TwilioOut {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    /// Where Twilio reports delivery (our public /webhooks/twilio/status), if known.
    pub status_callback: Option<String>,
}

impl TwilioOut {
    pub async fn send(
        &self,
        http: &reqwest::Client,
        to: &str,
        text: &str,
    ) -> Result<String, SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url.trim_end_matches('/'),
            self.account_sid
        );
        let mut form = vec![("To", to), ("From", self.from.as_str()), ("Body", text)];
        if let Some(cb) = &self.status_callback {
            form.push(("StatusCallback", cb));
        }
        let resp = http
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_error("twilio", &e))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(status_error("twilio", status, &body));
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(v["sid"].as_str().unwrap_or_default().to_string())
    }
}
