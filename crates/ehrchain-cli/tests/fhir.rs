//! Issue 5, FHIR through the real CLI against a real node: the five Synthea bundles import with
//! no identifying string left anywhere the node keeps data (ledger, state, ciphertexts) nor in
//! any record's plaintext; re-import is idempotent; export gives back the bundle's resources
//! and the ledger's grants, reads and anchors as Consent, AuditEvent and Provenance.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn load(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// A new patient who lets the doctor add and read records.
fn new_patient(node: &NodeProc, w: &World, name: &str) -> (PathBuf, String) {
    let key = w.dir.join(format!("{name}.key"));
    let info = cli(node, &["keys", "new", s(&key)]).expect_ok().json();
    cli(node, &["patient", "register", "--key", s(&key)]).expect_ok();
    for mode in ["append", "read"] {
        cli(
            node,
            &[
                "grant",
                "--as",
                s(&key),
                "--to",
                &w.doctor_id,
                "--categories",
                "*",
                "--mode",
                mode,
                "--purpose",
                "treatment",
                "--for",
                "1d",
            ],
        )
        .expect_ok();
    }
    (key, info["patient_id"].as_str().unwrap().to_owned())
}

fn identifying(patient: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    };
    for n in patient["name"].as_array().unwrap() {
        out.extend(n["family"].as_str().map(str::to_owned));
        out.extend(strs(&n["given"]));
    }
    for k in ["identifier", "telecom"] {
        for i in patient[k].as_array().unwrap() {
            out.extend(i["value"].as_str().map(str::to_owned));
        }
    }
    for a in patient["address"].as_array().unwrap() {
        out.extend(strs(&a["line"]));
    }
    out.push(patient["birthDate"].as_str().unwrap().to_owned());
    out
}

