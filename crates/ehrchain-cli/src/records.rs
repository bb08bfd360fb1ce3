//! Client-side record flows. Put: encrypt the file as it streams (STREAM AES-256-GCM, constant
//! memory), upload the ciphertext while hashing it, check the node's CID, anchor the record, and
//! seal the data key to every recipient the node names. Get: commit an access event, open the
//! envelope with the reader's key, check the CID and decrypt as the ciphertext streams in.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ehrchain_crypto::stream::{ciphertext_len, HEADER_LEN};
use ehrchain_crypto::{
    envelope, Cid, CidHasher, DataKey, Decryptor, EncryptionKey, Encryptor, Envelope, Identity,
};
use ehrchain_types::{
    AnchorRecord, Category, CategoryPattern, Grant, GrantId, Grantee, Mode, PatientId, Purpose,
    RecordId, Scope, Timestamp, TxBody,
};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::{json, Value};

use crate::client::Client;
use crate::txs::sign;

/// What `put` needs to know about the record.
pub struct PutRecord<'a> {
    pub patient: PatientId,
    pub category: Category,
    pub media_type: String,
    pub supersedes: Option<RecordId>,
    pub file: &'a Path,
    pub progress: bool,
}

/// The outcome of a put.
#[derive(Debug, Clone)]
pub struct PutOutcome {
    pub record: RecordId,
    pub cid: Cid,
    pub size: u64,
    pub anchor_tx: String,
    pub recipients: usize,
}

