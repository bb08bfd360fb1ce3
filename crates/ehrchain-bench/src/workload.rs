//! The transaction workload: a hospital with doctors, patients with a record and a grant each
//! (setup), and a pre-signed stream of mixed AccessEvent / Grant / AnchorRecord / RegisterPatient
//! transactions (timed). Signing happens here, before any clock starts.

use std::time::{SystemTime, UNIX_EPOCH};

use ehrchain_crypto::{sha256, Cid, Identity, SigningKey};
use ehrchain_types::{
    AgentId, AnchorRecord, Category, CategoryPattern, Grant, GrantId, Grantee, Mode, OrgId,
    PatientId, Purpose, RecordId, Scope, SignedTx, Timestamp, Tx, TxBody, TxKind,
};
use rand::rngs::{OsRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Signs `body` as `key` with a random nonce.
pub fn sign(key: &SigningKey, nonce: u64, body: TxBody) -> SignedTx {
    Tx {
        signer: key.public(),
        nonce,
        body,
    }
    .sign(key)
}

/// Maps `items` on `threads` threads, keeping their order.
pub fn par_map<T, R, F>(items: Vec<T>, threads: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let threads = threads.max(1);
    if threads == 1 || items.len() < 64 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut it = items.into_iter();
    loop {
        let chunk: Vec<T> = it.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| s.spawn(move || c.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A patient of the setup: keys, the record anchored for it, and the doctor granted to read it.
pub struct Patient {
    pub identity: Identity,
    pub id: PatientId,
    pub record: RecordId,
    pub doctor: usize,
}

/// The actors of the workload.
pub struct World {
    pub doctors: Vec<Identity>,
    pub patients: Vec<Patient>,
}

pub fn lab_category() -> Category {
    Category::new("Observation/laboratory").expect("valid category")
}

fn random_record(rng: &mut impl RngCore) -> RecordId {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    RecordId::from_bytes(b)
}

fn random_grant_id(rng: &mut impl RngCore) -> GrantId {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    GrantId::from_bytes(b)
}

/// A year from now: grants signed for the benchmark stay live throughout.
fn expiry() -> Timestamp {
    Timestamp(now_ms() + 365 * 24 * 3600 * 1000)
}

pub fn anchor_body(patient: PatientId, record: RecordId, rng: &mut impl RngCore) -> TxBody {
    let mut fake = [0u8; 32];
    rng.fill_bytes(&mut fake);
    TxBody::AnchorRecord(AnchorRecord {
        record,
        patient,
        category: lab_category(),
        media_type: "application/fhir+json".into(),
        size: 2_076,
        cid: Cid::from_digest(sha256(&fake)),
        supersedes: None,
    })
}

pub fn read_grant_body(to: AgentId, rng: &mut impl RngCore) -> TxBody {
    TxBody::Grant(Grant {
        grant: random_grant_id(rng),
        grantee: Grantee::Agent(to),
        scope: Scope {
            categories: vec![CategoryPattern::new("Observation").expect("valid pattern")],
            records: Vec::new(),
        },
        mode: Mode::Read,
        purpose: Purpose::Treatment,
        not_before: Timestamp(0),
        expires: expiry(),
    })
}

impl World {
    /// Fresh keys for `doctors` doctors and `patients` patients (each patient gets a record id
    /// and a doctor, round-robin).
    pub fn generate(doctors: usize, patients: usize) -> World {
        let doctors: Vec<Identity> = (0..doctors)
            .map(|_| Identity::generate(&mut OsRng))
            .collect();
        let n = doctors.len().max(1);
        let patients = par_map((0..patients).collect(), threads(), |i| {
            let identity = Identity::generate(&mut OsRng);
            let id = PatientId::of(&identity.public().sign);
            Patient {
                identity,
                id,
                record: random_record(&mut OsRng),
                doctor: i % n,
            }
        });
        World { doctors, patients }
    }

    pub fn doctor_id(&self, i: usize) -> AgentId {
        AgentId::of(&self.doctors[i].public().sign)
    }

    /// Setup, phase 1: every patient registers.
    pub fn register_patients(&self) -> Vec<SignedTx> {
        par_map(self.patients.iter().collect(), threads(), |p| {
            sign(
                p.identity.signing(),
                OsRng.next_u64(),
                TxBody::RegisterPatient {
                    encrypt_key: p.identity.public().encrypt,
                },
            )
        })
    }

    /// Setup, phase 2: every patient anchors one lab record and grants its doctor read access
    /// to lab observations.
    pub fn records_and_grants(&self) -> Vec<SignedTx> {
        let doctor_ids: Vec<AgentId> = (0..self.doctors.len()).map(|i| self.doctor_id(i)).collect();
        let nested = par_map(self.patients.iter().collect(), threads(), |p| {
            let key = p.identity.signing();
            vec![
                sign(
                    key,
                    OsRng.next_u64(),
                    anchor_body(p.id, p.record, &mut OsRng),
                ),
                sign(
                    key,
                    OsRng.next_u64(),
                    read_grant_body(doctor_ids[p.doctor], &mut OsRng),
                ),
            ]
        });
        nested.into_iter().flatten().collect()
    }

    /// The timed stream: `count` transactions, `mix` percent of each kind (access, grant,
    /// anchor, register-patient), in a random order fixed by `seed`. Signed on every core.
    pub fn stream(&self, count: usize, mix: &Mix, seed: u64) -> Vec<SignedTx> {
        enum Plan {
            Access { doctor: usize, record: RecordId },
            Grant { patient: usize, to: AgentId },
            Anchor { patient: usize },
            Register,
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let np = self.patients.len();
        let nd = self.doctors.len().max(1);
        let plans: Vec<Plan> = (0..count)
            .map(|_| {
                let r = rng.gen_range(0..mix.total());
                let p = rng.gen_range(0..np);
                if r < mix.access {
                    let pat = &self.patients[p];
                    Plan::Access {
                        doctor: pat.doctor,
                        record: pat.record,
                    }
                } else if r < mix.access + mix.grant {
                    let to = self.doctor_id((self.patients[p].doctor + 1) % nd);
                    Plan::Grant { patient: p, to }
                } else if r < mix.access + mix.grant + mix.anchor {
                    Plan::Anchor { patient: p }
                } else {
                    Plan::Register
                }
            })
            .collect();
        par_map(plans, threads(), |plan| {
            let mut rng = OsRng;
            match plan {
                Plan::Access { doctor, record } => sign(
                    self.doctors[doctor].signing(),
                    rng.next_u64(),
                    TxBody::Access {
                        record,
                        purpose: Purpose::Treatment,
                    },
                ),
                Plan::Grant { patient, to } => sign(
                    self.patients[patient].identity.signing(),
                    rng.next_u64(),
                    read_grant_body(to, &mut rng),
                ),
                Plan::Anchor { patient } => {
                    let p = &self.patients[patient];
                    sign(
                        p.identity.signing(),
                        rng.next_u64(),
                        anchor_body(p.id, random_record(&mut rng), &mut rng),
                    )
                }
                Plan::Register => {
                    let who = Identity::generate(&mut rng);
                    sign(
                        who.signing(),
                        rng.next_u64(),
                        TxBody::RegisterPatient {
                            encrypt_key: who.public().encrypt,
                        },
                    )
                }
            }
        })
    }
}

/// Percentages of each transaction kind in the timed stream.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub access: u32,
    pub grant: u32,
    pub anchor: u32,
    pub register: u32,
}

impl Mix {
    pub fn total(&self) -> u32 {
        (self.access + self.grant + self.anchor + self.register).max(1)
    }

    pub fn describe(&self) -> String {
        format!(
            "access {}%, grant {}%, anchor-record {}%, register-patient {}%",
            self.access, self.grant, self.anchor, self.register
        )
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// `access=70,grant=10,anchor=10,register=10`
    fn from_str(s: &str) -> Result<Mix, String> {
        let mut mix = Mix {
            access: 0,
            grant: 0,
            anchor: 0,
            register: 0,
        };
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected kind=percent, got {part:?}"))?;
            let v: u32 = v.trim().parse().map_err(|e| format!("{part:?}: {e}"))?;
            match k.trim() {
                "access" => mix.access = v,
                "grant" => mix.grant = v,
                "anchor" => mix.anchor = v,
                "register" => mix.register = v,
                other => return Err(format!("unknown kind {other:?}")),
            }
        }
        if mix.access + mix.grant + mix.anchor + mix.register == 0 {
            return Err("the mix is empty".into());
        }
        Ok(mix)
    }
}

pub fn kind_name(k: TxKind) -> &'static str {
    k.as_str()
}

pub fn org_id_of(identity: &Identity) -> OrgId {
    OrgId::of(&identity.public().sign)
}