fn decoded_attachments(v: &Value, out: &mut String) {
    use base64::Engine as _;
    match v {
        Value::Object(m) => {
            if let Some(Value::String(d)) = m.get("data") {
                if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(d) {
                    out.push_str(&String::from_utf8_lossy(&b));
                }
            }
            m.values().for_each(|c| decoded_attachments(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| decoded_attachments(c, out)),
        _ => {}
    }
}

/// `text` with every run of 32 or more letters and digits that is all lowercase hex or all
/// lowercase base32 (our ids, tx hashes, CIDs) blanked out.
// Regression: CI failed once on "verna" found inside a random CID (base32 has every letter of
// it); 5-letter needles turn up by chance in a few hundred thousand base32 characters.
fn without_ids(text: &str) -> String {
    let is_id = |run: &str| {
        run.len() >= 32
            && (run.bytes().all(|b| b.is_ascii_hexdigit())
                || run
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)))
    };
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() {
            run.push(c);
            continue;
        }
        if !is_id(&run) {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

#[test]
fn ids_are_blanked_but_names_next_to_them_are_not() {
    let cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    let text = format!("binary/{cid} verna is here, rec_{}", "ab".repeat(16));
    assert_eq!(without_ids(&text), "binary/ verna is here, rec_");
    assert!(without_ids(&format!("{cid}verna")).is_empty());
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn synthea_bundles_import_without_identifying_data_and_export_back() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start_with(&tmp.path().join("node"), &["--suppress-below", "1"]);
    let w = seed(&node, tmp.path());
    let mut bundles: Vec<PathBuf> = std::fs::read_dir(data("synthea"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    bundles.sort();
    assert_eq!(bundles.len(), 5);

    let mut needles = Vec::new();
    let mut patients = Vec::new();
    for (i, b) in bundles.iter().enumerate() {
        let input = load(b);
        let entries = input["entry"].as_array().unwrap().len();
        needles.extend(identifying(&input["entry"][0]["resource"]));
        let (key, pid) = new_patient(&node, &w, &format!("p{i}"));
        let r = cli(
            &node,
            &[
                "fhir",
                "import",
                "--as",
                s(&w.doctor),
                "--patient",
                &pid,
                s(b),
            ],
        )
        .expect_ok()
        .json();
        assert_eq!(r["resources"], entries, "{b:?}: {r}");
        assert_eq!(r["imported"], entries, "{b:?}: {r}");
        assert_eq!(r["problems"].as_array().unwrap().len(), 0, "{r}");
        patients.push((key, pid, b.clone(), entries));
    }

    // Re-import is idempotent: nothing new is anchored.
    let (_, pid0, b0, n0) = &patients[0];
    let again = cli(
        &node,
        &[
            "fhir",
            "import",
            "--as",
            s(&w.doctor),
            "--patient",
            pid0,
            s(b0),
        ],
    )
    .expect_ok()
    .json();
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(again["already_imported"], *n0, "{again}");
    // No identifying string anywhere the node keeps data: block log, redb (ledger state,
    // index; personas are sealed), ciphertexts.
    assert!(needles.len() >= 40, "{needles:?}");
    let files = walk(&node.data);
    assert!(
        files.len() > 1000,
        "expected the ciphertexts among {} files",
        files.len()
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for n in &needles {
            assert!(
                !find(&bytes, n.as_bytes()),
                "{n:?} found in {}",
                f.display()
            );
        }
    }

    // Nor in any record's plaintext, text attachments decoded.
    for (key, _, b, n) in &patients {
        let out = tmp.path().join("stored.json");
        let r = cli(
            &node,
            &[
                "fhir",
                "export",
                "--as",
                s(key),
                "--as-stored",
                "--out",
                s(&out),
            ],
        )
        .expect_ok()
        .json();
        assert_eq!(r["resources"], *n);
        let bundle = load(&out);
        let mut text = serde_json::to_string(&bundle).unwrap();
        decoded_attachments(&bundle, &mut text);
        let text = without_ids(&text.to_lowercase());
        for needle in &needles {
            assert!(
                !text.contains(&needle.to_lowercase()),
                "{needle:?} in a stored record of {b:?}"
            );
        }
    }

    // The patient's export gives back every resource of the bundle, equal, plus the ledger.
    let (key, _, b, n) = &patients[0];
    let out = tmp.path().join("export.json");
    let r = cli(&node, &["fhir", "export", "--as", s(key), "--out", s(&out)])
        .expect_ok()
        .json();
    assert_eq!(r["resources"], *n);
    assert_eq!(r["consents"], 2, "{r}");
    assert_eq!(r["provenances"], *n, "{r}");
    // Two exports (as stored, then this one) read every record: each read is an AuditEvent.
    assert!(r["audit_events"].as_u64().unwrap() >= 2 * *n as u64, "{r}");
    let exported = load(&out);
    let got: Vec<&Value> = exported["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    for e in load(b)["entry"].as_array().unwrap() {
        assert!(
            got.contains(&&e["resource"]),
            "{} {} did not come back equal",
            e["resource"]["resourceType"],
            e["resource"]["id"]
        );
    }
    let kinds = |t: &str| got.iter().filter(|r| r["resourceType"] == t).count();
    assert_eq!(kinds("Consent"), 2);
    let consent = got.iter().find(|r| r["resourceType"] == "Consent").unwrap();
    assert_eq!(consent["status"], "active");
    assert_eq!(
        consent["provision"]["actor"][0]["reference"]["identifier"]["value"],
        w.doctor_id.as_str()
    );
    let audit = got
        .iter()
        .find(|r| r["resourceType"] == "AuditEvent")
        .unwrap();
    assert_eq!(audit["outcome"], "0");
    let prov = got
        .iter()
        .find(|r| {
            r["resourceType"] == "Provenance"
                && r["id"].as_str().unwrap().starts_with("ehrchain-")
                && r["target"][0]["reference"].is_string()
        })
        .unwrap();
    let target = prov["target"][0]["reference"].as_str().unwrap();
    assert!(
        got.iter().any(|r| format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap_or("")
        ) == target),
        "Provenance target {target} is not an exported resource"
    );
    assert!(prov["entity"][0]["what"]["identifier"]["value"]
        .as_str()
        .unwrap()
        .starts_with('b'));

    population_counts_match_the_bundles(&node, &w, &patients);
}

/// Population counts over the imported patients: each grants a public-health agency its
/// conditions (the patient's client re-seals those records' keys to the agency), and the
/// agency's officer releases counts that match a direct computation over the bundles within the
/// noise bound. This node suppresses only zeros (`--suppress-below 1`), so that five patients
/// give counts to compare.
fn population_counts_match_the_bundles(
    node: &NodeProc,
    w: &World,
    patients: &[(PathBuf, String, PathBuf, usize)],
) {
    let agency = create_org(node, "City Health Agency", "public-health-agency");
    let officer = w.dir.join("officer.key");
    cli(node, &["keys", "new", s(&officer)]).expect_ok();
    register_agent(node, &agency, "public-health-officer", &officer);
    // What the bundles say: each patient's SNOMED condition codes, age band and state.
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut facts = Vec::new();
    for (key, _, bundle, _) in patients {
        cli(
            node,
            &[
                "grant",
                "--as",
                s(key),
                "--to",
                &agency,
                "--categories",
                "Condition",
                "--purpose",
                "public-health",
                "--for",
                "1d",
            ],
        )
        .expect_ok();
        let b = load(bundle);
        let mut codes = std::collections::BTreeSet::new();
        for e in b["entry"].as_array().unwrap() {
            let r = &e["resource"];
            if r["resourceType"] == "Condition" {
                for c in r["code"]["coding"].as_array().into_iter().flatten() {
                    if c["system"] == "http://snomed.info/sct" {
                        codes.insert(c["code"].as_str().unwrap().to_owned());
                    }
                }
            }
        }
        let p = &b["entry"][0]["resource"];
        let age = ehrchain_fhir::population::age_at(
            p["birthDate"].as_str().unwrap(),
            ehrchain_types::Timestamp(today),
        )
        .unwrap();
        let band = ehrchain_fhir::population::AGE_BANDS
            .iter()
            .find(|(_, lo, hi)| (*lo..=*hi).contains(&age))
            .unwrap()
            .0;
        let state = p["address"][0]["state"].as_str().unwrap().to_owned();
        facts.push((codes, band, state));
    }
    let common = {
        let mut tally = std::collections::BTreeMap::<&String, usize>::new();
        for (codes, _, _) in &facts {
            for c in codes {
                *tally.entry(c).or_default() += 1;
            }
        }
        let mut by_count: Vec<_> = tally.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        by_count
            .iter()
            .take(3)
            .map(|(c, _)| (*c).clone())
            .collect::<Vec<_>>()
    };
    let release = |args: &[&str]| -> Value {
        let mut all = vec!["aggregate", "--as", s(&officer), "--epsilon", "1"];
        all.extend_from_slice(args);
        cli(node, &all).expect_ok().json()
    };
    // Laplace scale is sensitivity / epsilon; a cell is off by more than 12 scales with
    // probability e^-12 (6e-6).
    let check = |out: &Value, truth: &dyn Fn(&str) -> usize| {
        let scale = out["noise"]["scale"].as_f64().unwrap();
        for c in out["cells"].as_array().unwrap() {
            let label = c["label"].as_str().unwrap();
            let got = c["count"].as_u64().unwrap_or(0) as f64;
            let want = truth(label) as f64;
            assert!(
                (got - want).abs() <= 12.0 * scale,
                "{label}: released {got}, direct count {want}, scale {scale}: {out}"
            );
        }
    };
    let by_age = release(&["--by", "age-band"]);
    check(&by_age, &|band| {
        facts.iter().filter(|f| f.1 == band).count()
    });
    let state = facts[0].2.clone();
    let region = format!("region={state}");
    let with_code = release(&["--condition", &common[0], "--by", &region]);
    check(&with_code, &|r| {
        facts
            .iter()
            .filter(|f| f.2 == r && f.0.contains(&common[0]))
            .count()
    });
    let by_code = format!("condition={}", common.join(","));
    let by_condition = release(&["--by", &by_code]);
    assert_eq!(
        by_condition["noise"]["sensitivity"],
        common.len(),
        "{by_condition}"
    );
    check(&by_condition, &|code| {
        facts.iter().filter(|f| f.0.contains(code)).count()
    });
    assert_eq!(by_condition["budget"]["spent_epsilon"], 3.0);
    // A malformed breakdown is refused before anything is sent or spent.
    let bad = cli(
        node,
        &["aggregate", "--as", s(&officer), "--by", "condition=12"],
    );
    assert!(!bad.ok, "a 2-digit SNOMED code was accepted");
}

#[test]
fn fhir_examples_import_and_export_back_equal() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("node"));
    let w = seed(&node, tmp.path());
    let (key, pid) = new_patient(&node, &w, "amy");
    let dir = data("fhir-r4-examples");
    // The example Patient first, then every example about it.
    let mut files = vec![dir.join("Patient-example.json")];
    let mut about: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            String::from_utf8_lossy(&std::fs::read(p).unwrap())
                .contains("\"reference\": \"Patient/example\"")
        })
        .collect();
    about.sort();
    files.extend(about);
    assert!(files.len() > 40, "{}", files.len());
    let mut args = vec!["fhir", "import", "--as", s(&w.doctor), "--patient", &pid];
    args.extend(files.iter().map(|f| s(f)));
    let r = cli(&node, &args).expect_ok().json();
    assert_eq!(r["problems"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["imported"], files.len(), "{r}");

    let out = tmp.path().join("export.json");
    cli(
        &node,
        &["fhir", "export", "--as", s(&key), "--out", s(&out)],
    )
    .expect_ok();
    let exported = load(&out);
    let got: Vec<&Value> = exported["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    for f in &files {
        assert!(got.contains(&&load(f)), "{f:?} did not come back equal");
    }
    // The node's copy of the record of Patient/example holds none of its name.
    let stored = tmp.path().join("stored.json");
    cli(
        &node,
        &[
            "fhir",
            "export",
            "--as",
            s(&key),
            "--as-stored",
            "--out",
            s(&stored),
        ],
    )
    .expect_ok();
    let text = std::fs::read_to_string(&stored).unwrap();
    for needle in ["Chalmers", "1974-12-25", "534 Erewhon St"] {
        assert!(!text.contains(needle), "{needle} in a stored record");
    }
}

