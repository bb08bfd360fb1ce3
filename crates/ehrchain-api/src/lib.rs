//! The HTTP API: the only crate that knows HTTP and JSON. Routes for every flow, signed-request
//! authentication, one error type with stable codes, body-size limits, `/healthz`, Prometheus
//! `/metrics` and the OpenAPI 3.1 document at `/openapi.json`.
//!
//! Transactions travel as their canonical bytes (`application/octet-stream`), so what a client
//! signs is exactly what the ledger stores; everything else is JSON.

pub mod auth;
pub mod dto;
pub mod error;
pub mod fhir;
pub mod metrics;
pub mod routes;
pub mod web;

pub use auth::{sign_request, AUTH_HEADER, UNSIGNED_PAYLOAD};
pub use error::ApiError;
pub use routes::{app, serve, AppState};

/// The OpenAPI 3.1 document served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");
