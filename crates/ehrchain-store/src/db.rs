//! The redb tables and the operations on them.

use std::path::Path;

use ehrchain_consent::{AccessGrant, ReplicaGrant};
use ehrchain_crypto::{EncryptionKey, Hash};
use ehrchain_ledger::StateChanges;
use ehrchain_types::{Block, BlockHeader, Canonical, Genesis, PatientId, RecordId};
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::blocklog::BlockLog;
use crate::error::StoreError;
use crate::snapshot::Snapshot;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// height → offset (8) ‖ length (4) in the block log
const BLOCK_INDEX: TableDefinition<u64, &[u8]> = TableDefinition::new("block_index");
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
/// record id (16) ‖ recipient encryption key (32) → sealed envelope
const ENVELOPES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("envelopes");
/// patient id (16) → persona sealed under the node's persona key
const PERSONAS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("personas");
/// blind index (32) ‖ patient id (16) → ()
const PERSONA_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("persona_index");
/// web login name → account record sealed under the node's local key (see ehrchain-node accounts)
const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");

const GENESIS_KEY: &str = "genesis";
const TIP_KEY: &str = "tip";
const LOG_END_KEY: &str = "block_log_end";

/// The node's database.
pub struct Store {
    db: Database,
    log: BlockLog,
}

/// One stored key envelope: who it is sealed to, and the sealed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeEntry {
    pub recipient: EncryptionKey,
    pub sealed: Vec<u8>,
}