#[test]
fn a_refused_resource_is_reported_and_the_rest_of_its_batch_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("node"));
    let w = seed(&node, tmp.path());
    let key = w.dir.join("lipids.key");
    let info = cli(&node, &["keys", "new", s(&key)]).expect_ok().json();
    let pid = info["patient_id"].as_str().unwrap().to_owned();
    cli(&node, &["patient", "register", "--key", s(&key)]).expect_ok();
    // The doctor may add observations, not reports.
    cli(
        &node,
        &[
            "grant",
            "--as",
            s(&key),
            "--to",
            &w.doctor_id,
            "--categories",
            "Observation",
            "--mode",
            "append",
            "--for",
            "1d",
        ],
    )
    .expect_ok();
    let bundle = data("fhir-r4-examples").join("Bundle-lipids.json");
    let r = cli(
        &node,
        &[
            "fhir",
            "import",
            "--as",
            s(&w.doctor),
            "--patient",
            &pid,
            s(&bundle),
        ],
    )
    .expect_ok()
    .json();
    assert_eq!(r["resources"], 5, "{r}");
    assert_eq!(r["imported"], 4, "{r}");
    let problems = r["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{r}");
    assert_eq!(problems[0]["position"], "entry[0]", "{r}");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("not_authorised"),
        "{r}"
    );
}

