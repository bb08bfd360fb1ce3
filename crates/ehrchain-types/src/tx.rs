//! Transactions: what actors sign and the ledger orders. Each kind is signed under its own
//! namespace, so a signature over one kind can never be replayed as another; the random nonce
//! makes two otherwise equal transactions distinct, and the ledger refuses a transaction id it has
//! already committed (replay).

use ehrchain_crypto::{
    sha256, verify, verify_batch, Cid, EncryptionKey, Hash, PublicKey, Signature, SignedItem,
    SigningKey,
};

use crate::codec::{limits, Canonical, DecodeError, Decoder, Encoder};
use crate::id::{AgentId, GrantId, OrgId, PatientId, RecordId, Timestamp};
use crate::vocab::{checked_text, Category, CategoryPattern, Mode, OrgKind, Purpose, Role};

/// The hash of a transaction's canonical bytes, signature excluded: its identity on the ledger.
pub type TxId = Hash;

/// Registers an organisation. Signed by a validator of the consortium (by governance later).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterOrganisation {
    pub name: String,
    pub kind: OrgKind,
    pub sign_key: PublicKey,
    pub encrypt_key: EncryptionKey,
}

/// Registers a staff member. Signed by the organisation's own key or one of its org admins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterAgent {
    pub org: OrgId,
    pub role: Role,
    pub name: String,
    pub licence: String,
    pub sign_key: PublicKey,
    pub encrypt_key: EncryptionKey,
}

/// Anchors a record's ciphertext on the ledger: metadata and CID only, never content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorRecord {
    pub record: RecordId,
    pub patient: PatientId,
    pub category: Category,
    pub media_type: String,
    /// Ciphertext length in bytes.
    pub size: u64,
    pub cid: Cid,
    /// The earlier version this record corrects; nothing is ever rewritten.
    pub supersedes: Option<RecordId>,
}

/// Who a grant is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grantee {
    Agent(AgentId),
    Organisation(OrgId),
    Role { org: OrgId, role: Role },
}

/// What a grant covers: records whose category matches a pattern, and/or named records.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scope {
    pub categories: Vec<CategoryPattern>,
    pub records: Vec<RecordId>,
}

/// A patient's consent: who may do what with which records, for what purpose, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub grant: GrantId,
    pub grantee: Grantee,
    pub scope: Scope,
    pub mode: Mode,
    pub purpose: Purpose,
    pub not_before: Timestamp,
    pub expires: Timestamp,
}

/// An emergency declaration: an agent opens a patient's records for a limited time, loudly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakGlass {
    pub patient: PatientId,
    pub reason: String,
    pub duration_secs: u32,
}

/// The longest break-glass an agent may declare: 24 hours.
pub const MAX_BREAK_GLASS_SECS: u32 = 24 * 3600;

/// A request for population counts (patients with a condition, in total or per cell), to be
/// released with differential privacy. The cells are named here, by the requester, never by the
/// data: a cell that appeared because somebody has a rare code would disclose it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregateQuery {
    /// `research` or `public-health`: only patients who granted this purpose are counted.
    pub purpose: Purpose,
    /// A SNOMED CT code: count only patients with this condition.
    pub condition: Option<String>,
    pub group_by: GroupBy,
    /// The privacy loss this release spends, in thousandths of epsilon.
    pub epsilon_milli: u32,
}

/// How a population count is broken down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// One cell: every counted patient.
    Total,
    /// Fixed age bands (0-17, 18-44, 45-64, 65+, unknown) at the release's block time.
    AgeBand,
    /// The listed regions (state or province), matched without regard to case.
    Region(Vec<String>),
    /// The listed SNOMED CT codes; a patient counts once in each listed code they have.
    Condition(Vec<String>),
}

/// The most epsilon one release may spend, in thousandths: 1.0.
pub const MAX_RELEASE_EPSILON_MILLI: u32 = 1_000;

/// Each requester's lifetime privacy budget, in thousandths of epsilon: 5.0. The ledger refuses
/// a release that would exceed it. (A consortium policy; governance could make it a parameter.)
pub const PRIVACY_BUDGET_MILLI: u64 = 5_000;

/// The most cells a population count may name.
pub const MAX_AGGREGATE_CELLS: usize = 64;

