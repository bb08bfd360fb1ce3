//! Routes and handlers. Each handler authenticates (a signed request or a signed transaction),
//! calls the node, and maps the result to JSON or a stream.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ehrchain_consensus::EngineCheck;
use ehrchain_consent::Decision;
use ehrchain_crypto::{EncryptionKey, PublicKey};
use ehrchain_ledger::{decide_read, InclusionProof, StateView};
use ehrchain_node::{EnvelopeUpload, Node};
use ehrchain_types::{
    AgentId, Canonical, Category, Certificate, OrgId, OrgKind, PatientId, Purpose, RecordId, Role,
    SignedTx, Timestamp, TxId,
};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{authenticate, body_hash, UNSIGNED_PAYLOAD};
use crate::dto;
use crate::error::ApiError;
use crate::metrics::{render, HttpStats};

/// Shared state of the HTTP layer.
#[derive(Clone)]
pub struct AppState {
    pub node: Node,
    pub http: Arc<HttpStats>,
}

impl AppState {
    pub fn new(node: Node) -> Self {
        AppState {
            node,
            http: Arc::new(HttpStats::default()),
        }
    }
}

/// A request body read whole, with size-limit and read failures answered as [`ApiError`]s.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "request body is larger than this route accepts",
                    )
                } else {
                    ApiError::bad_request("bad_body", e.body_text())
                }
            })
    }
}

/// Largest JSON body accepted.
pub const MAX_JSON_BYTES: usize = 256 * 1024;

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    node: Node,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold small responses for ~40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app(AppState::new(node)))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The API router.
pub fn app(state: AppState) -> Router {
    let small = DefaultBodyLimit::max(MAX_JSON_BYTES);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/chain", get(chain))
        .route("/v1/alerts", get(alerts))
        .route(
            "/v1/tx",
            post(submit_tx).layer(DefaultBodyLimit::max(ehrchain_types::limits::MAX_TX_BYTES)),
        )
        .route("/v1/tx/{id}", get(tx_status))
        .route("/v1/tx/{id}/proof", get(tx_proof))
        .route("/v1/blocks/{height}", get(block))
        .route(
            "/v1/blobs",
            post(put_blob).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/records/{id}", get(record_meta))
        .route(
            "/v1/records/{id}/envelopes",
            post(put_envelopes).layer(small),
        )
        .route(
            "/v1/records/{id}/read",
            post(read_record).layer(DefaultBodyLimit::max(ehrchain_types::limits::MAX_TX_BYTES)),
        )
        .route(
            "/v1/aggregates",
            post(release_aggregate)
                .layer(DefaultBodyLimit::max(ehrchain_types::limits::MAX_TX_BYTES)),
        )
        .route(
            "/v1/replica/records/{id}/ciphertext",
            get(replica_ciphertext),
        )
        .route("/v1/replica/records/{id}/envelopes", get(replica_envelopes))
        .route("/v1/replica/blocks/{height}", get(replica_block))
        .route("/v1/patients/{id}", get(patient))
        .route("/v1/patients/{id}/records", get(patient_records))
        .route("/v1/patients/{id}/grants", get(patient_grants))
        .route("/v1/patients/{id}/audit", get(patient_audit))
        .route("/v1/patients/{id}/recipients", get(recipients))
        .route("/v1/agents/{id}", get(agent))
        .route("/v1/organisations", get(organisations))
        .route("/v1/organisations/{id}", get(organisation))
        .route(
            "/v1/admin/organisations",
            post(create_organisation).layer(small),
        )
        .route(
            "/v1/admin/organisations/{id}/agents",
            post(create_agent).layer(small),
        )
        .route("/v1/admin/verify", post(verify_now).layer(small))
        .route(
            "/v1/personas",
            post(put_persona).get(find_persona).layer(small),
        )
        .route("/v1/personas/{patient}", get(persona))
        .merge(crate::web::routes().layer(small))
        .fallback(|| async { ApiError::not_found("no such route; see /openapi.json") })
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

async fn count(State(s): State<AppState>, req: axum::extract::Request, next: Next) -> Response {
    s.http.requests.fetch_add(1, Ordering::Relaxed);
    let resp = next.run(req).await;
    if resp.status().is_client_error() {
        s.http.client_errors.fetch_add(1, Ordering::Relaxed);
    } else if resp.status().is_server_error() {
        s.http.server_errors.fetch_add(1, Ordering::Relaxed);
    }
    resp
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map_or(uri.path(), |p| p.as_str())
}

/// The actor who signed a request without a body (the signature covers an empty body's hash).
pub struct Signer(pub PublicKey);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Signer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        authenticate(
            &parts.headers,
            &parts.method,
            path_and_query(&parts.uri),
            &body_hash(b""),
            now_ms(),
        )
        .map(Signer)
    }
}

