//! A consistent read view of committed ledger state, for executing the next block and for queries.

use ehrchain_ledger::{Entries, StateError, StateRead};

/// Committed state as of one moment; later commits do not show through.
pub struct Snapshot {
    pub(crate) state: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl StateRead for Snapshot {
    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.state
            .get(key)
            .map(|v| v.map(|g| g.value().to_vec()))
            .map_err(|e| StateError(e.to_string()))
    }

    fn scan(&self, prefix: &[u8], limit: usize) -> Result<Entries, StateError> {
        let mut out = Vec::new();
        let range = self
            .state
            .range::<&[u8]>(prefix..)
            .map_err(|e| StateError(e.to_string()))?;
        for item in range {
            let (k, v) = item.map_err(|e| StateError(e.to_string()))?;
            if !k.value().starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }
}
