//! Fake providers on loopback (Bandwidth, Twilio, Anthropic, OpenAI, an alert sink):
//! one server that records every request and answers from a script, in the providers'
//! wire formats (see the constructors).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
    pub at: SystemTime,
    /// The status and body it was answered with (decided when it arrived, so a message
    /// answered too late for the client was still taken).
    pub answer: Option<(u16, String)>,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.body).unwrap_or_default()
    }

    /// A message the carrier took: a POST answered 2xx.
    pub fn taken(&self) -> bool {
        self.method == "POST"
            && self
                .answer
                .as_ref()
                .is_some_and(|(s, _)| (200..300).contains(s))
    }

    fn param(&self, name: &str) -> Option<String> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&self.query)
            .ok()?
            .into_iter()
            .find_map(|(k, v)| (k == name).then_some(v))
    }

    fn answer_json(&self) -> serde_json::Value {
        let body = self.answer.as_ref().map_or("", |(_, b)| b.as_str());
        serde_json::from_str(body).unwrap_or_default()
    }
}

/// Answers a look-up (a GET) from the requests seen so far.
type Lister = Box<dyn Fn(&Seen, &[Seen]) -> Answer + Send>;

/// Answers a request from the requests seen so far, or leaves it to the script.
type Intercept = Box<dyn Fn(&Seen, &[Seen]) -> Option<Answer> + Send>;

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
    lister: Option<Lister>,
    /// Consulted first for every request.
    intercept: Option<Intercept>,
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
            lister: None,
            intercept: None,
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
                            query: uri.query().unwrap_or_default().to_string(),
                            headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                            at: SystemTime::now(),
                            answer: None,
                        });
                        let n = st.seen.len() - 1;
                        st.in_flight += 1;
                        st.most_in_flight = st.most_in_flight.max(st.in_flight);
                        let intercepted =
                            st.intercept.as_ref().and_then(|f| f(&st.seen[n], &st.seen));
                        let answer = match (&st.lister, intercepted) {
                            (_, Some(a)) => a,
                            (Some(list), _) if method == Method::GET => list(&st.seen[n], &st.seen),
                            _ => match st.script.pop_front() {
                                Some(a) => a,
                                None => (st.default)(n),
                            },
                        };
                        st.seen[n].answer = Some((answer.status, answer.body.clone()));
                        answer
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

    /// Requests seen with this method.
    pub fn count_of(&self, method: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.method == method)
            .count()
    }

    /// Answer requests with `f` where it gives an answer (before the script and the
    /// message list).
    pub fn intercept(&self, f: impl Fn(&Seen, &[Seen]) -> Option<Answer> + Send + 'static) {
        self.state.lock().unwrap().intercept = Some(Box::new(f));
    }

    /// Answer GETs as a carrier's message list does, from the messages it took.
    fn lists(self, lister: impl Fn(&Seen, &[Seen]) -> Answer + Send + 'static) -> Fake {
        self.state.lock().unwrap().lister = Some(Box::new(lister));
        self
    }

    /// The most requests it was answering at once.
    pub fn most_at_once(&self) -> usize {
        self.state.lock().unwrap().most_in_flight
    }

    /// Bandwidth's send API: 202 with the message JSON; its message list answers from
    /// the messages taken.
    pub async fn bandwidth() -> Fake {
        Fake::start(bandwidth_accepted).await.lists(bandwidth_list)
    }

    /// Twilio's send API: 201 with the message resource; its Messages list answers
    /// from the messages taken.
    pub async fn twilio() -> Fake {
        Fake::start(|n| {
            Answer::new(
                201,
                serde_json::json!({"sid": format!("SMout{n}"), "status": "queued"}),
            )
        })
        .await
        .lists(twilio_list)
    }

    /// Anthropic Messages: a reply saying which request it answers.
    pub async fn anthropic() -> Fake {
        Fake::start(|n| anthropic_reply(&format!("Claude here ({n}). How was your day?"))).await
    }

    /// OpenAI Chat Completions.
    pub async fn openai() -> Fake {
        Fake::start(|n| openai_reply(n, &format!("GPT here ({n})."))).await
    }

    /// Veriff's session API: session `n` is `session-{n}`, opened at its own link.
    pub async fn veriff() -> Fake {
        Fake::start(veriff_session).await
    }

    /// Stripe's API (WIRE.md): Checkout and Portal sessions, and each subscription as
    /// `subscriptions` holds it now (`GET /v1/subscriptions/{id}`; `DELETE` cancels it;
    /// 404 when unknown).
    pub async fn stripe(subscriptions: Subscriptions) -> Fake {
        let fake = Fake::start(|_| Answer::new(404, serde_json::json!({"error": {"type": "invalid_request_error", "message": "no such route"}}))).await;
        fake.intercept(move |seen, _| {
            let n = seen.at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
            Some(match (seen.method.as_str(), seen.path.as_str()) {
                ("POST", "/v1/checkout/sessions") => Answer::new(
                    200,
                    serde_json::json!({"id": format!("cs_test_{n}"), "object": "checkout.session",
                                       "url": format!("https://checkout.stripe.com/c/pay/cs_test_{n}")}),
                ),
                ("POST", "/v1/billing_portal/sessions") => Answer::new(
                    200,
                    serde_json::json!({"id": format!("bps_{n}"), "object": "billing_portal.session",
                                       "url": format!("https://billing.stripe.com/p/session/test_{n}")}),
                ),
                ("DELETE", path) if path.starts_with("/v1/subscriptions/") => {
                    let id = &path["/v1/subscriptions/".len()..];
                    match subscriptions.lock().unwrap().get_mut(id) {
                        Some(s) => {
                            s["status"] = serde_json::json!("canceled");
                            Answer::new(200, s.clone())
                        }
                        None => Answer::new(404, serde_json::json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such subscription"}})),
                    }
                }
                ("GET", path) if path.starts_with("/v1/subscriptions/") => {
                    let id = &path["/v1/subscriptions/".len()..];
                    match subscriptions.lock().unwrap().get(id) {
                        Some(s) => Answer::new(200, s.clone()),
                        None => Answer::new(404, serde_json::json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such subscription"}})),
                    }
                }
                _ => return None,
            })
        });
        fake
    }

    /// Langfuse's ingestion API: 207 with every event a success.
    pub async fn langfuse() -> Fake {
        let fake =
            Fake::start(|_| Answer::new(207, serde_json::json!({"successes": [], "errors": []})))
                .await;
        fake.intercept(|seen, _| {
            let ids: Vec<serde_json::Value> = seen.json()["batch"]
                .as_array()
                .map(|b| {
                    b.iter()
                        .map(|e| serde_json::json!({"id": e["id"], "status": 201}))
                        .collect()
                })
                .unwrap_or_default();
            Some(Answer::new(
                207,
                serde_json::json!({"successes": ids, "errors": []}),
            ))
        });
        fake
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

/// OpenAI Chat Completions answering request `n` with `text`.
pub fn openai_reply(n: usize, text: &str) -> Answer {
    Answer::new(
        200,
        serde_json::json!({
            "id": format!("chatcmpl-{n}"), "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        }),
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

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `GET /api/v2/users/{accountId}/messages`: the outbound messages taken from
/// `sourceTn` to `destinationTn` between `fromDateTime` and `toDateTime` (metadata only).
fn bandwidth_list(req: &Seen, all: &[Seen]) -> Answer {
    let time = |name: &str| {
        req.param(name)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(SystemTime::from)
    };
    let (Some(source), Some(dest), Some(from), Some(to)) = (
        req.param("sourceTn"),
        req.param("destinationTn"),
        time("fromDateTime"),
        time("toDateTime"),
    ) else {
        return bandwidth_error(400, "request-validation");
    };
    let messages: Vec<serde_json::Value> = all
        .iter()
        .filter(|s| s.taken() && s.at >= from && s.at <= to)
        .map(|s| (s, s.json()))
        .filter(|(_, j)| j["from"] == source.as_str() && j["to"][0] == dest.as_str())
        .map(|(s, _)| {
            serde_json::json!({
                "messageId": s.answer_json()["id"], "accountId": "9900000",
                "sourceTn": source, "destinationTn": dest, "messageStatus": "DELIVERED",
                "messageDirection": "OUTBOUND", "messageType": "sms", "segmentCount": 1,
                "errorCode": 0, "receiveTime": rfc3339(s.at), "carrierName": null
            })
        })
        .collect();
    Answer::new(
        200,
        serde_json::json!({"totalCount": messages.len(), "pageInfo": {}, "messages": messages}),
    )
}

/// `GET /2010-04-01/Accounts/{Sid}/Messages.json?To=…&From=…&DateSent>=…`: the messages
/// taken to `To` from `From` on or after that day.
fn twilio_list(req: &Seen, all: &[Seen]) -> Answer {
    let (Some(to), Some(from), Some(day)) =
        (req.param("To"), req.param("From"), req.param("DateSent>"))
    else {
        return Answer::new(
            400,
            serde_json::json!({"code": 20001, "message": "bad filter", "status": 400}),
        );
    };
    let messages: Vec<serde_json::Value> = all
        .iter()
        .filter(|s| s.taken())
        .filter(|s| {
            chrono::DateTime::<chrono::Utc>::from(s.at)
                .format("%Y-%m-%d")
                .to_string()
                >= day
        })
        .map(|s| (s, s.form()))
        .filter(|(_, f)| {
            let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            get("To").as_deref() == Some(to.as_str())
                && get("From").as_deref() == Some(from.as_str())
        })
        .map(|(s, f)| {
            let body = f.iter().find(|(n, _)| n == "Body").map(|(_, v)| v.clone());
            serde_json::json!({
                "sid": s.answer_json()["sid"], "to": to, "from": from, "body": body,
                "status": "delivered", "direction": "outbound-api",
                "date_created": chrono::DateTime::<chrono::Utc>::from(s.at).to_rfc2822(),
            })
        })
        .collect();
    Answer::new(
        200,
        serde_json::json!({"messages": messages, "next_page_uri": null}),
    )
}

/// Veriff's answer to `POST /v1/sessions` (WIRE.md): session `n`.
pub fn veriff_session(n: usize) -> Answer {
    Answer::new(
        201,
        serde_json::json!({
            "status": "success",
            "verification": {
                "id": format!("session-{n}"),
                "url": veriff_link(n),
                "vendorData": null,
                "host": "https://alchemy.veriff.com",
                "status": "created",
                "sessionToken": format!("token-{n}"),
            }
        }),
    )
}

/// The link of the fake Veriff's session `n`.
pub fn veriff_link(n: usize) -> String {
    format!("https://alchemy.veriff.com/v/token-{n}")
}

/// The fake Stripe's subscriptions by id, as `GET /v1/subscriptions/{id}` answers them.
pub type Subscriptions = Arc<Mutex<std::collections::BTreeMap<String, serde_json::Value>>>;
