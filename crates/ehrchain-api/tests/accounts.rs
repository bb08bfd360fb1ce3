//! Web accounts through `app(state).oneshot(request)`: a patient's backup is stored only for a
//! registered patient and released only for the right auth key; failures lock the name; staff
//! need an approval by their organisation's admin and a fresh TOTP code.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ehrchain_api::{app, sign_request, AppState, AUTH_HEADER};
use ehrchain_crypto::{otp, sha256, Identity, SigningKey};
use ehrchain_ledger::StateView;
use ehrchain_node::{Node, NodeConfig};
use ehrchain_types::{AgentId, OrgKind, Role, Tx, TxBody};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn node(dir: &std::path::Path) -> Node {
    let mut config = NodeConfig::new(dir, b"test".to_vec());
    config.scrub_interval = None;
    Node::open(config).await.unwrap()
}

async fn call(node: &Node, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app(AppState::new(node.clone())).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn signed(key: Option<&SigningKey>, method: &str, path: &str, body: &Value) -> Request<Body> {
    let bytes = if method == "GET" {
        Vec::new()
    } else {
        serde_json::to_vec(body).unwrap()
    };
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(k) = key {
        b = b.header(
            AUTH_HEADER,
            sign_request(k, method, path, now_ms(), &sha256(&bytes).to_string()),
        );
    }
    b.body(Body::from(bytes)).unwrap()
}

/// What a browser would send: its auth key is `auth`, the verifier its SHA-256.
fn account(id: &Identity, login: &str, auth: &[u8]) -> Value {
    json!({
        "login": login, "encrypt_key": id.public().encrypt.to_string(),
        "salt": B64.encode([7u8; 16]), "iterations": 600_000,
        "verifier": sha256(auth).to_string(), "backup": B64.encode(b"opaque encrypted key backup"),
    })
}

fn login(login: &str, auth: &[u8], totp: Option<String>) -> Request<Body> {
    signed(
        None,
        "POST",
        "/v1/accounts/login",
        &json!({"login": login, "auth": B64.encode(auth), "totp": totp}),
    )
}

async fn register_patient(node: &Node, id: &Identity) {
    let tx = Tx {
        signer: id.public().sign,
        nonce: 1,
        body: TxBody::RegisterPatient {
            encrypt_key: id.public().encrypt,
        },
    }
    .sign(id.signing());
    node.submit(tx).await.unwrap();
}

#[tokio::test]
async fn patient_backup_is_stored_for_registered_patients_and_released_for_the_right_key() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let alice = Identity::generate(&mut rand::rngs::OsRng);
    let auth = [1u8; 32];
    let body = account(&alice, "alice", &auth);

    let (s, b) = call(
        &node,
        signed(Some(alice.signing()), "POST", "/v1/accounts/patient", &body),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid")),
        "an unregistered key cannot store a backup: {b}"
    );
    register_patient(&node, &alice).await;
    // Signed by someone else: the signer is who the account is for, so this is refused.
    let mallory = Identity::generate(&mut rand::rngs::OsRng);
    let (s, _) = call(
        &node,
        signed(
            Some(mallory.signing()),
            "POST",
            "/v1/accounts/patient",
            &body,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = call(
        &node,
        signed(Some(alice.signing()), "POST", "/v1/accounts/patient", &body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let bob = Identity::generate(&mut rand::rngs::OsRng);
    register_patient(&node, &bob).await;
    let (s, b) = call(
        &node,
        signed(
            Some(bob.signing()),
            "POST",
            "/v1/accounts/patient",
            &account(&bob, "alice", &[2u8; 32]),
        ),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("login_taken"))
    );

    // Login parameters: the stored salt; a stable decoy for an unknown name.
    let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
    let (_, known) = call(&node, get("/v1/accounts/login-params?login=alice")).await;
    assert_eq!(known["salt"], B64.encode([7u8; 16]));
    let (_, d1) = call(&node, get("/v1/accounts/login-params?login=nobody")).await;
    let (_, d2) = call(&node, get("/v1/accounts/login-params?login=nobody")).await;
    assert_eq!(d1, d2);
    assert_eq!(B64.decode(d1["salt"].as_str().unwrap()).unwrap().len(), 16);
    assert_eq!(d1["iterations"], 600_000);

    let (s, b) = call(&node, login("alice", &[9u8; 32], None)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_credentials"))
    );
    assert!(b["backup"].is_null());
    let (s, b) = call(&node, login("alice", &auth, None)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["kind"], "patient");
    assert_eq!(b["backup"], B64.encode(b"opaque encrypted key backup"));
    assert_eq!(b["sign_key"], alice.public().sign.to_string());

    // Five failures lock the name, even against the right key.
    for _ in 0..5 {
        let (s, _) = call(&node, login("alice", &[9u8; 32], None)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, b) = call(&node, login("alice", &auth, None)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("locked"))
    );
}

#[tokio::test]
async fn staff_need_their_admins_approval_and_a_fresh_totp_code() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let (org, _) = node
        .create_organisation("St Mary's", OrgKind::Hospital)
        .await
        .unwrap();
    let admin = Identity::generate(&mut rand::rngs::OsRng);
    node.register_agent_for(
        org.id,
        Role::OrgAdmin,
        "Ada",
        "ADM-1",
        admin.public().sign,
        admin.public().encrypt,
    )
    .await
    .unwrap();
    let doctor = Identity::generate(&mut rand::rngs::OsRng);
    let auth = [3u8; 32];
    let mut body = account(&doctor, "dr.rao", &auth);
    body["organisation"] = json!(org.id.to_string());
    body["role"] = json!("doctor");
    body["name"] = json!("Dr Rao");
    body["licence"] = json!("MED-1");
    let (s, b) = call(
        &node,
        signed(Some(doctor.signing()), "POST", "/v1/accounts/staff", &body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let secret = data_encoding::BASE32_NOPAD
        .decode(b["totp_secret"].as_str().unwrap().as_bytes())
        .unwrap();
    let code = |offset: u64| {
        format!(
            "{:06}",
            otp::hotp(&secret, now_ms() / 1000 / otp::STEP_SECS + offset)
        )
    };

    // Pending: refused with the reason, after the password and code check out.
    let (s, b) = call(&node, login("dr.rao", &auth, Some(code(0)))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("pending_approval"))
    );

    // Only an admin of the organisation (or the node operator) sees and approves requests.
    let outsider = Identity::generate(&mut rand::rngs::OsRng);
    let (s, _) = call(
        &node,
        signed(
            Some(outsider.signing()),
            "GET",
            "/v1/accounts/staff-requests",
            &Value::Null,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let approve = "/v1/accounts/staff-requests/dr.rao/approve";
    let (s, _) = call(
        &node,
        signed(Some(outsider.signing()), "POST", approve, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(node
        .snapshot()
        .unwrap()
        .agent(&AgentId::of(&doctor.public().sign))
        .unwrap()
        .is_none());
    let (s, b) = call(
        &node,
        signed(
            Some(admin.signing()),
            "GET",
            "/v1/accounts/staff-requests",
            &Value::Null,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["requests"][0]["login"], "dr.rao");
    let (s, b) = call(
        &node,
        signed(Some(admin.signing()), "POST", approve, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let agent = node
        .snapshot()
        .unwrap()
        .agent(&AgentId::of(&doctor.public().sign))
        .unwrap()
        .expect("registered on the ledger");
    assert_eq!((agent.org, agent.role), (org.id, Role::Doctor));

    // A declined request is deleted: it cannot log in and cannot be approved later.
    let nurse = Identity::generate(&mut rand::rngs::OsRng);
    let mut nb = account(&nurse, "n.joy", &[4u8; 32]);
    for (k, v) in [
        ("organisation", org.id.to_string()),
        ("role", "nurse".into()),
        ("name", "N Joy".into()),
    ] {
        nb[k] = json!(v);
    }
    let (s, _) = call(
        &node,
        signed(Some(nurse.signing()), "POST", "/v1/accounts/staff", &nb),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let decline = "/v1/accounts/staff-requests/n.joy/decline";
    let (s, _) = call(
        &node,
        signed(Some(outsider.signing()), "POST", decline, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &node,
        signed(Some(admin.signing()), "POST", decline, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &node,
        signed(
            Some(admin.signing()),
            "POST",
            "/v1/accounts/staff-requests/n.joy/approve",
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&node, login("n.joy", &[4u8; 32], None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // An approved account cannot be declined.
    let (s, _) = call(
        &node,
        signed(
            Some(admin.signing()),
            "POST",
            "/v1/accounts/staff-requests/dr.rao/decline",
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Password alone, or a wrong code, is not enough.
    let (s, _) = call(&node, login("dr.rao", &auth, None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let wrong = format!("{:06}", (code(0).parse::<u32>().unwrap() + 1) % 1_000_000);
    let (s, _) = call(&node, login("dr.rao", &auth, Some(wrong))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // The next step's code is accepted (one step of clock skew), then no code at or before it.
    let (s, b) = call(&node, login("dr.rao", &auth, Some(code(1)))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["kind"].as_str(), b["role"].as_str()),
        (Some("staff"), Some("doctor"))
    );
    let (s, _) = call(&node, login("dr.rao", &auth, Some(code(1)))).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a used code is not accepted twice"
    );
    let (s, _) = call(&node, login("dr.rao", &auth, Some(code(0)))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "nor an older one");
}

#[tokio::test]
async fn the_ui_is_served_with_a_strict_csp() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    for path in ["/", "/ui/app.js", "/ui/style.css"] {
        let resp = app(AppState::new(node.clone()))
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    }
    let (s, _) = call(
        &node,
        Request::get("/ui/../Cargo.toml")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_ne!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_agent_cannot_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let (org, _) = node
        .create_organisation("St Mary's", OrgKind::Hospital)
        .await
        .unwrap();
    let admin = Identity::generate(&mut rand::rngs::OsRng);
    node.register_agent_for(
        org.id,
        Role::OrgAdmin,
        "Ada",
        "ADM-1",
        admin.public().sign,
        admin.public().encrypt,
    )
    .await
    .unwrap();
    let doctor = Identity::generate(&mut rand::rngs::OsRng);
    let auth = [5u8; 32];
    let mut body = account(&doctor, "dr.gone", &auth);
    body["organisation"] = json!(org.id.to_string());
    body["role"] = json!("doctor");
    body["name"] = json!("Dr Gone");
    let (_, b) = call(
        &node,
        signed(Some(doctor.signing()), "POST", "/v1/accounts/staff", &body),
    )
    .await;
    let secret = data_encoding::BASE32_NOPAD
        .decode(b["totp_secret"].as_str().unwrap().as_bytes())
        .unwrap();
    let (s, _) = call(
        &node,
        signed(
            Some(admin.signing()),
            "POST",
            "/v1/accounts/staff-requests/dr.gone/approve",
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // The org admin revokes the agent on the ledger (as the browser does).
    let revoke = Tx {
        signer: admin.public().sign,
        nonce: 7,
        body: TxBody::RevokeAgent {
            agent: AgentId::of(&doctor.public().sign),
        },
    }
    .sign(admin.signing());
    let committed = node.submit(revoke).await.unwrap();
    assert!(matches!(
        committed.outcome,
        ehrchain_types::Outcome::Applied
    ));
    let code = format!(
        "{:06}",
        otp::hotp(&secret, now_ms() / 1000 / otp::STEP_SECS)
    );
    let (s, b) = call(&node, login("dr.gone", &auth, Some(code))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("revoked")),
        "{b}"
    );
    assert!(b["backup"].is_null());
    let (s, b) = call(
        &node,
        Request::get(format!("/v1/organisations/{}/agents", org.id))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let listed: Vec<(&str, bool)> = b["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["revoked"].is_null()))
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.contains(&("Dr Gone", false)) && listed.contains(&("Ada", true)));
}