/// The body of a transaction, one variant per kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxBody {
    RegisterOrganisation(RegisterOrganisation),
    RegisterAgent(RegisterAgent),
    RevokeAgent {
        agent: AgentId,
    },
    /// The signer is the patient; its pseudonym is derived from the signing key.
    RegisterPatient {
        encrypt_key: EncryptionKey,
    },
    AnchorRecord(AnchorRecord),
    /// Several anchors in one transaction, all or none: a device's batch of readings.
    AnchorBatch {
        anchors: Vec<AnchorRecord>,
    },
    Grant(Grant),
    Revoke {
        grant: GrantId,
    },
    BreakGlass(BreakGlass),
    /// A read of a record, signed by the reader: committed (permitted or denied) before any
    /// ciphertext or envelope is released.
    Access {
        record: RecordId,
        purpose: Purpose,
    },
    /// The patient asks every node to erase a record's ciphertext and envelopes.
    EraseRequest {
        record: RecordId,
    },
    /// A validator attests that it erased a record's ciphertext, envelopes and caches.
    EraseReceipt {
        record: RecordId,
    },
    /// A public-health officer or researcher releases population counts: committed, and charged
    /// to the requester's privacy budget, before any count is computed.
    ReleaseAggregate(AggregateQuery),
}

/// Transaction kinds, for namespaces, metrics and display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxKind {
    RegisterOrganisation,
    RegisterAgent,
    RevokeAgent,
    RegisterPatient,
    AnchorRecord,
    Grant,
    Revoke,
    BreakGlass,
    Access,
    EraseRequest,
    EraseReceipt,
    AnchorBatch,
    ReleaseAggregate,
}

impl TxKind {
    /// The signing namespace of this kind.
    pub fn namespace(self) -> &'static [u8] {
        match self {
            TxKind::RegisterOrganisation => b"ehrchain/tx/register-organisation",
            TxKind::RegisterAgent => b"ehrchain/tx/register-agent",
            TxKind::RevokeAgent => b"ehrchain/tx/revoke-agent",
            TxKind::RegisterPatient => b"ehrchain/tx/register-patient",
            TxKind::AnchorRecord => b"ehrchain/tx/anchor-record",
            TxKind::Grant => b"ehrchain/tx/grant",
            TxKind::Revoke => b"ehrchain/tx/revoke",
            TxKind::BreakGlass => b"ehrchain/tx/break-glass",
            TxKind::Access => b"ehrchain/tx/access",
            TxKind::EraseRequest => b"ehrchain/tx/erase-request",
            TxKind::EraseReceipt => b"ehrchain/tx/erase-receipt",
            TxKind::AnchorBatch => b"ehrchain/tx/anchor-batch",
            TxKind::ReleaseAggregate => b"ehrchain/tx/release-aggregate",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::RegisterOrganisation => "register-organisation",
            TxKind::RegisterAgent => "register-agent",
            TxKind::RevokeAgent => "revoke-agent",
            TxKind::RegisterPatient => "register-patient",
            TxKind::AnchorRecord => "anchor-record",
            TxKind::Grant => "grant",
            TxKind::Revoke => "revoke",
            TxKind::BreakGlass => "break-glass",
            TxKind::Access => "access",
            TxKind::EraseRequest => "erase-request",
            TxKind::EraseReceipt => "erase-receipt",
            TxKind::AnchorBatch => "anchor-batch",
            TxKind::ReleaseAggregate => "release-aggregate",
        }
    }
}

impl TxBody {
    pub fn kind(&self) -> TxKind {
        match self {
            TxBody::RegisterOrganisation(_) => TxKind::RegisterOrganisation,
            TxBody::RegisterAgent(_) => TxKind::RegisterAgent,
            TxBody::RevokeAgent { .. } => TxKind::RevokeAgent,
            TxBody::RegisterPatient { .. } => TxKind::RegisterPatient,
            TxBody::AnchorRecord(_) => TxKind::AnchorRecord,
            TxBody::Grant(_) => TxKind::Grant,
            TxBody::Revoke { .. } => TxKind::Revoke,
            TxBody::BreakGlass(_) => TxKind::BreakGlass,
            TxBody::Access { .. } => TxKind::Access,
            TxBody::EraseRequest { .. } => TxKind::EraseRequest,
            TxBody::EraseReceipt { .. } => TxKind::EraseReceipt,
            TxBody::AnchorBatch { .. } => TxKind::AnchorBatch,
            TxBody::ReleaseAggregate(_) => TxKind::ReleaseAggregate,
        }
    }
}

