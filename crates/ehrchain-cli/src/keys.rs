//! Key files: an actor's identity sealed under a passphrase (Argon2id), with a public sidecar
//! (`<file>.pub.json`) that anyone may read to learn the actor's ids and public keys.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ehrchain_crypto::{Identity, KdfParams};
use ehrchain_types::{AgentId, OrgId, PatientId};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};

/// The public half of a key file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicInfo {
    pub sign_key: String,
    pub encrypt_key: String,
    /// The ids this key would have as each kind of actor.
    pub patient_id: String,
    pub agent_id: String,
    pub organisation_id: String,
}

pub fn public_info(identity: &Identity) -> PublicInfo {
    let p = identity.public();
    PublicInfo {
        sign_key: p.sign.to_string(),
        encrypt_key: p.encrypt.to_string(),
        patient_id: PatientId::of(&p.sign).to_string(),
        agent_id: AgentId::of(&p.sign).to_string(),
        organisation_id: OrgId::of(&p.sign).to_string(),
    }
}

/// The passphrase for personal key files: `EHRCHAIN_PASSPHRASE`, or the file named by
/// `EHRCHAIN_PASSPHRASE_FILE`.
pub fn passphrase() -> Result<Vec<u8>> {
    if let Ok(p) = std::env::var("EHRCHAIN_PASSPHRASE") {
        return Ok(p.into_bytes());
    }
    if let Ok(f) = std::env::var("EHRCHAIN_PASSPHRASE_FILE") {
        let mut p = fs::read(&f).with_context(|| format!("reading passphrase file {f}"))?;
        while p.last().is_some_and(|b| b.is_ascii_whitespace()) {
            p.pop();
        }
        return Ok(p);
    }
    bail!("set EHRCHAIN_PASSPHRASE (or EHRCHAIN_PASSPHRASE_FILE) to unlock key files")
}

pub fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub.json");
    PathBuf::from(s)
}

/// Generates a new identity and writes the sealed key file and its public sidecar.
pub fn create(path: &Path, passphrase: &[u8]) -> Result<Identity> {
    if path.exists() {
        bail!(
            "{} already exists; refusing to overwrite a key",
            path.display()
        );
    }
    let identity = Identity::generate(&mut OsRng);
    let sealed = identity
        .seal(passphrase, KdfParams::default(), &mut OsRng)
        .context("sealing the key file")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    write_private(path, &sealed)?;
    fs::write(
        sidecar(path),
        serde_json::to_vec_pretty(&public_info(&identity))?,
    )?;
    Ok(identity)
}

pub fn load(path: &Path, passphrase: &[u8]) -> Result<Identity> {
    let bytes = fs::read(path).with_context(|| format!("reading key file {}", path.display()))?;
    Identity::open(passphrase, &bytes)
        .with_context(|| format!("opening key file {}", path.display()))
}

pub fn load_public(path: &Path) -> Result<PublicInfo> {
    let side = sidecar(path);
    let bytes = fs::read(&side).with_context(|| format!("reading {}", side.display()))?;
    Ok(serde_json::from_slice(&bytes)?)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
