//! A blocking client for the node's HTTP API. Failures carry the API's stable error code, so
//! callers (and tests) can tell a denial from a replay from an outage.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use ehrchain_api::{sign_request, AUTH_HEADER, UNSIGNED_PAYLOAD};
use ehrchain_crypto::{sha256, SigningKey};
use ehrchain_types::SignedTx;
use reqwest::blocking::{Body, Client as Http, Response};
use reqwest::StatusCode;
use serde_json::Value;

/// An error answer from the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)
    }
}

impl std::error::Error for ApiFailure {}

/// The API error code behind an `anyhow` error, if it came from the API.
pub fn code_of(err: &anyhow::Error) -> Option<&str> {
    err.downcast_ref::<ApiFailure>().map(|f| f.code.as_str())
}

pub struct Client {
    base: String,
    http: Http,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Client {
    pub fn new(base: &str) -> Result<Client> {
        let http = Http::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(None)
            .build()?;
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Turns a non-success response into an [`ApiFailure`].
    pub fn check(resp: Response) -> Result<Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or("http_error")
            .to_owned();
        let message = body["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}"));
        Err(ApiFailure {
            status,
            code,
            message,
        }
        .into())
    }

    fn json(resp: Response) -> Result<Value> {
        let resp = Self::check(resp)?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        Ok(resp.json()?)
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        Self::json(self.http.get(self.url(path)).send()?)
    }

    /// Submits a signed transaction and waits for its receipt. A ledger rejection is an error
    /// with the rejection's code.
    pub fn submit(&self, tx: &SignedTx) -> Result<Value> {
        self.submit_bytes(crate::txs::bytes(tx))
    }

    pub fn submit_bytes(&self, bytes: Vec<u8>) -> Result<Value> {
        let resp = self
            .http
            .post(self.url("/v1/tx"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()?;
        Self::json(resp)
    }

    fn auth(&self, key: &SigningKey, method: &str, path: &str, body_hash: &str) -> String {
        sign_request(key, method, path, now_ms(), body_hash)
    }

    pub fn signed_get(&self, key: &SigningKey, path: &str) -> Result<Value> {
        let auth = self.auth(key, "GET", path, &sha256(b"").to_string());
        Self::json(
            self.http
                .get(self.url(path))
                .header(AUTH_HEADER, auth)
                .send()?,
        )
    }

    pub fn signed_post(&self, key: &SigningKey, path: &str, body: &Value) -> Result<Value> {
        let bytes = serde_json::to_vec(body)?;
        let auth = self.auth(key, "POST", path, &sha256(&bytes).to_string());
        let resp = self
            .http
            .post(self.url(path))
            .header(AUTH_HEADER, auth)
            .header("content-type", "application/json")
            .body(bytes)
            .send()?;
        Self::json(resp)
    }

    /// Streams a ciphertext to `/v1/blobs`.
    pub fn put_blob(&self, key: &SigningKey, body: Body) -> Result<Value> {
        let auth = self.auth(key, "POST", "/v1/blobs", UNSIGNED_PAYLOAD);
        let resp = self
            .http
            .post(self.url("/v1/blobs"))
            .header(AUTH_HEADER, auth)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()?;
        Self::json(resp)
    }

    /// Sends a signed release of population counts; the answer carries the noisy cells.
    pub fn aggregate(&self, tx: &SignedTx) -> Result<Value> {
        let resp = self
            .http
            .post(self.url("/v1/aggregates"))
            .header("content-type", "application/octet-stream")
            .body(crate::txs::bytes(tx))
            .send()?;
        Self::json(resp)
    }

    /// Sends a signed access transaction; the response streams the ciphertext (or, with
    /// `envelope_only`, carries only the envelope).
    pub fn read(&self, record: &str, tx: &SignedTx, envelope_only: bool) -> Result<Response> {
        let q = if envelope_only {
            "?envelope_only=true"
        } else {
            ""
        };
        let resp = self
            .http
            .post(self.url(&format!("/v1/records/{record}/read{q}")))
            .header("content-type", "application/octet-stream")
            .body(crate::txs::bytes(tx))
            .send()?;
        Self::check(resp)
    }
}