/// An unsigned transaction: who signs it, a random nonce, and what it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    pub signer: PublicKey,
    pub nonce: u64,
    pub body: TxBody,
}

impl Tx {
    pub fn id(&self) -> TxId {
        sha256(&self.to_bytes())
    }

    pub fn sign(self, key: &SigningKey) -> SignedTx {
        debug_assert_eq!(
            key.public(),
            self.signer,
            "signing with another actor's key"
        );
        let bytes = self.to_bytes();
        let signature = key.sign(self.body.kind().namespace(), &bytes);
        SignedTx {
            tx: self,
            signature,
        }
    }
}

/// A transaction with its signature, as submitted and as stored in blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    pub tx: Tx,
    pub signature: Signature,
}

/// Why a signed transaction was refused before it reached the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("malformed transaction: {0}")]
    Malformed(#[from] DecodeError),
    #[error("transaction is larger than {} bytes", limits::MAX_TX_BYTES)]
    TooLarge,
    #[error("signature does not verify for the signer and transaction kind")]
    BadSignature,
}

/// A transaction whose signature has been checked. Only [`SignedTx::verify`] and
/// [`verify_all`] make one, and the ledger applies nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTx {
    signed: SignedTx,
    id: TxId,
    bytes: Vec<u8>,
}

impl VerifiedTx {
    pub fn tx(&self) -> &Tx {
        &self.signed.tx
    }

    pub fn signed(&self) -> &SignedTx {
        &self.signed
    }

    pub fn id(&self) -> TxId {
        self.id
    }

    /// The canonical bytes of the signed transaction (as stored in blocks and hashed into the
    /// block's Merkle root).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl SignedTx {
    /// Decodes a submitted transaction, refusing anything over the size limit.
    pub fn decode_submitted(bytes: &[u8]) -> Result<SignedTx, TxError> {
        if bytes.len() > limits::MAX_TX_BYTES {
            return Err(TxError::TooLarge);
        }
        Ok(SignedTx::from_bytes(bytes)?)
    }

    pub fn verify(self) -> Result<VerifiedTx, TxError> {
        let tx_bytes = self.tx.to_bytes();
        verify(
            &self.tx.signer,
            self.tx.body.kind().namespace(),
            &tx_bytes,
            &self.signature,
        )
        .map_err(|_| TxError::BadSignature)?;
        Ok(seal_verified(self, &tx_bytes))
    }
}

/// Verifies many transactions with one batched signature check; each result says whether that
/// transaction's signature holds.
pub fn verify_all(txs: Vec<SignedTx>) -> Vec<Result<VerifiedTx, TxError>> {
    let bodies: Vec<Vec<u8>> = txs.iter().map(|s| s.tx.to_bytes()).collect();
    let items: Vec<SignedItem<'_>> = txs
        .iter()
        .zip(&bodies)
        .map(|(s, b)| SignedItem {
            key: &s.tx.signer,
            namespace: s.tx.body.kind().namespace(),
            message: b,
            signature: &s.signature,
        })
        .collect();
    let ok = verify_batch(&items);
    drop(items);
    txs.into_iter()
        .zip(bodies)
        .zip(ok)
        .map(|((signed, body), ok)| {
            if ok {
                Ok(seal_verified(signed, &body))
            } else {
                Err(TxError::BadSignature)
            }
        })
        .collect()
}

fn seal_verified(signed: SignedTx, tx_bytes: &[u8]) -> VerifiedTx {
    let id = sha256(tx_bytes);
    let mut bytes = Vec::with_capacity(tx_bytes.len() + 64);
    bytes.extend_from_slice(tx_bytes);
    bytes.extend_from_slice(signed.signature.as_bytes());
    VerifiedTx { signed, id, bytes }
}

impl Canonical for Grantee {
    fn encode(&self, enc: &mut Encoder) {
        match self {
            Grantee::Agent(a) => {
                enc.u8(1);
                enc.value(a);
            }
            Grantee::Organisation(o) => {
                enc.u8(2);
                enc.value(o);
            }
            Grantee::Role { org, role } => {
                enc.u8(3);
                enc.value(org);
                enc.value(role);
            }
        }
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        match dec.u8("grantee")? {
            1 => Ok(Grantee::Agent(dec.value()?)),
            2 => Ok(Grantee::Organisation(dec.value()?)),
            3 => Ok(Grantee::Role {
                org: dec.value()?,
                role: dec.value()?,
            }),
            tag => Err(DecodeError::UnknownTag {
                field: "grantee",
                tag,
            }),
        }
    }
}