/// A request body read whole (within the route's limit), and the actor whose signature covers
/// the method, path, time and the body's hash.
pub struct SignedBody {
    pub signer: PublicKey,
    pub body: Bytes,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for SignedBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let (method, uri, headers) = (
            req.method().clone(),
            req.uri().clone(),
            req.headers().clone(),
        );
        let RawBody(body) = RawBody::from_request(req, state).await?;
        let signer = authenticate(
            &headers,
            &method,
            path_and_query(&uri),
            &body_hash(&body),
            now_ms(),
        )?;
        Ok(SignedBody { signer, body })
    }
}

fn parse<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e: T::Err| ApiError::bad_request("bad_parameter", format!("{what}: {e}")))
}

fn block_time(node: &Node) -> Result<u64, ApiError> {
    Ok(node.tip()?.map_or(node.genesis().time.0, |h| h.time.0))
}

async fn healthz(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let height = s.node.tip()?.map_or(0, |h| h.height.0);
    Ok(Json(
        json!({"status": "ok", "height": height, "alerts": s.node.alerts().len()}),
    ))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        render(&s.node, &s.http),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI)
}

async fn chain(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let g = s.node.genesis();
    let tip = s.node.tip()?;
    Ok(Json(json!({
        "chain": g.chain,
        "chain_id": s.node.chain_id().to_string(),
        "genesis_time": g.time.0,
        "validators": g.validators.iter().map(|v| json!({"name": v.name, "key": v.key.to_string()})).collect::<Vec<_>>(),
        "tip": tip.as_ref().map(dto::header),
        "hosted_organisations": s.node.hosted_organisations().iter().map(|o| o.to_string()).collect::<Vec<_>>(),
    })))
}

async fn alerts(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"alerts": s.node.alerts()}))
}

async fn submit_tx(
    State(s): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let tx = SignedTx::decode_submitted(&body)?;
    let committed = s.node.submit(tx).await?;
    let status = match committed.outcome {
        ehrchain_types::Outcome::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let mut body = dto::committed(&committed);
    if let ehrchain_types::Outcome::Rejected(r) = committed.outcome {
        body["error"] =
            json!({"code": r.code(), "message": format!("rejected by the ledger: {}", r.code())});
    }
    Ok((status, Json(body)).into_response())
}

async fn tx_status(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: TxId = parse(&id, "transaction id")?;
    let snap = s.node.snapshot()?;
    let Some((height, index)) = snap.tx_location(&id)? else {
        return Err(ApiError::not_found("no committed transaction with this id"));
    };
    let block = s
        .node
        .block(height.0)?
        .ok_or_else(|| ApiError::internal("indexed block missing"))?;
    let receipt = block
        .receipts
        .get(index as usize)
        .ok_or_else(|| ApiError::internal("receipt missing"))?;
    Ok(Json(json!({
        "tx": id.to_string(), "height": height.0, "index": index, "time": block.header.time.0,
        "outcome": dto::outcome(&receipt.outcome), "kind": block.txs[index as usize].tx.body.kind().as_str(),
    })))
}

async fn tx_proof(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: TxId = parse(&id, "transaction id")?;
    let Some((height, index)) = s.node.snapshot()?.tx_location(&id)? else {
        return Err(ApiError::not_found("no committed transaction with this id"));
    };
    let block = s
        .node
        .block(height.0)?
        .ok_or_else(|| ApiError::internal("indexed block missing"))?;
    let proof = InclusionProof::build(&block, index as usize)
        .ok_or_else(|| ApiError::internal("proof out of range"))?;
    // `parts` lays the proof out for a checker that does not decode every transaction kind
    // (the web UI's auditor view): the header and transaction bytes, the Merkle paths, the votes.
    Ok(Json(json!({
        "tx": id.to_string(), "height": height.0, "index": index, "proof": B64.encode(proof.to_bytes()),
        "parts": {
            "header": B64.encode(proof.header.to_bytes()),
            "tx": B64.encode(proof.tx.to_bytes()),
            "receipt": B64.encode(proof.receipt.to_bytes()),
            "tx_path": proof.tx_path.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
            "receipt_path": proof.receipt_path.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
            "votes": proof.certificate.votes().iter().map(|v| json!({"validator": v.validator.to_string(), "signature": hex::encode(v.signature.to_bytes())})).collect::<Vec<_>>(),
            "finalization": match &proof.certificate {
                Certificate::Engine(bytes) => EngineCheck::new(s.node.genesis()).parts(bytes).map(|f| json!({
                    "proposal": hex::encode(&f.proposal),
                    "signatures": f.signatures.iter().map(|(k, sig)| json!({"validator": k.to_string(), "signature": hex::encode(sig)})).collect::<Vec<_>>(),
                })),
                Certificate::Votes(_) => None,
            },
            "chain_id": s.node.chain_id().to_string(),
        },
    })))
}

async fn block(
    State(s): State<AppState>,
    Path(height): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let block = match s.node.block(height) {
        Ok(Some(b)) => b,
        Ok(None) => return Err(ApiError::not_found("no block at this height")),
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "block_damaged",
                e.to_string(),
            ))
        }
    };
    Ok(Json(json!({
        "header": dto::header(&block.header),
        "certificate": dto::certificate(&block.certificate),
        "transactions": block.txs.iter().zip(&block.receipts).map(|(t, r)| json!({
            "id": t.tx.id().to_string(), "kind": t.tx.body.kind().as_str(), "signer": t.tx.signer.to_string(),
            "outcome": dto::outcome(&r.outcome),
        })).collect::<Vec<_>>(),
    })))
}

