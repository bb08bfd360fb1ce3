//! The device feed: a registered device (an agent with the `device` role, bound to a patient by
//! the patient's append grant) pushes vital-sign Observations. Each is encrypted and uploaded as
//! its own record; the anchors go to the ledger in batches, one `AnchorBatch` transaction per
//! batch of at most `MAX_BATCH_ANCHORS`, all or none; then each record's key is sealed to the
//! recipients the node names.

use anyhow::{bail, Context, Result};
use ehrchain_crypto::Identity;
use ehrchain_fhir::FHIR_JSON;
use ehrchain_types::limits::MAX_BATCH_ANCHORS;
use ehrchain_types::{Category, PatientId, TxBody};
use serde_json::Value;

use crate::client::Client;
use crate::records::{self, PutRecord, Source};
use crate::txs::sign;

/// What a push did.
#[derive(Debug, Default)]
pub struct PushReport {
    pub records: usize,
    /// The anchor transaction of each batch.
    pub batch_txs: Vec<String>,
}

/// The Observations in `input`: a Bundle's entries, a JSON array, or one Observation.
pub fn observations(input: &Value) -> Vec<Value> {
    match input {
        Value::Array(a) => a.clone(),
        v if v["resourceType"] == "Bundle" => v["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("resource").cloned())
            .collect(),
        v => vec![v.clone()],
    }
}

/// Pushes `obs` for `patient` as `device`, in batches of at most `batch` (≤ 64).
pub fn push(
    client: &Client,
    device: &Identity,
    patient: &PatientId,
    obs: &[Value],
    batch: usize,
) -> Result<PushReport> {
    let batch = batch.clamp(1, MAX_BATCH_ANCHORS);
    let mut planned = Vec::with_capacity(obs.len());
    for (i, o) in obs.iter().enumerate() {
        ehrchain_fhir::import::check(o).map_err(|m| anyhow::anyhow!("reading {i}: {m}"))?;
        if o["resourceType"] != "Observation" {
            bail!("reading {i} is a {}, not an Observation", o["resourceType"]);
        }
        let category =
            ehrchain_fhir::category_of(o).with_context(|| format!("reading {i}: category"))?;
        let record = o["id"]
            .as_str()
            .map(|id| ehrchain_fhir::import::record_id(patient, &format!("Observation/{id}")));
        planned.push((category, serde_json::to_vec(o)?, record));
    }
    let mut report = PushReport::default();
    let mut recipients: Vec<(Category, Vec<ehrchain_crypto::EncryptionKey>)> = Vec::new();
    for chunk in planned.chunks(batch) {
        let mut uploaded = Vec::with_capacity(chunk.len());
        let mut anchors = Vec::with_capacity(chunk.len());
        for (category, bytes, record) in chunk {
            let spec = PutRecord {
                patient: *patient,
                category: category.clone(),
                media_type: FHIR_JSON.into(),
                supersedes: None,
                file: std::path::Path::new(""),
                progress: false,
            };
            let up = records::upload(client, device, Source::bytes(bytes.clone(), *record), false)?;
            anchors.push(up.anchor(&spec));
            uploaded.push((category.clone(), up));
        }
        let receipt = client.submit(&sign(device.signing(), TxBody::AnchorBatch { anchors }))?;
        report
            .batch_txs
            .push(receipt["tx"].as_str().unwrap_or_default().to_owned());
        for (category, up) in uploaded {
            let keys = match recipients.iter().find(|(c, _)| *c == category) {
                Some((_, k)) => k.clone(),
                None => {
                    let k = records::recipients(client, device, patient, &category)?;
                    recipients.push((category.clone(), k.clone()));
                    k
                }
            };
            records::seal_to(client, device, &up.record, &up.key, &keys)?;
            report.records += 1;
        }
    }
    Ok(report)
}
