//! Fake providers on loopback (Bandwidth, Twilio, Anthropic, OpenAI, an alert sink):
//! one server that records every request and answers from a script, in the providers'
//! wire formats (see the constructors).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.body).unwrap_or_default()
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Answer {
    pub fn new(status: u16, body: serde_json::Value) -> Answer {
        Answer {
            status,
            body: body.to_string(),
            headers: vec![("content-type".into(), "application/json".into())],
            delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
}

struct State {
    seen: Vec<Seen>,
    /// Requests being answered now, and the most there were at once.
    in_flight: usize,
    most_in_flight: usize,
    script: VecDeque<Answer>,
    default: Box<dyn Fn(usize) -> Answer + Send>,
}

#[derive(Clone)]
pub struct Fake {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Fake {
    /// A server answering from `script` first, then `default(n)` for request n.
    pub async fn start(default: impl Fn(usize) -> Answer + Send + 'static) -> Fake {
        let state = Arc::new(Mutex::new(State {
            seen: Vec::new(),
            in_flight: 0,
            most_in_flight: 0,
            script: VecDeque::new(),
            default: Box::new(default),
        }));
        let s = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move {
                    let answer = {
                        let mut st = s.lock().unwrap();
                        st.seen.push(Seen {
                            method: method.to_string(),
                            path: uri.path().to_string(),
                            headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        let n = st.seen.len() - 1;
                        st.in_flight += 1;
                        st.most_in_flight = st.most_in_flight.max(st.in_flight);
                        match st.script.pop_front() {
                            Some(a) => a,
                            None => (st.default)(n),
                        }
                    };
                    tokio::time::sleep(answer.delay).await;
                    s.lock().unwrap().in_flight -= 1;
                    let mut resp: Response =
                        (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
                    for (k, v) in answer.headers {
                        resp.headers_mut().insert(
                            axum::http::HeaderName::try_from(k).unwrap(),
                            axum::http::HeaderValue::try_from(v).unwrap(),
                        );
                    }
                    resp
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fake { url, state }
    }

    /// Answer the next requests with these, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().seen.len()
    }

    /// The most requests it was answering at once.
    pub fn most_at_once(&self) -> usize {
        self.state.lock().unwrap().most_in_flight
    }

    /// Bandwidth's send API: 202 with the message JSON.
    pub async fn bandwidth() -> Fake {
        Fake::start(bandwidth_accepted).await
    }

    /// Twilio's send API: 201 with the message resource.
    pub async fn twilio() -> Fake {
        Fake::start(|n| {
            Answer::new(
                201,
                serde_json::json!({"sid": format!("SMout{n}"), "status": "queued"}),
            )
        })
        .await
    }

    /// Anthropic Messages: a reply saying which request it answers.
    pub async fn anthropic() -> Fake {
        Fake::start(|n| anthropic_reply(&format!("Claude here ({n}). How was your day?"))).await
    }

    /// OpenAI Chat Completions.
    pub async fn openai() -> Fake {
        Fake::start(|n| {
            Answer::new(
                200,
                serde_json::json!({
                    "id": format!("chatcmpl-{n}"), "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("GPT here ({n}).")}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                }),
            )
        })
        .await
    }

    /// Anything: 204.
    pub async fn sink() -> Fake {
        Fake::start(|_| Answer {
            status: 204,
            body: String::new(),
            headers: vec![],
            delay: Duration::ZERO,
        })
        .await
    }
}

pub fn anthropic_reply(text: &str) -> Answer {
    Answer::new(
        200,
        serde_json::json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "model": "claude-sonnet-4-5", "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 5}
        }),
    )
}

pub fn anthropic_error(status: u16, kind: &str) -> Answer {
    Answer::new(
        status,
        serde_json::json!({"type": "error", "error": {"type": kind, "message": "fake"}}),
    )
}

pub fn openai_error(status: u16, code: &str) -> Answer {
    Answer::new(
        status,
        serde_json::json!({"error": {"message": "fake", "type": code, "param": null, "code": code}}),
    )
}

/// Bandwidth accepting message `n`.
pub fn bandwidth_accepted(n: usize) -> Answer {
    Answer::new(
        202,
        serde_json::json!({"id": format!("bw-out-{n}"), "owner": "+15550001111", "applicationId": "app", "segmentCount": 1, "direction": "out"}),
    )
}

pub fn bandwidth_error(status: u16, kind: &str) -> Answer {
    Answer::new(
        status,
        serde_json::json!({"type": kind, "description": "fake"}),
    )
}
