//! Bandwidth Messaging v2: `POST {base}/api/v2/users/{accountId}/messages`, Basic auth;
//! the same path with `GET` lists messages (metadata only: Bandwidth keeps no text).

use std::time::SystemTime;

use serde_json::json;
use uuid::Uuid;

use super::{Carrier, Lookup, SendError, status_error, transport_error};

#[derive(Debug, Clone)]
pub struct BandwidthOut {
    pub base_url: String,
    pub account_id: String,
    pub username: String,
    pub password: String,
    pub application_id: String,
    pub from: String,
}

const BANDWIDTH: Carrier = Carrier::Bandwidth;

impl BandwidthOut {
    fn messages_url(&self) -> String {
        format!(
            "{}/api/v2/users/{}/messages",
            self.base_url.trim_end_matches('/'),
            self.account_id
        )
    }

    /// Send `text` to `to`; the outbox id travels as the message's `tag`, which comes
    /// back on every delivery report.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        to: &str,
        text: &str,
        outbox_id: Uuid,
    ) -> Result<String, SendError> {
        let resp = http
            .post(self.messages_url())
            .basic_auth(&self.username, Some(&self.password))
            .json(&json!({
                "applicationId": self.application_id,
                "to": [to],
                "from": self.from,
                "text": text,
                "tag": outbox_id.to_string(),
            }))
            .send()
            .await
            .map_err(|e| transport_error(BANDWIDTH, &e))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| transport_error(BANDWIDTH, &e))?;
        if status != 202 && status != 200 {
            return Err(status_error(BANDWIDTH, status, &body));
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(v["id"].as_str().unwrap_or_default().to_string())
    }

    /// The outbound messages from our number to `to` sent since `since`, as Bandwidth
    /// lists them.
    pub async fn find(&self, http: &reqwest::Client, to: &str, since: SystemTime) -> Lookup {
        let window = |t: SystemTime| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let query = [
            ("sourceTn", self.from.clone()),
            ("destinationTn", to.to_string()),
            ("messageDirection", "OUTBOUND".into()),
            ("fromDateTime", window(since)),
            ("toDateTime", window(SystemTime::now() + super::CLOCK_SKEW)),
        ];
        let resp = match http
            .get(self.messages_url())
            .basic_auth(&self.username, Some(&self.password))
            .query(&query)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(format!("bandwidth look-up: {e}")),
        };
        let status = resp.status().as_u16();
        let body: serde_json::Value = match resp.json().await {
            Ok(b) if status == 200 => b,
            Ok(_) | Err(_) => return Err(format!("bandwidth look-up: {status}")),
        };
        let Some(messages) = body["messages"].as_array() else {
            return Err("bandwidth look-up: no messages list".into());
        };
        Ok(messages
            .iter()
            .filter(|m| {
                m["destinationTn"] == to
                    && m["messageDirection"]
                        .as_str()
                        .is_none_or(|d| d.eq_ignore_ascii_case("outbound"))
            })
            .map(|m| m["messageId"].as_str().unwrap_or_default().to_string())
            .collect())
    }
}