async fn put_blob(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let who = authenticate(
        &headers,
        &method,
        path_and_query(&uri),
        UNSIGNED_PAYLOAD,
        now_ms(),
    )?;
    let snap = s.node.snapshot()?;
    let registered = snap.patient(&PatientId::of(&who))?.is_some()
        || snap
            .agent(&AgentId::of(&who))?
            .is_some_and(|a| a.is_active());
    drop(snap);
    if !registered {
        return Err(ApiError::forbidden(
            "only registered patients and active agents may store ciphertext",
        ));
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let stored = s.node.put_blob(stream).await.map_err(|e| match e {
        ehrchain_node::NodeError::Blob(ehrchain_blob::BlobError::TooLarge { .. }) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "blob_too_large",
            e.to_string(),
        ),
        other => ApiError::internal(other),
    })?;
    Ok(Json(
        json!({"cid": stored.cid.to_string(), "size": stored.len}),
    ))
}

async fn put_envelopes(
    State(s): State<AppState>,
    Path(id): Path<String>,
    SignedBody { signer: who, body }: SignedBody,
) -> Result<StatusCode, ApiError> {
    let record: RecordId = parse(&id, "record id")?;
    let input: dto::EnvelopesIn = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    if input.envelopes.len() > 1024 {
        return Err(ApiError::bad_request(
            "too_many",
            "at most 1024 envelopes per request",
        ));
    }
    let mut uploads = Vec::with_capacity(input.envelopes.len());
    for e in input.envelopes {
        let recipient: EncryptionKey = parse(&e.recipient, "recipient key")?;
        let sealed = B64
            .decode(&e.sealed)
            .map_err(|_| ApiError::bad_request("bad_base64", "sealed must be base64"))?;
        uploads.push(EnvelopeUpload { recipient, sealed });
    }
    s.node.put_envelopes(&who, &record, &uploads)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ReadQuery {
    #[serde(default)]
    envelope_only: bool,
}

/// Reads a record. With `envelope_only`, answers the envelope as JSON and no ciphertext (a
/// patient re-sealing keys for a new grant); the access event is committed either way.
async fn read_record(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ReadQuery>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let record: RecordId = parse(&id, "record id")?;
    let tx = SignedTx::decode_submitted(&body)?;
    match tx.tx.body {
        ehrchain_types::TxBody::Access { record: r, .. } if r == record => {}
        _ => {
            return Err(ApiError::bad_request(
                "not_access",
                "the body must be a signed access transaction for this record",
            ))
        }
    }
    let release = s.node.read(tx).await?;
    if q.envelope_only {
        return Ok(Json(json!({
            "envelope": B64.encode(&release.envelope),
            "access_tx": release.committed.tx.to_string(),
            "record": dto::record(&release.record, &[]),
        }))
        .into_response());
    }
    let stream = release.ciphertext().await?.map_err(std::io::Error::other);
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    let hv = |v: String| {
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert("x-ehr-envelope", hv(B64.encode(&release.envelope)));
    h.insert("x-ehr-access-tx", hv(release.committed.tx.to_string()));
    h.insert(
        "x-ehr-access-height",
        hv(release.committed.height.0.to_string()),
    );
    h.insert("x-ehr-basis", hv(dto::basis(&release.basis).to_string()));
    h.insert("x-ehr-cid", hv(release.record.anchor.cid.to_string()));
    h.insert(
        "x-ehr-category",
        hv(release.record.anchor.category.to_string()),
    );
    h.insert(
        "x-ehr-media-type",
        hv(release.record.anchor.media_type.clone()),
    );
    h.insert("x-ehr-size", hv(release.record.anchor.size.to_string()));
    Ok(resp)
}

/// Population counts: the body is a signed `ReleaseAggregate`; the release is committed, and
/// charged to the requester's privacy budget, before the counts are computed.
async fn release_aggregate(
    State(s): State<AppState>,
    RawBody(body): RawBody,
) -> Result<Json<Value>, ApiError> {
    let tx = SignedTx::decode_submitted(&body)?;
    let r = s.node.aggregate(tx).await?;
    Ok(Json(dto::aggregate(&r)))
}

/// A block's canonical bytes, for another validator whose copy is damaged.
async fn replica_block(
    State(s): State<AppState>,
    Path(height): Path<u64>,
    Signer(who): Signer,
) -> Result<Response, ApiError> {
    let bytes = s.node.replica_block(&who, height)?;
    let mut resp = Response::new(Body::from(bytes));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(resp)
}

/// A record's ciphertext, for another validator of the consortium (signed by its key).
async fn replica_ciphertext(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Signer(who): Signer,
) -> Result<Response, ApiError> {
    let record: RecordId = parse(&id, "record id")?;
    let stream = s
        .node
        .replica_ciphertext(&who, &record)
        .await?
        .map_err(std::io::Error::other);
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(resp)
}

/// A record's sealed key envelopes, for another validator of the consortium.
async fn replica_envelopes(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let record: RecordId = parse(&id, "record id")?;
    let entries = s.node.replica_envelopes(&who, &record)?;
    let out: Vec<Value> = entries
        .iter()
        .map(|e| json!({"recipient": e.recipient.to_string(), "sealed": B64.encode(&e.sealed)}))
        .collect();
    Ok(Json(json!({"envelopes": out})))
}

#[derive(Deserialize)]
struct PurposeQuery {
    purpose: Option<String>,
    category: Option<String>,
}

/// Record metadata for the patient, or for an agent the consent decision would permit.
async fn record_meta(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PurposeQuery>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let record: RecordId = parse(&id, "record id")?;
    let purpose: Purpose = match &q.purpose {
        Some(p) => parse(p, "purpose")?,
        None => Purpose::Treatment,
    };
    let snap = s.node.snapshot()?;
    let Some(rec) = snap.record(&record)? else {
        return Err(ApiError::access_denied());
    };
    let is_patient = PatientId::of(&who) == rec.anchor.patient;
    // An erased record's metadata (and its receipts) stays visible to its patient.
    if !is_patient {
        let (d, _, _) = decide_read(
            &snap,
            &who,
            &record,
            purpose,
            Timestamp(block_time(&s.node)?),
        )?;
        if !matches!(d, Decision::Permit(_)) {
            return Err(ApiError::access_denied());
        }
    }
    let receipts = snap.erase_receipts(&record)?;
    Ok(Json(dto::record(&rec, &receipts)))
}

async fn patient(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pid: PatientId = parse(&id, "patient id")?;
    let p = s
        .node
        .snapshot()?
        .patient(&pid)?
        .ok_or_else(|| ApiError::not_found("no such patient"))?;
    Ok(Json(dto::patient(&p)))
}

/// The patient's records; for an agent, only those the consent decision permits for the purpose.
async fn patient_records(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PurposeQuery>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let pid: PatientId = parse(&id, "patient id")?;
    let purpose: Purpose = match &q.purpose {
        Some(p) => parse(p, "purpose")?,
        None => Purpose::Treatment,
    };
    let snap = s.node.snapshot()?;
    let now = Timestamp(block_time(&s.node)?);
    let is_patient = PatientId::of(&who) == pid;
    let mut out = Vec::new();
    for rec in snap.records_of(&pid)? {
        if !is_patient {
            let (d, _, _) = decide_read(&snap, &who, &rec.anchor.record, purpose, now)?;
            if !d.is_permit() {
                continue;
            }
        }
        if let Some(c) = &q.category {
            if !ehrchain_types::CategoryPattern::new(c)
                .map(|p| p.covers(&rec.anchor.category))
                .unwrap_or(false)
            {
                continue;
            }
        }
        let receipts = snap.erase_receipts(&rec.anchor.record)?;
        out.push(dto::record(&rec, &receipts));
    }
    Ok(Json(json!({"records": out})))
}

fn require_patient(who: &PublicKey, pid: &PatientId) -> Result<(), ApiError> {
    if PatientId::of(who) == *pid {
        Ok(())
    } else {
        Err(ApiError::forbidden("only the patient may see this"))
    }
}

async fn patient_grants(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let pid: PatientId = parse(&id, "patient id")?;
    require_patient(&who, &pid)?;
    let now = block_time(&s.node)?;
    let grants = s.node.snapshot()?.grants_of(&pid)?;
    Ok(Json(
        json!({"grants": grants.iter().map(|g| dto::grant(g, now)).collect::<Vec<_>>()}),
    ))
}

async fn patient_audit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let pid: PatientId = parse(&id, "patient id")?;
    require_patient(&who, &pid)?;
    let entries = s.node.snapshot()?.audit_of(&pid)?;
    Ok(Json(
        json!({"entries": entries.iter().map(dto::audit).collect::<Vec<_>>()}),
    ))
}

/// Who a new record of `category` must be sealed to: the patient, the requester (its author) and
/// the grantees of live read grants that will cover it.
async fn recipients(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PurposeQuery>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let pid: PatientId = parse(&id, "patient id")?;
    let category: Category = parse(q.category.as_deref().unwrap_or(""), "category")?;
    let snap = s.node.snapshot()?;
    let Some(patient) = snap.patient(&pid)? else {
        return Err(ApiError::not_found("no such patient"));
    };
    let author = snap.agent(&AgentId::of(&who))?.filter(|a| a.is_active());
    if PatientId::of(&who) != pid && author.is_none() {
        return Err(ApiError::forbidden(
            "only the patient or an active agent may ask",
        ));
    }
    let now = Timestamp(block_time(&s.node)?);
    let mut out = vec![
        json!({"key": patient.encrypt_key.to_string(), "for": {"kind": "patient", "id": pid.to_string()}}),
    ];
    if let Some(a) = &author {
        out.push(json!({"key": a.encrypt_key.to_string(), "for": {"kind": "agent", "id": a.id.to_string()}}));
    }
    for g in snap.grants_of(&pid)? {
        if !(g.is_live(now)
            && g.grant.mode == ehrchain_types::Mode::Read
            && g.grant.scope.categories.iter().any(|c| c.covers(&category)))
        {
            continue;
        }
        let entry = match g.grant.grantee {
            ehrchain_types::Grantee::Agent(a) => snap.agent(&a)?.map(|a| json!({"key": a.encrypt_key.to_string(), "for": {"kind": "agent", "id": a.id.to_string()}})),
            ehrchain_types::Grantee::Organisation(o) | ehrchain_types::Grantee::Role { org: o, .. } => snap.organisation(&o)?.map(|o| json!({"key": o.encrypt_key.to_string(), "for": {"kind": "organisation", "id": o.id.to_string()}})),
        };
        if let Some(e) = entry {
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    Ok(Json(json!({"recipients": out})))
}

async fn agent(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let aid: AgentId = parse(&id, "agent id")?;
    let a = s
        .node
        .snapshot()?
        .agent(&aid)?
        .ok_or_else(|| ApiError::not_found("no such agent"))?;
    Ok(Json(dto::agent(&a)))
}

async fn organisation(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let oid: OrgId = parse(&id, "organisation id")?;
    let o = s
        .node
        .snapshot()?
        .organisation(&oid)?
        .ok_or_else(|| ApiError::not_found("no such organisation"))?;
    Ok(Json(dto::organisation(&o)))
}

async fn organisations(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    use ehrchain_ledger::StateRead;
    let snap = s.node.snapshot()?;
    let orgs: Vec<Value> = snap
        .scan(&[ehrchain_ledger::keys::ORGANISATION], 10_000)?
        .into_iter()
        .filter_map(|(_, v)| ehrchain_types::OrganisationState::from_bytes(&v).ok())
        .map(|o| dto::organisation(&o))
        .collect();
    Ok(Json(json!({"organisations": orgs})))
}

fn require_validator(s: &AppState, who: &PublicKey) -> Result<(), ApiError> {
    if *who == s.node.validator_key() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "administration needs this node's validator key",
        ))
    }
}

