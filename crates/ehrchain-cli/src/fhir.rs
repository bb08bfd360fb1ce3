//! Client-side FHIR flows. Import: plan with `ehrchain-fhir` (de-identify, name records), store
//! the identifying fragment in the node's persona store, then encrypt and upload each record not
//! yet anchored, anchor them 64 to a transaction (`AnchorBatch`), and seal their keys. Export: read the patient's FHIR records (each read an access event
//! on the ledger), decrypt and restore them on this side, and add the ledger's grants, access
//! events and anchors as Consent, AuditEvent and Provenance.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use ehrchain_crypto::{EncryptionKey, Identity};
use ehrchain_fhir::ledger::{self, AccessView, AnchorView, GrantView};
use ehrchain_fhir::{Identifying, Plan, Problem, FHIR_JSON};
use ehrchain_types::{Category, PatientId, Purpose, RecordId};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::client::{code_of, Client};
use crate::records::{self, PutRecord, Source};
use crate::txs::sign;
use ehrchain_types::limits::MAX_BATCH_ANCHORS;
use ehrchain_types::TxBody;

/// Parallel uploads and key sealing.
const WORKERS: usize = 4;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub resources: usize,
    pub imported: usize,
    pub already: usize,
    pub problems: Vec<(String, Problem)>,
    pub persona_stored: bool,
}

