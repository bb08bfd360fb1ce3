//! Client-side FHIR flows. Import: plan with `ehrchain-fhir` (de-identify, name records), store
//! the identifying fragment in the node's persona store, then encrypt, upload and anchor each
//! record not yet anchored. Export: read the patient's FHIR records (each read an access event
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

/// Parallel uploads: they let the node commit anchors in shared blocks.
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
    let next = AtomicUsize::new(0);
    let keys: Mutex<HashMap<Category, Vec<EncryptionKey>>> = Mutex::new(HashMap::new());
    let outcomes: Mutex<Vec<Result<bool, (String, Problem)>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, r)) = todo.get(i) else { break };
                let outcome = store(client, who, patient, r, &keys).map_err(|e| {
                    (
                        name.clone(),
                        Problem {
                            position: r.position.clone(),
                            message: format!("not stored: {e:#}"),
                        },
                    )
                });
                outcomes.lock().expect("outcomes").push(outcome);
                pb.inc(1);
            });
        }
    });
    pb.finish_and_clear();
    for o in outcomes.into_inner().expect("outcomes") {
        match o {
            Ok(true) => report.imported += 1,
            Ok(false) => report.already += 1,
            Err(p) => report.problems.push(p),
        }
    }
    Ok(report)
}

/// Stores one planned record; `Ok(false)` if the ledger already has it (an import racing another).
fn store(
    client: &Client,
    who: &Identity,
    patient: &PatientId,
    r: &ehrchain_fhir::PlannedRecord,
    keys: &Mutex<HashMap<Category, Vec<EncryptionKey>>>,
) -> Result<bool> {
    let cached = keys.lock().expect("keys").get(&r.category).cloned();
    let recipients = match cached {
        Some(k) => k,
        None => {
            let k = records::recipients(client, who, patient, &r.category)?;
            keys.lock()
                .expect("keys")
                .insert(r.category.clone(), k.clone());
            k
        }
    };
    let spec = PutRecord {
        patient: *patient,
        category: r.category.clone(),
        media_type: FHIR_JSON.into(),
        supersedes: None,
        file: Path::new(""),
        progress: false,
    };
    match records::put_from(
        client,
        who,
        &spec,
        Source::bytes(r.plaintext.clone(), Some(r.id)),
        &recipients,
    ) {
        Ok(_) => Ok(true),
        Err(e) if code_of(&e) == Some("already_exists") => Ok(false),
        Err(e) => Err(e),
    }
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
