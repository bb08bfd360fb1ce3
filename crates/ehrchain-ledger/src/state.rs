//! Reading the ledger state: the [`StateRead`] trait a store implements, the write [`Overlay`] a
//! block executes against, and typed accessors. The core does no I/O: a store adapter implements
//! `StateRead`, and the changes a block makes come back as a value to be written atomically.

use std::collections::BTreeMap;

use ehrchain_crypto::PublicKey;
use ehrchain_types::{
    AgentId, AgentState, AuditEntry, BreakGlassState, Canonical, GrantId, GrantState, Height,
    OrgId, OrganisationState, PatientId, PatientState, RecordId, RecordState, TxId,
};

use crate::keys;

/// A failure of the underlying store while reading state. Executing a block stops on it: state
/// the node cannot read is state it cannot agree on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state could not be read: {0}")]
pub struct StateError(pub String);

/// Key-value pairs returned by a prefix scan, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Read access to committed state, keyed by the byte keys of [`crate::keys`].
pub trait StateRead {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Every entry whose key starts with `prefix`, in key order, at most `limit` of them.
    fn scan(&self, prefix: &[u8], limit: usize) -> Result<Entries, StateError>;
}

/// What a block changes: key to new value, or `None` for a deletion. Sorted, so hashing it is
/// deterministic.
pub type StateChanges = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// An empty in-memory state, for tests and the simulator.
#[derive(Default, Debug, Clone)]
pub struct MemoryState {
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryState {
    pub fn apply(&mut self, changes: &StateChanges) {
        for (k, v) in changes {
            match v {
                Some(v) => self.entries.insert(k.clone(), v.clone()),
                None => self.entries.remove(k),
            };
        }
    }
}

impl StateRead for MemoryState {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entries.get(key).cloned())
    }
    fn scan(&self, prefix: &[u8], limit: usize) -> Result<Entries, StateError> {
        Ok(self
            .entries
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// Uncommitted writes layered over committed state.
pub struct Overlay<'a, S: StateRead + ?Sized> {
    base: &'a S,
    writes: StateChanges,
}

impl<'a, S: StateRead + ?Sized> Overlay<'a, S> {
    pub fn new(base: &'a S) -> Self {
        Self {
            base,
            writes: BTreeMap::new(),
        }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub fn into_changes(self) -> StateChanges {
        self.writes
    }
}

impl<S: StateRead + ?Sized> StateRead for Overlay<'_, S> {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.read(key),
        }
    }

    fn scan(&self, prefix: &[u8], limit: usize) -> Result<Entries, StateError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan(prefix, limit)?.into_iter().collect();
        for (k, v) in self
            .writes
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().take(limit).collect())
    }
}

/// Bounds on how much one lookup may return; a patient's grants are read on every access.
pub const MAX_GRANTS_PER_PATIENT: usize = 10_000;
pub const MAX_SCAN: usize = 100_000;

/// Typed reads over any [`StateRead`].
pub trait StateView: StateRead {
    fn decode_at<T: Canonical>(&self, key: &[u8]) -> Result<Option<T>, StateError> {
        match self.read(key)? {
            None => Ok(None),
            Some(bytes) => T::from_trusted_bytes(&bytes)
                .map(Some)
                .map_err(|e| StateError(format!("corrupt state value: {e}"))),
        }
    }

    fn is_validator(&self, key: &PublicKey) -> Result<bool, StateError> {
        Ok(self.read(&keys::validator(key))?.is_some())
    }
    fn organisation(&self, id: &OrgId) -> Result<Option<OrganisationState>, StateError> {
        self.decode_at(&keys::organisation(id))
    }
    fn agent(&self, id: &AgentId) -> Result<Option<AgentState>, StateError> {
        self.decode_at(&keys::agent(id))
    }
    fn patient(&self, id: &PatientId) -> Result<Option<PatientState>, StateError> {
        self.decode_at(&keys::patient(id))
    }
    fn record(&self, id: &RecordId) -> Result<Option<RecordState>, StateError> {
        self.decode_at(&keys::record(id))
    }
    fn grant(&self, id: &GrantId) -> Result<Option<GrantState>, StateError> {
        self.decode_at(&keys::grant(id))
    }
    fn break_glass(
        &self,
        agent: &AgentId,
        patient: &PatientId,
    ) -> Result<Option<BreakGlassState>, StateError> {
        self.decode_at(&keys::break_glass(agent, patient))
    }
    /// Where a committed transaction sits: its block height and index in the block.
    fn tx_location(&self, id: &TxId) -> Result<Option<(Height, u32)>, StateError> {
        Ok(self.read(&keys::tx(id))?.and_then(|v| {
            let h: [u8; 8] = v.get(..8)?.try_into().ok()?;
            let i: [u8; 4] = v.get(8..12)?.try_into().ok()?;
            Some((Height(u64::from_be_bytes(h)), u32::from_be_bytes(i)))
        }))
    }
    fn grants_of(&self, patient: &PatientId) -> Result<Vec<GrantState>, StateError> {
        let mut out = Vec::new();
        for (k, _) in self.scan(&keys::patient_grants(patient), MAX_GRANTS_PER_PATIENT)? {
            let id = GrantId::from_bytes(keys::trailing_id(&k));
            if let Some(g) = self.grant(&id)? {
                out.push(g);
            }
        }
        Ok(out)
    }
    fn records_of(&self, patient: &PatientId) -> Result<Vec<RecordState>, StateError> {
        let mut out = Vec::new();
        for (k, _) in self.scan(&keys::patient_records(patient), MAX_SCAN)? {
            let id = RecordId::from_bytes(keys::trailing_id(&k));
            if let Some(r) = self.record(&id)? {
                out.push(r);
            }
        }
        Ok(out)
    }
    fn audit_of(&self, patient: &PatientId) -> Result<Vec<AuditEntry>, StateError> {
        self.scan(&keys::audit_of(patient), MAX_SCAN)?
            .into_iter()
            .map(|(_, v)| {
                AuditEntry::from_trusted_bytes(&v)
                    .map_err(|e| StateError(format!("corrupt audit entry: {e}")))
            })
            .collect()
    }
    /// The validators that signed an erasure receipt for `record`.
    fn erase_receipts(&self, record: &RecordId) -> Result<Vec<PublicKey>, StateError> {
        self.scan(&keys::erase_receipts(record), 1024)?
            .into_iter()
            .map(|(k, _)| {
                let b: [u8; 32] = k[k.len() - 32..].try_into().expect("fixed-width key");
                PublicKey::from_bytes(&b).map_err(|_| StateError("corrupt validator key".into()))
            })
            .collect()
    }
}

impl<T: StateRead + ?Sized> StateView for T {}
