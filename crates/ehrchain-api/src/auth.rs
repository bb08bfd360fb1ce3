//! Signed requests: a client proves which actor it is by signing the method, path, a timestamp
//! and the body's hash with its Ed25519 key under the `ehrchain/http` namespace. Transactions are
//! self-authenticating and need no header.

use axum::http::{HeaderMap, Method};
use ehrchain_crypto::{sha256, verify, PublicKey, Signature, SigningKey};

use crate::error::ApiError;

pub const AUTH_HEADER: &str = "x-ehr-auth";
pub const NAMESPACE: &[u8] = b"ehrchain/http";
/// Used instead of a body hash for streamed uploads (the blob is content-addressed anyway).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// How far a request's timestamp may be from the node's clock.
pub const MAX_SKEW_MS: u64 = 5 * 60 * 1000;

/// The header value a client sends: `<public key hex>.<unix ms>.<signature hex>`.
pub fn sign_request(
    key: &SigningKey,
    method: &str,
    path_and_query: &str,
    now_ms: u64,
    body_hash: &str,
) -> String {
    let msg = canonical(method, path_and_query, now_ms, body_hash);
    let sig = key.sign(NAMESPACE, msg.as_bytes());
    format!(
        "{}.{}.{}",
        key.public(),
        now_ms,
        hex::encode(sig.to_bytes())
    )
}

/// The hex SHA-256 of a body, as signed.
pub fn body_hash(body: &[u8]) -> String {
    sha256(body).to_string()
}

fn canonical(method: &str, path_and_query: &str, ts: u64, body_hash: &str) -> String {
    format!("{method}\n{path_and_query}\n{ts}\n{body_hash}")
}

/// Checks the auth header of a request; returns the signer's key.
pub fn authenticate(
    headers: &HeaderMap,
    method: &Method,
    path_and_query: &str,
    body_hash: &str,
    now_ms: u64,
) -> Result<PublicKey, ApiError> {
    let value = headers
        .get(AUTH_HEADER)
        .ok_or_else(|| ApiError::unauthorised(format!("missing {AUTH_HEADER} header")))?
        .to_str()
        .map_err(|_| ApiError::unauthorised("unreadable auth header"))?;
    let mut parts = value.split('.');
    let (Some(key), Some(ts), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ApiError::unauthorised(
            "auth header must be <key>.<ms>.<signature>",
        ));
    };
    let key: PublicKey = key
        .parse()
        .map_err(|_| ApiError::unauthorised("bad public key in auth header"))?;
    let ts: u64 = ts
        .parse()
        .map_err(|_| ApiError::unauthorised("bad timestamp in auth header"))?;
    if ts.abs_diff(now_ms) > MAX_SKEW_MS {
        return Err(ApiError::unauthorised(
            "request timestamp too far from the node's clock",
        ));
    }
    let mut raw = [0u8; 64];
    hex::decode_to_slice(sig, &mut raw)
        .map_err(|_| ApiError::unauthorised("bad signature encoding"))?;
    let msg = canonical(method.as_str(), path_and_query, ts, body_hash);
    verify(
        &key,
        NAMESPACE,
        msg.as_bytes(),
        &Signature::from_bytes(&raw),
    )
    .map_err(|_| ApiError::unauthorised("request signature does not verify"))?;
    Ok(key)
}
