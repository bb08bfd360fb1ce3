//! The replicator a consortium node runs beside its API: once a second it asks its node what
//! it lacks (damaged blocks, ciphertexts missing or quarantined, envelopes of entitled
//! recipients) and fetches
//! them from the other validators' APIs with requests signed by its validator key. The node
//! checks every ciphertext against the CID on the ledger before keeping it (`replica.rs`), so a
//! peer can delay replication but not corrupt it.

use std::time::Duration;

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ehrchain_api::{sign_request, AUTH_HEADER};
use ehrchain_crypto::{sha256, EncryptionKey, SigningKey};
use ehrchain_node::{EnvelopeUpload, Node, ReplicaError};
use futures::TryStreamExt;
use serde_json::Value;

/// Where the other validators' APIs are.
#[derive(Clone)]
pub struct Replication {
    pub validator: SigningKey,
    /// (name, base URL) of every other validator.
    pub peers: Vec<(String, String)>,
}

/// Runs until the process ends.
pub async fn run(node: Node, r: Replication) {
    let http = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "replicator could not start");
            return;
        }
    };
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Err(e) = pass(&node, &r, &http).await {
            tracing::warn!(error = %e, "replication pass failed; retrying");
        }
    }
}

/// One pass over what the node lacks.
pub async fn pass(node: &Node, r: &Replication, http: &reqwest::Client) -> Result<()> {
    // Damaged blocks first, lowest first: a repair is checked against the block's parent.
    for height in node.damaged_blocks() {
        let path = format!("/v1/replica/blocks/{height}");
        for (name, base) in &r.peers {
            let Some(resp) = get(http, r, base, &path).await else {
                continue;
            };
            let bytes = resp.bytes().await.context("block answer")?;
            match node.accept_replica_block(height, name, &bytes) {
                Ok(()) => break,
                Err(e) => tracing::debug!(peer = %name, height, error = %e, "block not repaired"),
            }
        }
    }
    for need in node.replication_needs().await? {
        let record = need.record.to_string();
        for (name, base) in &r.peers {
            if need.ciphertext {
                let path = format!("/v1/replica/records/{record}/ciphertext");
                let Some(resp) = get(http, r, base, &path).await else {
                    continue;
                };
                let stream = resp.bytes_stream().map_err(std::io::Error::other);
                match node
                    .accept_replica_ciphertext(&need.record, name, stream)
                    .await
                {
                    Ok(()) => {}
                    Err(ReplicaError::Corrupt { .. }) => continue,
                    Err(e) => {
                        tracing::debug!(peer = %name, %record, error = %e, "not replicated");
                        continue;
                    }
                }
            }
            if need.envelopes > 0 {
                let path = format!("/v1/replica/records/{record}/envelopes");
                let Some(resp) = get(http, r, base, &path).await else {
                    continue;
                };
                let v: Value = resp.json().await.context("envelopes answer")?;
                let entries: Vec<EnvelopeUpload> = v["envelopes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| {
                        Some(EnvelopeUpload {
                            recipient: e["recipient"].as_str()?.parse::<EncryptionKey>().ok()?,
                            sealed: B64.decode(e["sealed"].as_str()?).ok()?,
                        })
                    })
                    .collect();
                if node.accept_replica_envelopes(&need.record, &entries)? < need.envelopes {
                    continue;
                }
            }
            break;
        }
    }
    Ok(())
}

/// A GET signed by the validator key; `None` unless it succeeded.
async fn get(
    http: &reqwest::Client,
    r: &Replication,
    base: &str,
    path: &str,
) -> Option<reqwest::Response> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let auth = sign_request(&r.validator, "GET", path, ms, &sha256(b"").to_string());
    let resp = match http
        .get(format!("{base}{path}"))
        .header(AUTH_HEADER, auth)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%base, %path, error = %e, "peer unreachable");
            return None;
        }
    };
    if !resp.status().is_success() {
        tracing::debug!(%base, %path, status = %resp.status(), "peer has no copy");
    }
    resp.status().is_success().then_some(resp)
}
