//! The admin API: JWT roles, changes recorded with the token's subject, and crisis
//! review (texts opened only for reviewers, every opening on record).

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{ADMIN_SECRET, Options, TestApp, admin_token};

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.http.request(method, format!("{}{path}", app.base));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn forged(secret: &str, sub: &str, role: &str, exp_offset: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": sub, "role": role, "iat": now, "exp": now + exp_offset }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_and_roles_limit_what_they_may_do() {
    use reqwest::Method;
    let app = TestApp::start(Options::default()).await;
    let status = "/admin/v1/policies";
    let refusals = [
        (None, StatusCode::UNAUTHORIZED),
        (
            Some(forged(ADMIN_SECRET, "ana", "viewer", -3600)),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Some(forged(
                "another-secret-of-32-bytes-or-more!",
                "ana",
                "viewer",
                600,
            )),
            StatusCode::UNAUTHORIZED,
        ),
        (Some("not.a.jwt".to_string()), StatusCode::UNAUTHORIZED),
        (Some(admin_token("rev", "reviewer")), StatusCode::FORBIDDEN),
    ];
    for (token, expected) in refusals {
        let (code, body) = call(&app, Method::GET, status, token.as_deref(), None).await;
        assert_eq!(code, expected, "{token:?}: {body}");
        assert!(body["error"].is_string(), "a reason is given: {body}");
    }
    let (code, body) = call(
        &app,
        Method::GET,
        status,
        Some(&admin_token("vi", "viewer")),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["worlds"].as_array().unwrap().len(), 3);

    // Only an approver changes what runs; the change names its subject.
    let bundle = crate::support::app::policy_dir().join("crisis");
    let activate =
        json!({ "source": bundle.display().to_string(), "reason": "re-pin", "wait_seconds": 20 });
    let path = "/admin/v1/policies/crisis-detector/activate";
    for role in ["viewer", "author", "reviewer"] {
        let (code, _) = call(
            &app,
            Method::POST,
            path,
            Some(&admin_token("x", role)),
            Some(activate.clone()),
        )
        .await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{role}");
    }
    let approver = admin_token("ana", "approver");
    let (code, body) = call(&app, Method::POST, path, Some(&approver), Some(activate)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["converged"], true, "{body}");
    let (code, body) = call(
        &app,
        Method::POST,
        "/admin/v1/policies/no-such-world/activate",
        Some(&approver),
        Some(json!({ "source": "/x", "reason": "r" })),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    let (code, body) = call(
        &app,
        Method::POST,
        path,
        Some(&approver),
        Some(json!({ "source": "/nowhere" })),
    )
    .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "a missing reason is named: {body}"
    );

    let (_, body) = call(
        &app,
        Method::GET,
        "/admin/v1/policies/history",
        Some(&admin_token("vi", "viewer")),
        None,
    )
    .await;
    let history = body["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{body}");
    assert!(
        history
            .iter()
            .all(|h| h["subject"] == "ana" && h["reason"] == "re-pin"),
        "{body}"
    );

    // Decisions per bundle and hour.
    assert_eq!(
        app.text("adm-1", "+15557790001", "hello").await.status(),
        204
    );
    app.run_until_idle().await;
    let (code, body) = call(
        &app,
        Method::GET,
        "/admin/v1/policies/decisions?hours=2",
        Some(&admin_token("vi", "viewer")),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let crisis: i64 = body["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["world"] == "crisis-detector")
        .map(|d| d["decisions"].as_i64().unwrap())
        .sum();
    assert!(crisis >= 1, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_opens_a_crisis_event_on_record_and_closes_it() {
    use reqwest::Method;
    let app = TestApp::start(Options::default()).await;
    let me = "+15557790002";
    assert_eq!(app.text("rev-1", me, "long day").await.status(), 204);
    app.run_until_idle().await;
    assert_eq!(
        app.text("rev-2", me, "i want to kill myself tonight")
            .await
            .status(),
        204
    );
    app.run_until_idle().await;

    let reviewer = admin_token("dr-lee", "reviewer");
    for role in ["viewer", "author", "approver"] {
        let (code, _) = call(
            &app,
            Method::GET,
            "/admin/v1/crisis-events",
            Some(&admin_token("x", role)),
            None,
        )
        .await;
        assert_eq!(
            code,
            StatusCode::FORBIDDEN,
            "{role} may not list crisis events"
        );
    }
    let (code, body) = call(
        &app,
        Method::GET,
        "/admin/v1/crisis-events",
        Some(&reviewer),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    assert!(
        !body.to_string().contains("kill myself"),
        "the list holds no text: {body}"
    );
    let id = events[0]["id"].as_str().unwrap().to_string();

    let path = format!("/admin/v1/crisis-events/{id}");
    let (code, _) = call(
        &app,
        Method::GET,
        &path,
        Some(&admin_token("x", "author")),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, event) = call(&app, Method::GET, &path, Some(&reviewer), None).await;
    assert_eq!(code, StatusCode::OK, "{event}");
    let turns = event["turns"].as_array().unwrap();
    let flagged: Vec<&Value> = turns.iter().filter(|t| t["flagged"] == true).collect();
    assert_eq!(flagged.len(), 1, "{event}");
    assert_eq!(flagged[0]["text"], "i want to kill myself tonight");
    assert!(turns.iter().any(|t| t["text"] == "long day"), "{event}");
    let opened: i64 = app
        .sql_one(&format!(
            "SELECT count(*) FROM crisis_event_access WHERE event_id = '{id}' AND subject = 'dr-lee' AND action = 'open'"
        ))
        .await;
    assert_eq!(opened, 1);

    let close = format!("{path}/close");
    let (code, body) = call(
        &app,
        Method::POST,
        &close,
        Some(&reviewer),
        Some(json!({ "outcome": "shrugged" })),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let note = json!({ "outcome": "reached-out", "note": "called back, safe with sister tonight" });
    let (code, body) = call(
        &app,
        Method::POST,
        &close,
        Some(&reviewer),
        Some(note.clone()),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, _) = call(&app, Method::POST, &close, Some(&reviewer), Some(note)).await;
    assert_eq!(code, StatusCode::CONFLICT, "closed once");
    let sealed: Vec<u8> = app
        .sql_one(&format!(
            "SELECT review_note FROM crisis_events WHERE id = '{id}'"
        ))
        .await;
    assert!(
        !String::from_utf8_lossy(&sealed).contains("sister"),
        "the note is sealed"
    );
    let (_, event) = call(&app, Method::GET, &path, Some(&reviewer), None).await;
    assert_eq!(event["outcome"], "reached-out");
    assert_eq!(event["reviewed_by"], "dr-lee");
    assert_eq!(event["note"], "called back, safe with sister tonight");
    let (_, body) = call(
        &app,
        Method::GET,
        "/admin/v1/crisis-events",
        Some(&reviewer),
        None,
    )
    .await;
    assert!(
        body["events"].as_array().unwrap().is_empty(),
        "closed events leave the list"
    );
    let unknown = format!("/admin/v1/crisis-events/{}", uuid::Uuid::new_v4());
    let (code, _) = call(&app, Method::GET, &unknown, Some(&reviewer), None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}