fn progress_bar(enabled: bool, len: u64, what: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

/// Encrypts a plaintext reader into ciphertext on demand, hashing the ciphertext as it goes.
struct EncryptingReader<R: Read> {
    inner: R,
    enc: Option<Encryptor>,
    out: Vec<u8>,
    pos: usize,
    buf: Vec<u8>,
    hasher: std::sync::Arc<std::sync::Mutex<Option<CidHasher>>>,
    progress: ProgressBar,
}

impl<R: Read> Read for EncryptingReader<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            let Some(enc) = self.enc.as_mut() else {
                return Ok(0);
            };
            self.out.clear();
            self.pos = 0;
            let n = self.inner.read(&mut self.buf)?;
            self.progress.inc(n as u64);
            if n == 0 {
                let enc = self.enc.take().expect("checked above");
                enc.finish(&mut self.out).map_err(io::Error::other)?;
            } else {
                enc.update(&self.buf[..n], &mut self.out)
                    .map_err(io::Error::other)?;
            }
            if let Some(h) = self.hasher.lock().expect("hasher").as_mut() {
                h.update(&self.out);
            }
        }
        let n = dst.len().min(self.out.len() - self.pos);
        dst[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Encrypts and stores a file as a new record of `spec.patient`, authored by `author`.
pub fn put(client: &Client, author: &Identity, spec: &PutRecord<'_>) -> Result<PutOutcome> {
    let plain_len = std::fs::metadata(spec.file)
        .with_context(|| format!("reading {}", spec.file.display()))?
        .len();
    let file = File::open(spec.file).with_context(|| format!("opening {}", spec.file.display()))?;
    let recipients = recipients(client, author, &spec.patient, &spec.category)?;
    let source = Source {
        reader: Box::new(BufReader::with_capacity(1 << 20, file)),
        len: plain_len,
        record: None,
    };
    put_from(client, author, spec, source, &recipients)
}

/// Where a record's plaintext comes from, and the record id to use (random if `None`).
pub struct Source {
    pub reader: Box<dyn Read + Send>,
    pub len: u64,
    pub record: Option<RecordId>,
}

impl Source {
    /// A plaintext held in memory (an imported FHIR resource).
    pub fn bytes(data: Vec<u8>, record: Option<RecordId>) -> Source {
        Source {
            len: data.len() as u64,
            reader: Box::new(io::Cursor::new(data)),
            record,
        }
    }
}

/// The keys the node says a new record of `category` for `patient` must be sealed to.
pub fn recipients(
    client: &Client,
    author: &Identity,
    patient: &PatientId,
    category: &Category,
) -> Result<Vec<EncryptionKey>> {
    let recipients: Vec<EncryptionKey> = client.signed_get(
        author.signing(),
        &format!("/v1/patients/{patient}/recipients?category={category}"),
    )?["recipients"]
        .as_array()
        .context("recipients list")?
        .iter()
        .filter_map(|r| r["key"].as_str()?.parse().ok())
        .collect();
    if recipients.is_empty() {
        bail!("the node named no recipients for this record");
    }
    Ok(recipients)
}

/// Encrypts `source` as it streams, uploads it, anchors it (`spec.file` is not read) and seals
/// its key to `recipients`.
pub fn put_from(
    client: &Client,
    author: &Identity,
    spec: &PutRecord<'_>,
    source: Source,
    recipients: &[EncryptionKey],
) -> Result<PutOutcome> {
    let up = upload(client, author, source, spec.progress)?;
    let anchor = sign(author.signing(), TxBody::AnchorRecord(up.anchor(spec)));
    let receipt = client.submit(&anchor)?;
    seal_to(client, author, &up.record, &up.key, recipients)?;
    Ok(PutOutcome {
        record: up.record,
        cid: up.cid,
        size: up.size,
        anchor_tx: receipt["tx"].as_str().unwrap_or_default().to_owned(),
        recipients: recipients.len(),
    })
}

/// A ciphertext stored on the node, not yet anchored.
pub struct Uploaded {
    pub record: RecordId,
    pub key: DataKey,
    pub cid: Cid,
    /// Ciphertext bytes.
    pub size: u64,
}

impl Uploaded {
    /// Its anchor, with what `spec` says about the record.
    pub fn anchor(&self, spec: &PutRecord<'_>) -> AnchorRecord {
        AnchorRecord {
            record: self.record,
            patient: spec.patient,
            category: spec.category.clone(),
            media_type: spec.media_type.clone(),
            size: self.size,
            cid: self.cid,
            supersedes: spec.supersedes,
        }
    }
}

/// Encrypts `source` as it streams and uploads the ciphertext, checking the node's CID.
pub fn upload(
    client: &Client,
    author: &Identity,
    source: Source,
    progress: bool,
) -> Result<Uploaded> {
    let signing = author.signing();
    let plain_len = source.len;
    let key = DataKey::generate(&mut OsRng);
    let record = source.record.unwrap_or_else(|| {
        let mut rid = [0u8; 16];
        OsRng.fill_bytes(&mut rid);
        RecordId::from_bytes(rid)
    });

    let hasher = std::sync::Arc::new(std::sync::Mutex::new(Some(CidHasher::new())));
    let enc = Encryptor::new(&key, &mut OsRng);
    let header = enc.header();
    let pb = progress_bar(progress, plain_len, "encrypting + uploading");
    let mut first = header.to_vec();
    if let Some(h) = hasher.lock().expect("hasher").as_mut() {
        h.update(&first);
    }
    let reader = EncryptingReader {
        inner: source.reader,
        enc: Some(enc),
        out: std::mem::take(&mut first),
        pos: 0,
        buf: vec![0u8; (plain_len as usize).clamp(1 << 12, 1 << 20)],
        hasher: hasher.clone(),
        progress: pb.clone(),
    };
    let ct_len = ciphertext_len(plain_len);
    let stored = client.put_blob(signing, reqwest::blocking::Body::sized(reader, ct_len))?;
    pb.finish_and_clear();
    let local_cid = hasher
        .lock()
        .expect("hasher")
        .take()
        .context("hasher")?
        .finish();
    let node_cid: Cid = stored["cid"].as_str().context("cid")?.parse()?;
    if node_cid != local_cid {
        bail!("the node stored the ciphertext under {node_cid}, but it hashes to {local_cid}");
    }
    Ok(Uploaded {
        record,
        key,
        cid: node_cid,
        size: ct_len,
    })
}

/// Seals `key` to each recipient and uploads the envelopes.
pub fn seal_to(
    client: &Client,
    uploader: &Identity,
    record: &RecordId,
    key: &DataKey,
    recipients: &[EncryptionKey],
) -> Result<()> {
    let mut envelopes = Vec::with_capacity(recipients.len());
    for r in recipients {
        let env = envelope::seal(&mut OsRng, r, record.as_bytes(), key)?;
        envelopes.push(json!({"recipient": r.to_string(), "sealed": B64.encode(env.to_bytes())}));
    }
    client.signed_post(
        uploader.signing(),
        &format!("/v1/records/{record}/envelopes"),
        &json!({ "envelopes": envelopes }),
    )?;
    Ok(())
}

/// What a get returned.
#[derive(Debug, Clone)]
pub struct GetOutcome {
    pub plaintext_len: u64,
    pub access_tx: String,
    pub basis: Value,
    pub category: String,
}

/// Reads and decrypts a record into the file `out`, as `reader` for `purpose`. The file appears
/// only once the ciphertext has matched the record's CID.
pub fn get(
    client: &Client,
    reader: &Identity,
    record: &RecordId,
    purpose: Purpose,
    out: &Path,
    progress: bool,
) -> Result<GetOutcome> {
    let tmp = out.with_extension("partial");
    let mut writer = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    match fetch(client, reader, record, purpose, &mut writer, progress) {
        Ok(got) => {
            writer.flush()?;
            drop(writer);
            std::fs::rename(&tmp, out)?;
            Ok(got)
        }
        Err(e) => {
            drop(writer);
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Reads and decrypts a record into `writer` as the ciphertext streams in. On an error the
/// bytes written so far must be discarded: the CID is checked only at the end.
pub fn fetch(
    client: &Client,
    reader: &Identity,
    record: &RecordId,
    purpose: Purpose,
    writer: &mut dyn Write,
    progress: bool,
) -> Result<GetOutcome> {
    let tx = sign(
        reader.signing(),
        TxBody::Access {
            record: *record,
            purpose,
        },
    );
    let mut resp = client.read(&record.to_string(), &tx, false)?;
    let header = |name: &str| -> Result<String> {
        Ok(resp
            .headers()
            .get(name)
            .with_context(|| format!("missing {name} header"))?
            .to_str()?
            .to_owned())
    };
    let env = Envelope::from_bytes(&B64.decode(header("x-ehr-envelope")?)?)?;
    let key = envelope::open(reader.decryption(), record.as_bytes(), &env)
        .context("the envelope does not open with this key")?;
    let cid: Cid = header("x-ehr-cid")?.parse()?;
    let size: u64 = header("x-ehr-size")?.parse().unwrap_or(0);
    let access_tx = header("x-ehr-access-tx")?;
    let basis: Value = serde_json::from_str(&header("x-ehr-basis")?).unwrap_or(Value::Null);
    let category = header("x-ehr-category")?;
    let pb = progress_bar(progress, size, "downloading + decrypting");

    let mut hasher = CidHasher::new();
    let mut head = [0u8; HEADER_LEN];
    resp.read_exact(&mut head)
        .context("ciphertext shorter than its header")?;
    hasher.update(&head);
    let mut dec = Decryptor::new(&key, &head)?;
    let mut buf = vec![0u8; (size as usize).clamp(1 << 12, 1 << 20)];
    let mut plain = Vec::with_capacity(buf.len() * 2);
    let mut written = 0u64;
    loop {
        let n = resp.read(&mut buf)?;
        if n == 0 {
            break;
        }
        pb.inc(n as u64);
        hasher.update(&buf[..n]);
        plain.clear();
        dec.update(&buf[..n], &mut plain)?;
        writer.write_all(&plain)?;
        written += plain.len() as u64;
    }
    plain.clear();
    dec.finish(&mut plain)?;
    writer.write_all(&plain)?;
    written += plain.len() as u64;
    pb.finish_and_clear();
    if hasher.finish() != cid {
        bail!("the ciphertext received does not match the record's CID {cid}");
    }
    Ok(GetOutcome {
        plaintext_len: written,
        access_tx,
        basis,
        category,
    })
}

/// What a grant covers and for whom.
pub struct GrantSpec {
    pub grantee: Grantee,
    pub categories: Vec<CategoryPattern>,
    pub records: Vec<RecordId>,
    pub mode: Mode,
    pub purpose: Purpose,
    pub not_before: Timestamp,
    pub expires: Timestamp,
}

/// Signs a grant as the patient, then re-seals the data keys of the patient's covered records to
/// the grantee. Returns the grant id and how many records were re-sealed.
pub fn grant(client: &Client, patient: &Identity, spec: GrantSpec) -> Result<(GrantId, usize)> {
    let mut gid = [0u8; 16];
    OsRng.fill_bytes(&mut gid);
    let grant_id = GrantId::from_bytes(gid);
    let tx = sign(
        patient.signing(),
        TxBody::Grant(Grant {
            grant: grant_id,
            grantee: spec.grantee,
            scope: Scope {
                categories: spec.categories.clone(),
                records: spec.records.clone(),
            },
            mode: spec.mode,
            purpose: spec.purpose,
            not_before: spec.not_before,
            expires: spec.expires,
        }),
    );
    client.submit(&tx)?;
    if spec.mode != Mode::Read {
        return Ok((grant_id, 0));
    }
    let grantee_key: EncryptionKey = match spec.grantee {
        Grantee::Agent(a) => client.get(&format!("/v1/agents/{a}"))?["encrypt_key"]
            .as_str()
            .context("agent key")?
            .parse()?,
        Grantee::Organisation(o) | Grantee::Role { org: o, .. } => client
            .get(&format!("/v1/organisations/{o}"))?["encrypt_key"]
            .as_str()
            .context("organisation key")?
            .parse()?,
    };
    let pid = PatientId::of(&patient.public().sign);
    let records = client.signed_get(patient.signing(), &format!("/v1/patients/{pid}/records"))?;
    let mut resealed = 0;
    for r in records["records"].as_array().into_iter().flatten() {
        if !r["erased"].is_null() {
            continue;
        }
        let id: RecordId = r["id"].as_str().context("record id")?.parse()?;
        let category: Category = r["category"].as_str().context("category")?.parse()?;
        let covered =
            spec.records.contains(&id) || spec.categories.iter().any(|c| c.covers(&category));
        if !covered {
            continue;
        }
        let access = sign(
            patient.signing(),
            TxBody::Access {
                record: id,
                purpose: spec.purpose,
            },
        );
        let resp: Value = client.read(&id.to_string(), &access, true)?.json()?;
        let env =
            Envelope::from_bytes(&B64.decode(resp["envelope"].as_str().context("envelope")?)?)?;
        let key = envelope::open(patient.decryption(), id.as_bytes(), &env)?;
        seal_to(client, patient, &id, &key, &[grantee_key])?;
        resealed += 1;
    }
    Ok((grant_id, resealed))
}
