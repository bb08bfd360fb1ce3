//! A FHIR R4 REST subset (`read`, `search`, `metadata`) over a [`FhirSource`]: the HTTP side of
//! the FHIR gateway that `ehrchain fhir serve` runs beside an EHR app, on the reader's side.
//!
//! The node never holds a reader's private key, so FHIR plaintext can exist only where that key
//! is: the source here is the reader's own client, which signs an access transaction for every
//! record (committed and audited by the node, through the consent decision, before anything is
//! released) and decrypts locally. This module knows HTTP and FHIR JSON only: which records to
//! read, the SMART scopes and the consent are the source's business.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

/// Where the gateway's resources come from.
pub trait FhirSource: Send + Sync + 'static {
    /// The resource `resource_type/id`.
    fn read(&self, resource_type: &str, id: &str) -> Result<Value, FhirError>;
    /// The resources of `resource_type` matching `params` (FHIR search parameters, already
    /// split: `patient`, `category`, `date` may repeat).
    fn search(
        &self,
        resource_type: &str,
        params: &[(String, String)],
    ) -> Result<Vec<Value>, FhirError>;
    /// The resource types and search parameters the source supports, for `metadata`.
    fn capabilities(&self) -> Vec<(String, Vec<String>)>;
}

/// Why a FHIR request failed; each becomes an `OperationOutcome`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirError {
    #[error("not found")]
    NotFound,
    /// Outside the app's SMART scopes, or refused by the consent decision.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("the node could not answer: {0}")]
    Upstream(String),
}

/// The gateway's router, serving under `/fhir`.
pub fn router(source: Arc<dyn FhirSource>) -> Router {
    Router::new()
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/{resource_type}", get(search))
        .route("/fhir/{resource_type}/{id}", get(read))
        .fallback(|| async { outcome(StatusCode::NOT_FOUND, "not-supported", "no such route") })
        .with_state(source)
}

type Source = State<Arc<dyn FhirSource>>;

async fn metadata(State(source): Source) -> Response {
    let resources: Vec<Value> = source
        .capabilities()
        .into_iter()
        .map(|(t, params)| {
            json!({
                "type": t,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": params
                    .iter()
                    .map(|p| json!({"name": p, "type": if p == "date" { "date" } else if p == "patient" { "reference" } else { "token" }}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    fhir_json(
        StatusCode::OK,
        &json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "software": {"name": "ehrchain FHIR gateway"},
            "rest": [{
                "mode": "server",
                "documentation": "Every read is a committed, audited access on the ehrchain ledger, decided by the patient's grants; SMART scopes restrict it further.",
                "resource": resources,
            }],
        }),
    )
}

async fn read(
    State(source): Source,
    Path((resource_type, id)): Path<(String, String)>,
) -> Response {
    if let Err(e) = check_type(&resource_type) {
        return error(e);
    }
    match blocking(move || source.read(&resource_type, &id)).await {
        Ok(v) => fhir_json(StatusCode::OK, &v),
        Err(e) => error(e),
    }
}

async fn search(
    State(source): Source,
    Path(resource_type): Path<String>,
    Query(raw): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(e) = check_type(&resource_type) {
        return error(e);
    }
    let rt = resource_type.clone();
    match blocking(move || source.search(&rt, &raw)).await {
        Ok(found) => {
            let entries: Vec<Value> = found
                .into_iter()
                .map(|r| {
                    let url = format!(
                        "{}/{}",
                        r["resourceType"].as_str().unwrap_or(&resource_type),
                        r["id"].as_str().unwrap_or("")
                    );
                    json!({"fullUrl": url, "resource": r, "search": {"mode": "match"}})
                })
                .collect();
            fhir_json(
                StatusCode::OK,
                &json!({
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "total": entries.len(),
                    "entry": entries,
                }),
            )
        }
        Err(e) => error(e),
    }
}

/// Runs a source call (which does blocking I/O to the node) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FhirError> + Send + 'static,
) -> Result<T, FhirError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(FhirError::Upstream(format!("gateway task failed: {e}"))))
}

/// A FHIR resource type: an upper-case letter, then letters.
fn check_type(t: &str) -> Result<(), FhirError> {
    let ok = t.len() <= 64
        && t.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && t.chars().all(|c| c.is_ascii_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(FhirError::BadRequest(format!(
            "{t:?} is not a FHIR resource type"
        )))
    }
}

fn error(e: FhirError) -> Response {
    let (status, code) = match &e {
        FhirError::NotFound => (StatusCode::NOT_FOUND, "not-found"),
        FhirError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        FhirError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid"),
        FhirError::Upstream(_) => (StatusCode::BAD_GATEWAY, "transient"),
    };
    outcome(status, code, &e.to_string())
}

fn outcome(status: StatusCode, code: &str, diagnostics: &str) -> Response {
    fhir_json(
        status,
        &json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
        }),
    )
}

fn fhir_json(status: StatusCode, v: &Value) -> Response {
    let mut resp = (status, v.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    resp
}

/// Serves the gateway on `listener` until the process ends.
pub async fn serve(
    source: Arc<dyn FhirSource>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    axum::serve(listener, router(source)).await
}

/// Splits search parameters by name (a parameter may repeat, e.g. two `date` bounds).
pub fn params_by_name(params: &[(String, String)]) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in params {
        out.entry(k.as_str()).or_default().push(v.as_str());
    }
    out
}