impl Canonical for Scope {
    fn encode(&self, enc: &mut Encoder) {
        enc.seq(&self.categories, |e, c| e.value(c));
        enc.seq(&self.records, |e, r| e.value(r));
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let categories = dec.seq(limits::MAX_SCOPE, "scope categories", |d| d.value())?;
        let records = dec.seq(limits::MAX_SCOPE, "scope records", |d| d.value())?;
        if categories.len() + records.len() > limits::MAX_SCOPE {
            return Err(DecodeError::TooLong("scope"));
        }
        Ok(Scope {
            categories,
            records,
        })
    }
}

impl Canonical for AnchorRecord {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.record);
        enc.value(&self.patient);
        enc.value(&self.category);
        enc.str(&self.media_type);
        enc.u64(self.size);
        enc.value(&self.cid);
        enc.option(&self.supersedes, |e, r| e.value(r));
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(AnchorRecord {
            record: dec.value()?,
            patient: dec.value()?,
            category: dec.value()?,
            media_type: checked_text(dec, limits::MAX_NAME, "media type")?,
            size: dec.u64("size")?,
            cid: dec.value()?,
            supersedes: dec.option("supersedes", |d| d.value())?,
        })
    }
}

impl Canonical for Grant {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.grant);
        enc.value(&self.grantee);
        enc.value(&self.scope);
        enc.value(&self.mode);
        enc.value(&self.purpose);
        enc.value(&self.not_before);
        enc.value(&self.expires);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Grant {
            grant: dec.value()?,
            grantee: dec.value()?,
            scope: dec.value()?,
            mode: dec.value()?,
            purpose: dec.value()?,
            not_before: dec.value()?,
            expires: dec.value()?,
        })
    }
}

impl Canonical for Tx {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.signer);
        enc.u64(self.nonce);
        match &self.body {
            TxBody::RegisterOrganisation(b) => {
                enc.u8(1);
                enc.str(&b.name);
                enc.value(&b.kind);
                enc.value(&b.sign_key);
                enc.value(&b.encrypt_key);
            }
            TxBody::RegisterAgent(b) => {
                enc.u8(2);
                enc.value(&b.org);
                enc.value(&b.role);
                enc.str(&b.name);
                enc.str(&b.licence);
                enc.value(&b.sign_key);
                enc.value(&b.encrypt_key);
            }
            TxBody::RevokeAgent { agent } => {
                enc.u8(3);
                enc.value(agent);
            }
            TxBody::RegisterPatient { encrypt_key } => {
                enc.u8(4);
                enc.value(encrypt_key);
            }
            TxBody::AnchorRecord(b) => {
                enc.u8(5);
                enc.value(b);
            }
            TxBody::Grant(g) => {
                enc.u8(6);
                enc.value(g);
            }
            TxBody::Revoke { grant } => {
                enc.u8(7);
                enc.value(grant);
            }
            TxBody::BreakGlass(b) => {
                enc.u8(8);
                enc.value(&b.patient);
                enc.str(&b.reason);
                enc.u32(b.duration_secs);
            }
            TxBody::Access { record, purpose } => {
                enc.u8(9);
                enc.value(record);
                enc.value(purpose);
            }
            TxBody::EraseRequest { record } => {
                enc.u8(10);
                enc.value(record);
            }
            TxBody::EraseReceipt { record } => {
                enc.u8(11);
                enc.value(record);
            }
            TxBody::AnchorBatch { anchors } => {
                enc.u8(12);
                enc.seq(anchors, |e, a| e.value(a));
            }
            TxBody::ReleaseAggregate(q) => {
                enc.u8(13);
                enc.value(q);
            }
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let signer = dec.value()?;
        let nonce = dec.u64("nonce")?;
        let body = match dec.u8("transaction kind")? {
            1 => TxBody::RegisterOrganisation(RegisterOrganisation {
                name: checked_text(dec, limits::MAX_NAME, "organisation name")?,
                kind: dec.value()?,
                sign_key: dec.value()?,
                encrypt_key: dec.value()?,
            }),
            2 => TxBody::RegisterAgent(RegisterAgent {
                org: dec.value()?,
                role: dec.value()?,
                name: checked_text(dec, limits::MAX_NAME, "agent name")?,
                licence: checked_text(dec, limits::MAX_NAME, "licence")?,
                sign_key: dec.value()?,
                encrypt_key: dec.value()?,
            }),
            3 => TxBody::RevokeAgent {
                agent: dec.value()?,
            },
            4 => TxBody::RegisterPatient {
                encrypt_key: dec.value()?,
            },
            5 => TxBody::AnchorRecord(dec.value()?),
            6 => TxBody::Grant(dec.value()?),
            7 => TxBody::Revoke {
                grant: dec.value()?,
            },
            8 => TxBody::BreakGlass(BreakGlass {
                patient: dec.value()?,
                reason: checked_text(dec, limits::MAX_TEXT, "break-glass reason")?,
                duration_secs: dec.u32("duration")?,
            }),
            9 => TxBody::Access {
                record: dec.value()?,
                purpose: dec.value()?,
            },
            10 => TxBody::EraseRequest {
                record: dec.value()?,
            },
            11 => TxBody::EraseReceipt {
                record: dec.value()?,
            },
            12 => {
                let anchors = dec.seq(limits::MAX_BATCH_ANCHORS, "anchors", |d| d.value())?;
                if anchors.is_empty() {
                    return Err(DecodeError::Invalid("an empty anchor batch"));
                }
                TxBody::AnchorBatch { anchors }
            }
            13 => TxBody::ReleaseAggregate(dec.value()?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "transaction kind",
                    tag,
                })
            }
        };
        Ok(Tx {
            signer,
            nonce,
            body,
        })
    }
}