/// The persona fragment earlier imports stored, if any.
pub fn prior_identifying(
    client: &Client,
    who: &Identity,
    patient: &PatientId,
) -> Result<Option<Identifying>> {
    match client.signed_get(who.signing(), &format!("/v1/personas/{patient}")) {
        Ok(v) => Ok(v["persona"]["fhir"]
            .as_str()
            .map(serde_json::from_str)
            .transpose()
            .context("the stored FHIR persona fragment is not valid")?),
        Err(e) if code_of(&e) == Some("not_found") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Imports FHIR JSON files (resources or Bundles) for `patient`, as `who`: an agent of the
/// node's organisation (the front desk) with an append grant, since only an agent may store
/// identifying data in the persona store.
pub fn import(
    client: &Client,
    who: &Identity,
    patient: &PatientId,
    files: &[PathBuf],
    progress: bool,
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut ident = prior_identifying(client, who, patient)?;
    let mut plans: Vec<(String, Plan)> = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let input: Value = match std::fs::read(f)
            .with_context(|| format!("reading {name}"))
            .and_then(|b| serde_json::from_slice(&b).with_context(|| format!("parsing {name}")))
        {
            Ok(v) => v,
            Err(e) => {
                report.problems.push((
                    name,
                    Problem {
                        position: "$".into(),
                        message: format!("{e:#}"),
                    },
                ));
                continue;
            }
        };
        let p = ehrchain_fhir::plan(&input, patient, ident.as_ref());
        ident = Some(p.identifying.clone());
        plans.push((name, p));
    }
    let ident = ident.unwrap_or_default();
    // Identifying data first: a record is never stored without what restores it.
    let fields = ident.persona();
    let persona = json!({"patient": patient.to_string(), "persona": {
        "name": fields.name, "birth_date": fields.birth_date, "national_id": fields.national_id,
        "phone": fields.phone, "address": fields.address,
        "fhir": serde_json::to_string(&ident)?,
    }});
    client
        .signed_post(who.signing(), "/v1/personas", &persona)
        .context("storing the identifying data in the persona store (needs an agent's key)")?;
    report.persona_stored = true;

    let existing: HashSet<RecordId> = client
        .signed_get(who.signing(), &format!("/v1/patients/{patient}/records"))?["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str()?.parse().ok())
        .collect();
    let mut todo = Vec::new();
    for (name, p) in plans {
        report.resources += p.records.len();
        report
            .problems
            .extend(p.problems.into_iter().map(|x| (name.clone(), x)));
        for r in p.records {
            if existing.contains(&r.id) {
                report.already += 1;
            } else {
                todo.push((name.clone(), r));
            }
        }
    }
    let pb = bar(progress, todo.len() as u64, "importing");
    let keys: Mutex<HashMap<Category, Vec<EncryptionKey>>> = Mutex::new(HashMap::new());
    let problem = |name: &str, r: &ehrchain_fhir::PlannedRecord, e: anyhow::Error| {
        (
            name.to_owned(),
            Problem {
                position: r.position.clone(),
                message: format!("not stored: {e:#}"),
            },
        )
    };
    // Anchors go to the ledger in batches (one transaction for up to 64 records); uploads and
    // key sealing run on parallel workers.
    for chunk in todo.chunks(MAX_BATCH_ANCHORS) {
        let uploads = parallel(chunk, |(_, r)| {
            records::upload(
                client,
                who,
                Source::bytes(r.plaintext.clone(), Some(r.id)),
                false,
            )
        });
        let mut stored = Vec::with_capacity(chunk.len());
        for ((name, r), up) in chunk.iter().zip(uploads) {
            match up {
                Ok(up) => stored.push((name, r, up)),
                Err(e) => {
                    report.problems.push(problem(name, r, e));
                    pb.inc(1);
                }
            }
        }
        if stored.is_empty() {
            continue;
        }
        let anchors = stored
            .iter()
            .map(|(_, r, up)| up.anchor(&spec_of(patient, r)))
            .collect();
        let batch = client.submit(&sign(who.signing(), TxBody::AnchorBatch { anchors }));
        let anchored: Vec<Result<bool>> = match batch {
            Ok(_) => stored.iter().map(|_| Ok(true)).collect(),
            // All or none: find out one by one which were refused, keep the others.
            Err(_) => parallel(&stored, |(_, r, up)| {
                let one = sign(
                    who.signing(),
                    TxBody::AnchorRecord(up.anchor(&spec_of(patient, r))),
                );
                match client.submit(&one) {
                    Ok(_) => Ok(true),
                    Err(e) if code_of(&e) == Some("already_exists") => Ok(false),
                    Err(e) => Err(e),
                }
            }),
        };
        let sealed = parallel(
            &stored.iter().zip(anchored).collect::<Vec<_>>(),
            |((_, r, up), a)| match a {
                Ok(true) => {
                    let recipients = recipients_for(client, who, patient, &r.category, &keys)?;
                    records::seal_to(client, who, &up.record, &up.key, &recipients)?;
                    Ok(true)
                }
                Ok(false) => Ok(false),
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
            },
        );
        for ((name, r, _), outcome) in stored.iter().zip(sealed) {
            match outcome {
                Ok(true) => report.imported += 1,
                Ok(false) => report.already += 1,
                Err(e) => report.problems.push(problem(name, r, e)),
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(report)
}

fn spec_of<'a>(patient: &PatientId, r: &ehrchain_fhir::PlannedRecord) -> PutRecord<'a> {
    PutRecord {
        patient: *patient,
        category: r.category.clone(),
        media_type: FHIR_JSON.into(),
        supersedes: None,
        file: Path::new(""),
        progress: false,
    }
}

fn recipients_for(
    client: &Client,
    who: &Identity,
    patient: &PatientId,
    category: &Category,
    keys: &Mutex<HashMap<Category, Vec<EncryptionKey>>>,
) -> Result<Vec<EncryptionKey>> {
    if let Some(k) = keys.lock().expect("keys").get(category) {
        return Ok(k.clone());
    }
    let k = records::recipients(client, who, patient, category)?;
    keys.lock()
        .expect("keys")
        .insert(category.clone(), k.clone());
    Ok(k)
}

/// `f` over `items` on `WORKERS` threads, results in order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                out.lock().expect("out").push((i, r));
            });
        }
    });
    let mut out = out.into_inner().expect("out");
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

