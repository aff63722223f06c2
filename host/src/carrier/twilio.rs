//! Twilio: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, Basic
//! `AccountSid:AuthToken`, form fields; `GET` on the same path lists messages.

use std::time::SystemTime;

use uuid::Uuid;

use super::{Carrier, Lookup, SendError, status_error, transport_error};

#[derive(Debug, Clone)]
pub struct TwilioOut {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    /// Where Twilio reports delivery (our public /webhooks/twilio/status), if known.
    pub status_callback: Option<String>,
}

const TWILIO: Carrier = Carrier::Twilio;

/// Pages of a look-up read at most (a person's messages of one day or two).
const LOOKUP_PAGES: usize = 5;

impl TwilioOut {
    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url.trim_end_matches('/'),
            self.account_sid
        )
    }

    /// Send `text` to `to`; the status callback carries the outbox id, so a delivery
    /// report settles the row even when the send's answer never arrived.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        to: &str,
        text: &str,
        outbox_id: Uuid,
    ) -> Result<String, SendError> {
        let callback = self
            .status_callback
            .as_ref()
            .map(|cb| format!("{cb}?outbox={outbox_id}"));
        let mut form = vec![("To", to), ("From", self.from.as_str()), ("Body", text)];
        if let Some(cb) = &callback {
            form.push(("StatusCallback", cb));
        }
        let resp = http
            .post(self.messages_url())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_error(TWILIO, &e))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| transport_error(TWILIO, &e))?;
        if !(200..300).contains(&status) {
            return Err(status_error(TWILIO, status, &body));
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(v["sid"].as_str().unwrap_or_default().to_string())
    }

    /// The messages from our number to `to` created since `since` with this text (or
    /// with their text redacted), as Twilio lists them. `DateSent>=` filters by day
    /// only; the time is checked here.
    pub async fn find(
        &self,
        http: &reqwest::Client,
        to: &str,
        text: &str,
        since: SystemTime,
    ) -> Lookup {
        let since = chrono::DateTime::<chrono::Utc>::from(since);
        let day = since.format("%Y-%m-%d").to_string();
        let query = [
            ("To", to),
            ("From", self.from.as_str()),
            ("DateSent>", day.as_str()),
            ("PageSize", "100"),
        ];
        let mut request = http.get(self.messages_url()).query(&query);
        let mut found = Vec::new();
        for _ in 0..LOOKUP_PAGES {
            let resp = match request
                .basic_auth(&self.account_sid, Some(&self.auth_token))
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => return Err(format!("twilio look-up: {e}")),
            };
            let status = resp.status().as_u16();
            let page: serde_json::Value = match resp.json().await {
                Ok(p) if status == 200 => p,
                Ok(_) | Err(_) => return Err(format!("twilio look-up: {status}")),
            };
            let Some(messages) = page["messages"].as_array() else {
                return Err("twilio look-up: no messages list".into());
            };
            found.extend(
                messages
                    .iter()
                    .filter(|m| {
                        let created = m["date_created"]
                            .as_str()
                            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok());
                        let body = m["body"].as_str().unwrap_or_default();
                        created.is_some_and(|c| c >= since) && (body == text || body.is_empty())
                    })
                    .map(|m| m["sid"].as_str().unwrap_or_default().to_string()),
            );
            match page["next_page_uri"].as_str().filter(|u| !u.is_empty()) {
                Some(next) => {
                    request = http.get(format!("{}{next}", self.base_url.trim_end_matches('/')))
                }
                None => return Ok(found),
            }
        }
        Err(format!("twilio look-up: more than {LOOKUP_PAGES} pages"))
    }
}