/// A running `ehrchain fhir serve`, killed on drop.
struct Gateway {
    child: std::process::Child,
    url: String,
}

impl Gateway {
    fn start(node: &NodeProc, key: &Path, patient: &str, extra: &[&str]) -> Gateway {
        let mut child = std::process::Command::new(BIN)
            .args(["fhir", "serve", "--as", s(key), "--patient", patient])
            .args(extra)
            .args(["--listen", "127.0.0.1:0"])
            .env("EHRCHAIN_NODE", &node.url)
            .env("EHRCHAIN_PASSPHRASE", PASS)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let url = banner_url(&mut child, "gateway");
        Gateway { child, url }
    }

    /// GET `path` under `/fhir`: the status and the FHIR JSON body.
    fn get(&self, path: &str) -> (u16, Value) {
        let resp = reqwest::blocking::get(format!("{}{path}", self.url)).unwrap();
        let status = resp.status().as_u16();
        assert_eq!(
            resp.headers()["content-type"],
            "application/fhir+json",
            "{path}"
        );
        (status, resp.json().unwrap())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The FHIR REST subset through the gateway on the reader's side: reads and searches are
/// committed, audited reads decided by the patient's grants, narrowed by the app's SMART
/// scopes; a SMART scope maps onto a grant.
#[test]
fn fhir_gateway_reads_and_searches_within_scopes_and_grants() {
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("node"));
    let w = seed(&node, tmp.path());
    let (patient, pid) = (s(&w.patient), w.patient_id.as_str());
    let insurer_id = cli(&node, &["keys", "show", s(&w.insurer)])
        .expect_ok()
        .json()["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The patient lets the doctor add anything (the doctor is then the author, who may read
    // it), and, through a SMART scope, lets the insurer read lab results for payment.
    cli(
        &node,
        &[
            "grant",
            "--as",
            patient,
            "--to",
            &w.doctor_id,
            "--categories",
            "*",
            "--mode",
            "append",
            "--for",
            "1d",
        ],
    )
    .expect_ok();
    let read = cli(
        &node,
        &[
            "grant",
            "--as",
            patient,
            "--to",
            &insurer_id,
            "--smart-scope",
            "patient/Observation.rs?category=laboratory",
            "--purpose",
            "payment",
        ],
    )
    .expect_ok()
    .json();
    assert_eq!(read["mode"], "read", "{read}");
    let read_grant = read["grant"].as_str().unwrap().to_owned();
    let grants = cli(&node, &["grants", "--as", patient]).expect_ok().json();
    assert!(
        grants.to_string().contains("\"Observation/laboratory\""),
        "the SMART scope became a grant of Observation/laboratory: {grants}"
    );

    let obs = |id: &str, category: &str, date: &str| {
        serde_json::json!({"fullUrl": format!("urn:uuid:{id}"), "resource": {
            "resourceType": "Observation", "id": id, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
            "code": {"text": "a measurement"},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": date,
            "valueQuantity": {"value": 6.1, "unit": "%"}}})
    };
    let bundle = serde_json::json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1",
            "name": [{"family": "Okafor", "given": ["Ada"]}], "birthDate": "1980-02-03"}},
        obs("lab1", "laboratory", "2020-05-01T09:00:00Z"),
        obs("lab2", "laboratory", "2023-02-01T09:00:00Z"),
        obs("vit1", "vital-signs", "2023-03-01T09:00:00Z"),
        {"fullUrl": "urn:uuid:c1", "resource": {"resourceType": "Condition", "id": "c1",
            "category": [{"coding": [{"code": "encounter-diagnosis"}]}],
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
            "subject": {"reference": "Patient/p1"}}},
    ]});
    let file = tmp.path().join("small.json");
    std::fs::write(&file, bundle.to_string()).unwrap();
    let imported = cli(
        &node,
        &[
            "fhir",
            "import",
            "--as",
            s(&w.doctor),
            "--patient",
            pid,
            s(&file),
        ],
    )
    .expect_ok()
    .json();
    assert_eq!(imported["imported"], 5, "{imported}");

    // The doctor's app holds lab scopes only.
    let labs = Gateway::start(
        &node,
        &w.doctor,
        pid,
        &["--scope", "patient/Observation.rs?category=laboratory"],
    );
    let (status, cap) = labs.get("/metadata");
    assert_eq!(status, 200);
    assert_eq!(cap["resourceType"], "CapabilityStatement");
    assert_eq!(cap["rest"][0]["resource"][0]["type"], "Observation");

    let (status, lab1) = labs.get("/Observation/lab1");
    assert_eq!(status, 200, "{lab1}");
    assert_eq!(lab1["id"], "lab1");
    assert_eq!(lab1["valueQuantity"]["value"], 6.1);
    assert_eq!(lab1["subject"]["reference"], format!("Patient/{pid}"));
    // Outside the app's scopes: refused before anything is read, although the doctor, as the
    // author, could read these records.
    for path in ["/Observation/vit1", "/Condition/c1", "/Condition?patient=x"] {
        let (status, out) = labs.get(path);
        assert_eq!(status, 403, "{path}: {out}");
        assert_eq!(out["resourceType"], "OperationOutcome");
    }
    let (status, _) = labs.get("/Observation/no-such-thing");
    assert_eq!(status, 404);
    let (status, out) = labs.get("/Observation?code=1234");
    assert_eq!(status, 400, "{out}");
    let (status, out) = labs.get("/Observation?date=yesterday");
    assert_eq!(status, 400, "{out}");

    let ids = |b: &Value| -> Vec<String> {
        let mut v: Vec<String> = b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let (status, all) = labs.get(&format!("/Observation?patient=Patient/{pid}"));
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["type"], "searchset");
    assert_eq!(ids(&all), ["lab1", "lab2"]);
    let (_, recent) = labs.get("/Observation?category=laboratory&date=ge2022-01-01");
    assert_eq!(ids(&recent), ["lab2"]);
    let (_, window) = labs.get("/Observation?date=ge2020&date=lt2021");
    assert_eq!(ids(&window), ["lab1"]);

    // The insurer's app asks for every Observation, but a wider scope does not widen the
    // patient's grant: the consent decision still refuses the vital sign (the node shows the
    // insurer no such record), and search finds the lab results only.
    let insurer = Gateway::start(
        &node,
        &w.insurer,
        pid,
        &["--scope", "patient/Observation.rs", "--purpose", "payment"],
    );
    let (status, out) = insurer.get("/Observation/vit1");
    assert_eq!(status, 404, "{out}");
    let (status, out) = insurer.get("/Observation/lab2");
    assert_eq!(status, 200, "{out}");
    let (_, all) = insurer.get("/Observation");
    assert_eq!(ids(&all), ["lab1", "lab2"]);

    // Every read went through the ledger: the patient's audit shows each read of lab1.
    let lab1_record =
        ehrchain_fhir::import::record_id(&pid.parse().unwrap(), "Observation/lab1").to_string();
    let audit = cli(&node, &["audit", "--as", patient]).expect_ok().json();
    let reads_of_lab1 = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["kind"] == "access" && e["event"]["record"] == lab1_record.as_str())
        .filter(|e| e["event"]["outcome"]["status"] == "permitted")
        .count();
    // The doctor: by id and three searches (the date filter applies after the read); the
    // insurer: one search.
    assert_eq!(reads_of_lab1, 5, "{audit}");

    // Revoked: the insurer's gateway can no longer read.
    cli(&node, &["revoke", "--as", patient, "--grant", &read_grant]).expect_ok();
    let (status, out) = insurer.get("/Observation/lab2");
    assert_eq!(status, 404, "{out}");
}