fn bar(enabled: bool, len: u64, what: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} resources {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

/// What an export holds.
pub struct Export {
    pub bundle: Value,
    pub resources: usize,
    pub consents: usize,
    pub audit_events: usize,
    pub provenances: usize,
}

/// Exports the patient's records as a FHIR Bundle, as the patient. With `restore` false the
/// records come out exactly as stored (de-identified), for inspection.
pub fn export(client: &Client, who: &Identity, restore: bool, progress: bool) -> Result<Export> {
    let patient = PatientId::of(&who.public().sign);
    let ident = prior_identifying(client, who, &patient)?.unwrap_or_default();
    let list = client.signed_get(who.signing(), &format!("/v1/patients/{patient}/records"))?;
    let records: Vec<Value> = list["records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r["media_type"] == FHIR_JSON && r["erased"].is_null() && r["superseded_by"].is_null()
        })
        .collect();
    let pb = bar(progress, records.len() as u64, "exporting");
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Result<(usize, Value)>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(r) = records.get(i) else { break };
                let got = (|| -> Result<(usize, Value)> {
                    let id: RecordId = r["id"].as_str().context("record id")?.parse()?;
                    let mut plain = Vec::new();
                    records::fetch(client, who, &id, Purpose::Treatment, &mut plain, false)?;
                    let mut v: Value = serde_json::from_slice(&plain)
                        .with_context(|| format!("record {id} is not JSON"))?;
                    if restore {
                        ehrchain_fhir::restore(&mut v, &ident, &patient);
                    }
                    Ok((i, v))
                })();
                out.lock().expect("out").push(got);
                pb.inc(1);
            });
        }
    });
    pb.finish_and_clear();
    let mut got = out
        .into_inner()
        .expect("out")
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    got.sort_by_key(|(i, _)| *i);
    let target: HashMap<String, String> = got
        .iter()
        .filter_map(|(i, v)| {
            Some((
                records[*i]["id"].as_str()?.to_owned(),
                format!("{}/{}", v["resourceType"].as_str()?, v["id"].as_str()?),
            ))
        })
        .collect();
    let patient_ref = if restore {
        ident
            .reference
            .clone()
            .unwrap_or_else(|| format!("Patient/{patient}"))
    } else {
        format!("Patient/{patient}")
    };
    let mut resources: Vec<Value> = got.into_iter().map(|(_, v)| v).collect();
    let n_resources = resources.len();

    let grants = client.signed_get(who.signing(), &format!("/v1/patients/{patient}/grants"))?;
    let consents: Vec<Value> = grants["grants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| ledger::consent(&grant_view(g), &patient_ref))
        .collect();
    let audit = client.signed_get(who.signing(), &format!("/v1/patients/{patient}/audit"))?;
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    let mut events = Vec::new();
    let mut provenances = Vec::new();
    let by_id: HashMap<&str, &Value> = list["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["id"].as_str()?, r)))
        .collect();
    for e in &entries {
        let ev = &e["event"];
        match ev["kind"].as_str() {
            Some("access") => events.push(ledger::audit_event(
                &AccessView {
                    tx: s(&e["tx"]),
                    at: e["at"].as_u64().unwrap_or(0),
                    height: e["height"].as_u64().unwrap_or(0),
                    reader_kind: s(&ev["reader"]["kind"]),
                    reader: s(&ev["reader"]["id"]),
                    record: s(&ev["record"]),
                    purpose: s(&ev["purpose"]),
                    permitted: ev["outcome"]["status"] == "permitted",
                    detail: match ev["outcome"]["status"].as_str() {
                        Some("permitted") => {
                            format!("permitted on basis {}", ev["outcome"]["basis"])
                        }
                        _ => format!("denied: {}", s(&ev["outcome"]["code"])),
                    },
                },
                &patient_ref,
            )),
            Some("anchor") => {
                let record = s(&ev["record"]);
                let meta = by_id.get(record.as_str());
                provenances.push(ledger::provenance(&AnchorView {
                    target: target.get(&record).cloned(),
                    record,
                    tx: s(&e["tx"]),
                    at: e["at"].as_u64().unwrap_or(0),
                    author_kind: s(&ev["author"]["kind"]),
                    author: s(&ev["author"]["id"]),
                    cid: meta.map(|m| s(&m["cid"])).unwrap_or_default(),
                    category: meta.map(|m| s(&m["category"])).unwrap_or_default(),
                }));
            }
            _ => {}
        }
    }
    let counts = (consents.len(), events.len(), provenances.len());
    resources.extend(consents);
    resources.extend(events);
    resources.extend(provenances);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Ok(Export {
        bundle: ehrchain_fhir::bundle(resources, &ehrchain_fhir::time::instant(now)),
        resources: n_resources,
        consents: counts.0,
        audit_events: counts.1,
        provenances: counts.2,
    })
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn grant_view(g: &Value) -> GrantView {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    };
    let grantee = &g["grantee"];
    GrantView {
        id: s(&g["id"]),
        grantee_kind: s(&grantee["kind"]),
        grantee: grantee["id"]
            .as_str()
            .or(grantee["organisation"].as_str())
            .unwrap_or_default()
            .to_owned(),
        role: grantee["role"].as_str().map(str::to_owned),
        categories: strings(&g["categories"]),
        records: strings(&g["records"]),
        mode: s(&g["mode"]),
        purpose: s(&g["purpose"]),
        not_before: g["not_before"].as_u64().unwrap_or(0),
        expires: g["expires"].as_u64().unwrap_or(0),
        granted: g["granted"].as_u64().unwrap_or(0),
        revoked: g["revoked"].as_u64(),
        live: g["live"].as_bool().unwrap_or(false),
    }
}