async fn create_organisation(
    State(s): State<AppState>,
    SignedBody { signer: who, body }: SignedBody,
) -> Result<Json<Value>, ApiError> {
    require_validator(&s, &who)?;
    let input: dto::NewOrganisation = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    let kind: OrgKind = parse(&input.kind, "organisation kind")?;
    if input.name.trim().is_empty() || input.name.len() > ehrchain_types::limits::MAX_NAME {
        return Err(ApiError::bad_request(
            "bad_name",
            "name must be 1 to 256 bytes",
        ));
    }
    let (org, committed) = s.node.create_organisation(input.name.trim(), kind).await?;
    Ok(Json(
        json!({"organisation": dto::organisation(&org), "receipt": dto::committed(&committed)}),
    ))
}

async fn create_agent(
    State(s): State<AppState>,
    Path(id): Path<String>,
    SignedBody { signer: who, body }: SignedBody,
) -> Result<Response, ApiError> {
    require_validator(&s, &who)?;
    let org: OrgId = parse(&id, "organisation id")?;
    let input: dto::NewAgent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    let role: Role = parse(&input.role, "role")?;
    let sign_key: PublicKey = parse(&input.sign_key, "sign key")?;
    let encrypt_key: EncryptionKey = parse(&input.encrypt_key, "encrypt key")?;
    if input.name.len() > ehrchain_types::limits::MAX_NAME
        || input.licence.len() > ehrchain_types::limits::MAX_NAME
    {
        return Err(ApiError::bad_request(
            "bad_name",
            "name and licence must be at most 256 bytes",
        ));
    }
    let committed = s
        .node
        .register_agent_for(
            org,
            role,
            &input.name,
            &input.licence,
            sign_key,
            encrypt_key,
        )
        .await
        .map_err(|e| ApiError::bad_request("not_hosted", e.to_string()))?;
    let status = if matches!(committed.outcome, ehrchain_types::Outcome::Rejected(_)) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"agent": AgentId::of(&sign_key).to_string(), "receipt": dto::committed(&committed)}))).into_response())
}