impl Canonical for AggregateQuery {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.purpose);
        enc.option(&self.condition, |e, c| e.str(c));
        match &self.group_by {
            GroupBy::Total => enc.u8(1),
            GroupBy::AgeBand => enc.u8(2),
            GroupBy::Region(regions) => {
                enc.u8(3);
                enc.seq(regions, |e, r| e.str(r));
            }
            GroupBy::Condition(codes) => {
                enc.u8(4);
                enc.seq(codes, |e, c| e.str(c));
            }
        }
        enc.u32(self.epsilon_milli);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let purpose = dec.value()?;
        let condition = dec.option("condition", snomed_code)?;
        let group_by = match dec.u8("group by")? {
            1 => GroupBy::Total,
            2 => GroupBy::AgeBand,
            3 => GroupBy::Region(cells(dec, "regions", |d| {
                let region = checked_text(d, limits::MAX_NAME, "region")?;
                if region.trim().is_empty() || region.trim() != region {
                    return Err(DecodeError::Invalid(
                        "a region is a trimmed, non-empty name",
                    ));
                }
                Ok(region)
            })?),
            4 => GroupBy::Condition(cells(dec, "condition codes", snomed_code)?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "group by",
                    tag,
                })
            }
        };
        Ok(AggregateQuery {
            purpose,
            condition,
            group_by,
            epsilon_milli: dec.u32("epsilon")?,
        })
    }
}

/// A non-empty list of at most [`MAX_AGGREGATE_CELLS`] distinct cell names.
fn cells(
    dec: &mut Decoder<'_>,
    field: &'static str,
    item: impl FnMut(&mut Decoder<'_>) -> Result<String, DecodeError>,
) -> Result<Vec<String>, DecodeError> {
    let list = dec.seq(MAX_AGGREGATE_CELLS, field, item)?;
    if list.is_empty() {
        return Err(DecodeError::Invalid("a breakdown with no cells"));
    }
    let distinct: std::collections::BTreeSet<String> =
        list.iter().map(|c| c.to_lowercase()).collect();
    if distinct.len() != list.len() {
        return Err(DecodeError::Invalid("a breakdown naming a cell twice"));
    }
    Ok(list)
}

/// A SNOMED CT concept id: 6 to 18 digits, no leading zero.
fn snomed_code(dec: &mut Decoder<'_>) -> Result<String, DecodeError> {
    let code = dec.str(18, "SNOMED CT code")?;
    if code.len() < 6 || code.starts_with('0') || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::Invalid("a SNOMED CT code is 6 to 18 digits"));
    }
    Ok(code.to_owned())
}

impl Canonical for SignedTx {
    fn encode(&self, enc: &mut Encoder) {
        enc.value(&self.tx);
        enc.value(&self.signature);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(SignedTx {
            tx: dec.value()?,
            signature: dec.value()?,
        })
    }
}
