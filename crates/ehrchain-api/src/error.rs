//! The API's one error type: a stable code and a message for client faults; a request id and no
//! internals for server faults.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ehrchain_node::{
    AggregateError, EnvelopeError, NodeError, ReadError, ReplicaError, SubmitError,
};
use ehrchain_types::{DenyReason, TxError};
use serde_json::json;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorised(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorised", message)
    }

    /// A denial and a missing record answer alike, so probing ids tells nothing.
    pub fn access_denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "access denied: no live grant covers this record for you and this purpose, or it does not exist",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A server fault: logged with a request id; the client sees only the id.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
        tracing::error!(request_id = id, error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error; request id {id}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        (self.status, body).into_response()
    }
}

impl From<TxError> for ApiError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Malformed(d) => {
                Self::bad_request("malformed_tx", format!("malformed transaction: {d}"))
            }
            TxError::TooLarge => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "tx_too_large", e.to_string())
            }
            TxError::BadSignature => Self::bad_request("bad_signature", e.to_string()),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Tx(t) => t.into(),
            SubmitError::Replay => Self::new(StatusCode::CONFLICT, "replay", e.to_string()),
            SubmitError::Overloaded => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
            }
            SubmitError::Stopped => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "stopped", e.to_string())
            }
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Submit(s) => s.into(),
            ReadError::NotAccess => Self::bad_request("not_access", e.to_string()),
            ReadError::Denied(DenyReason::NoGrant | DenyReason::NotFound) => Self::access_denied(),
            ReadError::Denied(DenyReason::UnknownReader) => Self::unauthorised("the signer is not a registered, active patient or agent"),
            ReadError::Rejected(r) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), e.to_string()),
            ReadError::NoEnvelope => Self::new(StatusCode::CONFLICT, "no_envelope", e.to_string()),
            ReadError::Damaged(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "blob_damaged", "the record's ciphertext failed its integrity check on this node and is quarantined"),
            other => Self::internal(other),
        }
    }
}

impl From<AggregateError> for ApiError {
    fn from(e: AggregateError) -> Self {
        match e {
            AggregateError::Submit(s) => s.into(),
            AggregateError::NotAggregate => Self::bad_request("not_aggregate", e.to_string()),
            AggregateError::NotHosted => {
                Self::new(StatusCode::MISDIRECTED_REQUEST, "not_hosted", e.to_string())
            }
            AggregateError::Rejected(r) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), e.to_string())
            }
            other => Self::internal(other),
        }
    }
}

impl From<ReplicaError> for ApiError {
    fn from(e: ReplicaError) -> Self {
        match e {
            ReplicaError::NotAllowed => {
                Self::forbidden("only validators may replicate, and only live records")
            }
            ReplicaError::NotHeld => {
                Self::not_found("this node holds no good copy of that ciphertext")
            }
            other => Self::internal(other),
        }
    }
}

impl From<EnvelopeError> for ApiError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::NotAllowed => Self::forbidden("not allowed"),
            EnvelopeError::NotEntitled(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_entitled",
                e.to_string(),
            ),
            EnvelopeError::Malformed => Self::bad_request("malformed", e.to_string()),
            other => Self::internal(other),
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        Self::internal(e)
    }
}

impl From<ehrchain_ledger::StateError> for ApiError {
    fn from(e: ehrchain_ledger::StateError) -> Self {
        Self::internal(e)
    }
}