/// Runs the integrity check (every block, every live blob) now and answers its report.
async fn verify_now(
    State(s): State<AppState>,
    SignedBody { signer: who, .. }: SignedBody,
) -> Result<Json<Value>, ApiError> {
    require_validator(&s, &who)?;
    let report = s.node.verify_integrity().await?;
    Ok(Json(json!({
        "blocks_checked": report.blocks_checked,
        "blobs_checked": report.blobs_checked,
        "alerts": s.node.alerts(),
    })))
}

async fn put_persona(
    State(s): State<AppState>,
    SignedBody { signer: who, body }: SignedBody,
) -> Result<StatusCode, ApiError> {
    let input: dto::PersonaIn = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    let pid: PatientId = parse(&input.patient, "patient id")?;
    s.node.put_persona(&who, &pid, &input.persona)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct PersonaQuery {
    national_id: Option<String>,
    name: Option<String>,
    birth_date: Option<String>,
}

async fn find_persona(
    State(s): State<AppState>,
    Query(q): Query<PersonaQuery>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let name_birth = match (&q.name, &q.birth_date) {
        (Some(n), Some(b)) => Some((n.as_str(), b.as_str())),
        _ => None,
    };
    if q.national_id.is_none() && name_birth.is_none() {
        return Err(ApiError::bad_request(
            "bad_query",
            "give national_id, or name and birth_date",
        ));
    }
    let found = s
        .node
        .find_persona(&who, q.national_id.as_deref(), name_birth)?;
    Ok(Json(
        json!({"patients": found.iter().map(|p| p.to_string()).collect::<Vec<_>>()}),
    ))
}

async fn persona(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let pid: PatientId = parse(&id, "patient id")?;
    let p = s
        .node
        .persona(&who, &pid)?
        .ok_or_else(|| ApiError::not_found("no persona stored for this patient"))?;
    Ok(Json(json!({"patient": pid.to_string(), "persona": p})))
}