impl Store {
    /// Opens (or creates) the database at `path`, with the block log beside it
    /// (`<path>.blocks`).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_cache_size(256 * 1024 * 1024)
            .create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(META)?;
        txn.open_table(BLOCK_INDEX)?;
        txn.open_table(STATE)?;
        txn.open_table(ENVELOPES)?;
        txn.open_table(PERSONAS)?;
        txn.open_table(PERSONA_INDEX)?;
        txn.open_table(ACCOUNTS)?;
        txn.commit()?;
        let end = {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            let end = meta.get(LOG_END_KEY)?;
            end.map_or(0, |v| u64_at(v.value(), 0))
        };
        let mut log_path = path.as_os_str().to_owned();
        log_path.push(".blocks");
        let log =
            BlockLog::open(Path::new(&log_path), end).map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(Store { db, log })
    }

    /// Writes the genesis and its state on first start; on later starts checks it is the same.
    pub fn init_genesis(
        &self,
        genesis: &Genesis,
        changes: &StateChanges,
    ) -> Result<(), StoreError> {
        if let Some(found) = self.genesis()? {
            if found.chain_id() != genesis.chain_id() {
                return Err(StoreError::GenesisMismatch {
                    expected: genesis.chain_id().to_string(),
                    found: found.chain_id().to_string(),
                });
            }
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(GENESIS_KEY, genesis.to_bytes().as_slice())?;
            let mut state = txn.open_table(STATE)?;
            write_changes(&mut state, changes)?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn genesis(&self) -> Result<Option<Genesis>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(bytes) = meta.get(GENESIS_KEY)? else {
            return Ok(None);
        };
        Genesis::from_bytes(bytes.value())
            .map(Some)
            .map_err(|e| damaged("genesis", e))
    }

    /// The header of the last committed block, or `None` at genesis.
    pub fn tip(&self) -> Result<Option<BlockHeader>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(bytes) = meta.get(TIP_KEY)? else {
            return Ok(None);
        };
        BlockHeader::from_bytes(bytes.value())
            .map(Some)
            .map_err(|e| damaged("tip header", e))
    }

    /// Durably commits a certified block with the state changes it made: the block is appended
    /// to the log and synced, then index, tip and state are committed in one redb transaction.
    /// Two syncs per block, whatever the number of transactions in it.
    pub fn commit_block(&self, block: &Block, changes: &StateChanges) -> Result<(), StoreError> {
        let tip = self.tip()?.map_or(0, |h| h.height.0);
        if block.header.height.0 != tip + 1 {
            return Err(StoreError::OutOfOrder {
                got: block.header.height.0,
                tip,
            });
        }
        let end = self.log_end()?;
        let (offset, len) = self
            .log
            .append(end, &block.to_bytes())
            .map_err(|e| StoreError::Io(e.to_string()))?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        {
            let mut index = txn.open_table(BLOCK_INDEX)?;
            let mut loc = [0u8; 12];
            loc[..8].copy_from_slice(&offset.to_be_bytes());
            loc[8..].copy_from_slice(&len.to_be_bytes());
            index.insert(block.header.height.0, loc.as_slice())?;
            let mut meta = txn.open_table(META)?;
            meta.insert(TIP_KEY, block.header.to_bytes().as_slice())?;
            meta.insert(
                LOG_END_KEY,
                (offset + u64::from(len)).to_be_bytes().as_slice(),
            )?;
            let mut state = txn.open_table(STATE)?;
            write_changes(&mut state, changes)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn log_end(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let end = meta.get(LOG_END_KEY)?;
        Ok(end.map_or(0, |v| u64_at(v.value(), 0)))
    }

    /// Replaces the stored bytes of block `height` with `bytes`, which must be exactly as long
    /// (a repair: the caller has checked they are the committed block's canonical encoding).
    pub fn repair_block(&self, height: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let (offset, len) = self
            .block_location(height)?
            .ok_or_else(|| damaged(&format!("block {height}"), "not in the index"))?;
        if bytes.len() != len as usize {
            return Err(damaged(
                &format!("block {height} repair"),
                "a different length than the stored block",
            ));
        }
        self.log
            .rewrite(offset, bytes)
            .map_err(|e| damaged(&format!("block {height} repair"), e))
    }

    fn block_location(&self, height: u64) -> Result<Option<(u64, u32)>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(BLOCK_INDEX)?;
        let Some(loc) = index.get(height)? else {
            return Ok(None);
        };
        let loc = loc.value();
        if loc.len() != 12 {
            return Err(damaged(
                &format!("block {height} index entry"),
                "wrong length",
            ));
        }
        Ok(Some((
            u64_at(loc, 0),
            u32::from_be_bytes([loc[8], loc[9], loc[10], loc[11]]),
        )))
    }

    /// The raw stored bytes of block `height`.
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((offset, len)) = self.block_location(height)? else {
            return Ok(None);
        };
        self.log
            .read(offset, len)
            .map(Some)
            .map_err(|e| damaged(&format!("block {height}"), e))
    }

    /// Block `height`, decoded. Bytes that no longer decode are reported as damage.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        match self.block_bytes(height)? {
            None => Ok(None),
            Some(bytes) => Block::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| damaged(&format!("block {height}"), e)),
        }
    }

    pub fn block_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(BLOCK_INDEX)?.len()?)
    }

    /// The tip header (`None` at genesis) and a view of state exactly as of it, read in one
    /// transaction so the two agree.
    pub fn snapshot_at_tip(&self) -> Result<(Option<BlockHeader>, Snapshot), StoreError> {
        let txn = self.db.begin_read()?;
        let tip = match txn.open_table(META)?.get(TIP_KEY)? {
            None => None,
            Some(bytes) => {
                // Our own storage: the proposer key was checked when the block arrived.
                Some(
                    BlockHeader::from_trusted_bytes(bytes.value())
                        .map_err(|e| damaged("tip header", e))?,
                )
            }
        };
        Ok((
            tip,
            Snapshot {
                state: txn.open_table(STATE)?,
            },
        ))
    }

    /// A consistent view of committed state.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(Snapshot {
            state: txn.open_table(STATE)?,
        })
    }

    /// Stores an envelope sealing `record`'s data key to `recipient`.
    pub fn put_envelopes(
        &self,
        record: &RecordId,
        envelopes: &[EnvelopeEntry],
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        {
            let mut t = txn.open_table(ENVELOPES)?;
            for e in envelopes {
                t.insert(
                    envelope_key(record, &e.recipient).as_slice(),
                    e.sealed.as_slice(),
                )?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Releases the envelope of the record a consent decision permitted, sealed to `recipient`.
    pub fn release_envelope(
        &self,
        grant: &AccessGrant,
        recipient: &EncryptionKey,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(ENVELOPES)?;
        Ok(t.get(envelope_key(&grant.record(), recipient).as_slice())?
            .map(|v| v.value().to_vec()))
    }

    /// Every envelope of the record a replication decision covers, for another validator to
    /// store (sealed envelopes only: no key leaves).
    pub fn replica_envelopes(
        &self,
        grant: &ReplicaGrant,
    ) -> Result<Vec<EnvelopeEntry>, StoreError> {
        self.envelopes_of(&grant.record())
    }

    /// Which recipients hold an envelope for `record` (metadata only; no envelope leaves).
    pub fn envelope_recipients(&self, record: &RecordId) -> Result<Vec<EncryptionKey>, StoreError> {
        Ok(self
            .envelopes_of(record)?
            .into_iter()
            .map(|e| e.recipient)
            .collect())
    }

    fn envelopes_of(&self, record: &RecordId) -> Result<Vec<EnvelopeEntry>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(ENVELOPES)?;
        let mut out = Vec::new();
        for item in t.range::<&[u8]>(record.as_bytes().as_slice()..)? {
            let (k, v) = item?;
            let k = k.value();
            if !k.starts_with(record.as_bytes()) {
                break;
            }
            let mut key = [0u8; 32];
            key.copy_from_slice(&k[16..48]);
            out.push(EnvelopeEntry {
                recipient: EncryptionKey::from_bytes(&key),
                sealed: v.value().to_vec(),
            });
        }
        Ok(out)
    }

    /// Deletes one recipient's envelope (a revoked grantee); true if it existed.
    pub fn delete_envelope(
        &self,
        record: &RecordId,
        recipient: &EncryptionKey,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let existed = {
            let mut t = txn.open_table(ENVELOPES)?;
            let removed = t.remove(envelope_key(record, recipient).as_slice())?;
            removed.is_some()
        };
        txn.commit()?;
        Ok(existed)
    }

    /// Deletes every envelope of `record` (erasure); returns how many there were.
    pub fn delete_envelopes(&self, record: &RecordId) -> Result<usize, StoreError> {
        let recipients = self.envelope_recipients(record)?;
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(ENVELOPES)?;
            for r in &recipients {
                t.remove(envelope_key(record, r).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(recipients.len())
    }

    /// Stores a patient's sealed persona and its blind indexes.
    pub fn put_persona(
        &self,
        patient: &PatientId,
        sealed: &[u8],
        blind_indexes: &[Hash],
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        {
            let mut p = txn.open_table(PERSONAS)?;
            p.insert(patient.as_bytes().as_slice(), sealed)?;
            let mut idx = txn.open_table(PERSONA_INDEX)?;
            for b in blind_indexes {
                let mut k = b.as_bytes().to_vec();
                k.extend_from_slice(patient.as_bytes());
                idx.insert(k.as_slice(), [].as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    pub fn persona(&self, patient: &PatientId) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let p = txn.open_table(PERSONAS)?;
        Ok(p.get(patient.as_bytes().as_slice())?
            .map(|v| v.value().to_vec()))
    }

    /// Patients whose persona carries this blind index.
    pub fn find_persona(&self, blind_index: &Hash) -> Result<Vec<PatientId>, StoreError> {
        let txn = self.db.begin_read()?;
        let idx = txn.open_table(PERSONA_INDEX)?;
        let mut out = Vec::new();
        for item in idx.range::<&[u8]>(blind_index.as_bytes().as_slice()..)? {
            let (k, _) = item?;
            let k = k.value();
            if !k.starts_with(blind_index.as_bytes()) || out.len() >= 1000 {
                break;
            }
            let mut id = [0u8; 16];
            id.copy_from_slice(&k[32..48]);
            out.push(PatientId::from_bytes(id));
        }
        Ok(out)
    }
}

impl Store {
    /// Stores (or replaces) a sealed web account under its login name.
    pub fn put_account(&self, login: &str, sealed: &[u8]) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(ACCOUNTS)?.insert(login, sealed)?;
        txn.commit()?;
        Ok(())
    }

    /// Removes an account; answers whether there was one.
    pub fn delete_account(&self, login: &str) -> Result<bool, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate);
        let existed = txn.open_table(ACCOUNTS)?.remove(login)?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    pub fn account(&self, login: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(ACCOUNTS)?;
        Ok(t.get(login)?.map(|v| v.value().to_vec()))
    }

    /// Every sealed account, in login order, at most `limit`.
    pub fn accounts(&self, limit: usize) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(ACCOUNTS)?;
        let mut out = Vec::new();
        for item in t.iter()?.take(limit) {
            let (k, v) = item?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }
}

fn envelope_key(record: &RecordId, recipient: &EncryptionKey) -> [u8; 48] {
    let mut k = [0u8; 48];
    k[..16].copy_from_slice(record.as_bytes());
    k[16..].copy_from_slice(recipient.as_bytes());
    k
}

fn write_changes(
    state: &mut redb::Table<&[u8], &[u8]>,
    changes: &StateChanges,
) -> Result<(), StoreError> {
    for (k, v) in changes {
        match v {
            Some(v) => {
                state.insert(k.as_slice(), v.as_slice())?;
            }
            None => {
                state.remove(k.as_slice())?;
            }
        }
    }
    Ok(())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = bytes.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_be_bytes(b)
}

fn damaged(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Damaged {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}
