//! The layout of the ledger state as ordered keys. One prefix byte per table; every multi-part key
//! is fixed-width so prefix scans are exact.

use ehrchain_crypto::PublicKey;
use ehrchain_types::{AgentId, GrantId, Height, OrgId, PatientId, RecordId, TxId};

pub const VALIDATOR: u8 = b'V';
pub const ORGANISATION: u8 = b'O';
pub const AGENT: u8 = b'A';
pub const PATIENT: u8 = b'P';
pub const RECORD: u8 = b'R';
pub const PATIENT_RECORD: u8 = b'r';
pub const GRANT: u8 = b'G';
pub const PATIENT_GRANT: u8 = b'g';
pub const BREAK_GLASS: u8 = b'B';
pub const TX: u8 = b'T';
pub const AUDIT: u8 = b'L';
pub const ERASE_RECEIPT: u8 = b'E';
pub const PRIVACY_SPENT: u8 = b'S';
pub const RELEASE_COHORT: u8 = b'Q';

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

pub fn validator(key_: &PublicKey) -> Vec<u8> {
    key(VALIDATOR, &[key_.as_bytes()])
}
pub fn organisation(id: &OrgId) -> Vec<u8> {
    key(ORGANISATION, &[id.as_bytes()])
}
pub fn agent(id: &AgentId) -> Vec<u8> {
    key(AGENT, &[id.as_bytes()])
}
pub fn patient(id: &PatientId) -> Vec<u8> {
    key(PATIENT, &[id.as_bytes()])
}
pub fn record(id: &RecordId) -> Vec<u8> {
    key(RECORD, &[id.as_bytes()])
}
pub fn patient_record(p: &PatientId, r: &RecordId) -> Vec<u8> {
    key(PATIENT_RECORD, &[p.as_bytes(), r.as_bytes()])
}
pub fn patient_records(p: &PatientId) -> Vec<u8> {
    key(PATIENT_RECORD, &[p.as_bytes()])
}
pub fn grant(id: &GrantId) -> Vec<u8> {
    key(GRANT, &[id.as_bytes()])
}
pub fn patient_grant(p: &PatientId, g: &GrantId) -> Vec<u8> {
    key(PATIENT_GRANT, &[p.as_bytes(), g.as_bytes()])
}
pub fn patient_grants(p: &PatientId) -> Vec<u8> {
    key(PATIENT_GRANT, &[p.as_bytes()])
}
pub fn break_glass(a: &AgentId, p: &PatientId) -> Vec<u8> {
    key(BREAK_GLASS, &[a.as_bytes(), p.as_bytes()])
}
pub fn tx(id: &TxId) -> Vec<u8> {
    key(TX, &[id.as_bytes()])
}
pub fn audit(p: &PatientId, height: Height, index: u32) -> Vec<u8> {
    key(
        AUDIT,
        &[p.as_bytes(), &height.0.to_be_bytes(), &index.to_be_bytes()],
    )
}
/// The audit entry of the `item`-th anchor of a batch transaction (sorts after the
/// transaction's own entry key, within the patient's scan).
pub fn audit_item(p: &PatientId, height: Height, index: u32, item: u32) -> Vec<u8> {
    key(
        AUDIT,
        &[
            p.as_bytes(),
            &height.0.to_be_bytes(),
            &index.to_be_bytes(),
            &item.to_be_bytes(),
        ],
    )
}
pub fn audit_of(p: &PatientId) -> Vec<u8> {
    key(AUDIT, &[p.as_bytes()])
}
pub fn erase_receipt(r: &RecordId, validator: &PublicKey) -> Vec<u8> {
    key(ERASE_RECEIPT, &[r.as_bytes(), validator.as_bytes()])
}
pub fn erase_receipts(r: &RecordId) -> Vec<u8> {
    key(ERASE_RECEIPT, &[r.as_bytes()])
}

/// The privacy budget an agent has spent on population counts.
pub fn privacy_spent(a: &AgentId) -> Vec<u8> {
    key(PRIVACY_SPENT, &[a.as_bytes()])
}

/// The patients a release of population counts may count, as the ledger fixed them.
pub fn release_cohort(tx: &TxId) -> Vec<u8> {
    key(RELEASE_COHORT, &[tx.as_bytes()])
}

/// The last 16 bytes of an index key: the id it points at.
pub fn trailing_id(k: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&k[k.len() - 16..]);
    out
}
