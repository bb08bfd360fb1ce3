//! The HTTP layer through `app(state).oneshot(request)`, no socket: malformed, oversized,
//! replayed and wrongly signed transactions and bodies get a clear 4xx with a stable code and
//! change nothing; the OpenAPI document names only routes that exist.

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request, StatusCode};
use ehrchain_api::{app, sign_request, AppState, AUTH_HEADER};
use ehrchain_crypto::{Identity, SigningKey};
use ehrchain_node::{Node, NodeConfig};
use ehrchain_types::{Canonical, Tx, TxBody};
use serde_json::Value;
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

fn post_tx(bytes: Vec<u8>) -> Request<Body> {
    Request::post("/v1/tx")
        .header("content-type", "application/octet-stream")
        .body(Body::from(bytes))
        .unwrap()
}

fn register(id: &Identity, nonce: u64) -> Vec<u8> {
    Tx {
        signer: id.public().sign,
        nonce,
        body: TxBody::RegisterPatient {
            encrypt_key: id.public().encrypt,
        },
    }
    .sign(id.signing())
    .to_bytes()
}

fn height(node: &Node) -> u64 {
    node.tip().unwrap().map_or(0, |h| h.height.0)
}

#[tokio::test]
async fn bad_transactions_get_4xx_with_codes_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let id = Identity::generate(&mut rand::rngs::OsRng);
    let good = register(&id, 1);
    let (status, body) = call(&node, post_tx(good.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"]["status"], "applied");
    let h = height(&node);

    let mut bad_sig = register(&id, 2);
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 1;
    let mut wrong_signer = register(&id, 3);
    wrong_signer[0] ^= 0x02; // another (valid or invalid) key: never this signature's key
    let cases: Vec<(&str, Vec<u8>, StatusCode, &[&str])> = vec![
        (
            "garbage",
            b"not a transaction".to_vec(),
            StatusCode::BAD_REQUEST,
            &["malformed_tx"],
        ),
        ("empty", vec![], StatusCode::BAD_REQUEST, &["malformed_tx"]),
        (
            "truncated",
            good[..good.len() - 10].to_vec(),
            StatusCode::BAD_REQUEST,
            &["malformed_tx"],
        ),
        (
            "trailing byte",
            [good.clone(), vec![0]].concat(),
            StatusCode::BAD_REQUEST,
            &["malformed_tx"],
        ),
        (
            "oversized",
            vec![0u8; 64 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            &["body_too_large", "tx_too_large"],
        ),
        (
            "wrong signature",
            bad_sig,
            StatusCode::BAD_REQUEST,
            &["bad_signature"],
        ),
        (
            "signer swapped",
            wrong_signer,
            StatusCode::BAD_REQUEST,
            &["bad_signature", "malformed_tx"],
        ),
        ("replayed", good.clone(), StatusCode::CONFLICT, &["replay"]),
    ];
    for (name, bytes, want, codes) in cases {
        let (status, body) = call(&node, post_tx(bytes)).await;
        assert_eq!(status, want, "{name}: {body}");
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(codes.contains(&code), "{name}: code {code:?}");
        assert!(
            !body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{name}: message"
        );
        assert_eq!(height(&node), h, "{name} changed the chain");
    }

    // A well-formed transaction the ledger refuses is committed as a rejection: 422 with its code.
    let stranger = Identity::generate(&mut rand::rngs::OsRng);
    let revoke = Tx {
        signer: stranger.public().sign,
        nonce: 9,
        body: TxBody::Revoke {
            grant: ehrchain_types::GrantId::from_bytes([1; 16]),
        },
    }
    .sign(stranger.signing());
    let (status, body) = call(&node, post_tx(revoke.to_bytes())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "unknown_grant");
    assert_eq!(body["outcome"]["status"], "rejected");
}

fn signed_get(key: &SigningKey, path: &str) -> Request<Body> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let auth = sign_request(
        key,
        "GET",
        path,
        ms,
        &ehrchain_crypto::sha256(b"").to_string(),
    );
    Request::get(path)
        .header(AUTH_HEADER, auth)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn bad_http_requests_get_4xx_with_codes() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let patient = Identity::generate(&mut rand::rngs::OsRng);
    call(&node, post_tx(register(&patient, 1))).await;
    let pid = ehrchain_types::PatientId::of(&patient.public().sign);
    let other = Identity::generate(&mut rand::rngs::OsRng);
    let audit = format!("/v1/patients/{pid}/audit");

    let (s, b) = call(&node, Request::get(&audit).body(Body::empty()).unwrap()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorised"))
    );
    let (s, _) = call(&node, signed_get(patient.signing(), &audit)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = call(&node, signed_get(other.signing(), &audit)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // A signature over another path does not authenticate this one.
    let mut req = signed_get(patient.signing(), "/v1/patients/x/audit");
    *req.uri_mut() = audit.parse().unwrap();
    let (s, _) = call(&node, req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = call(
        &node,
        signed_get(patient.signing(), "/v1/patients/not-an-id/audit"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_parameter"))
    );
    let (s, b) = call(
        &node,
        Request::get("/v1/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    // Oversized and malformed JSON bodies.
    let big = Request::post("/v1/personas")
        .body(Body::from(vec![b'x'; 1 << 20]))
        .unwrap();
    let (s, b) = call(&node, big).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large"))
    );
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let body = b"{not json".to_vec();
    let auth = sign_request(
        patient.signing(),
        "POST",
        "/v1/personas",
        ms,
        &ehrchain_crypto::sha256(&body).to_string(),
    );
    let req = Request::post("/v1/personas")
        .header(AUTH_HEADER, auth)
        .body(Body::from(body))
        .unwrap();
    let (s, b) = call(&node, req).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_json"))
    );
    // A missing record and a denied one answer alike.
    let (s, b) = call(
        &node,
        signed_get(
            other.signing(),
            &format!(
                "/v1/records/{}",
                ehrchain_types::RecordId::from_bytes([9; 16])
            ),
        ),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("access_denied"))
    );
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path()).await;
    let (s, b) = call(&node, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let resp = app(AppState::new(node.clone()))
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8(to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(text.contains("ehrchain_blocks_total"), "{text}");
    let doc: Value = serde_json::from_str(ehrchain_api::OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Every documented path and method exists (answers something other than the fallback).
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{height}", "1").replace(['{', '}'], "");
            let req = Request::builder()
                .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                .uri(&concrete)
                .body(Body::empty())
                .unwrap();
            let (s, b) = call(&node, req).await;
            let fallback = s == StatusCode::NOT_FOUND
                && b["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no such route"));
            assert!(
                !fallback && s != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed"
            );
        }
    }
}
