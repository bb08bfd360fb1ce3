//! The node's keys at rest: the validator identity, the identities of the organisations this node
//! hosts, and the persona-store key, each in its own file sealed under the node passphrase
//! (Argon2id + AES-256-GCM). Nothing secret is written in the clear.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use ehrchain_crypto::{keyfile, Identity, KdfParams, LocalKey, SecretBytes};
use ehrchain_types::OrgId;
use rand::rngs::OsRng;

use crate::error::NodeError;

/// The keys a node holds.
pub struct NodeKeys {
    pub validator: Identity,
    pub persona: LocalKey,
    pub orgs: HashMap<OrgId, Identity>,
}

/// Key files under one folder, all sealed with one passphrase.
pub struct Keystore {
    dir: PathBuf,
    passphrase: Vec<u8>,
}

impl Keystore {
    pub fn new(dir: PathBuf, passphrase: Vec<u8>) -> Self {
        Keystore { dir, passphrase }
    }

    /// Loads the node's keys, creating the validator and persona keys on first start.
    pub fn load_or_create(&self) -> Result<NodeKeys, NodeError> {
        fs::create_dir_all(&self.dir)?;
        let validator = match self.read("validator.key")? {
            Some(bytes) => Identity::open(&self.passphrase, &bytes)
                .map_err(|e| NodeError::Keys(format!("validator.key: {e}")))?,
            None => {
                let id = Identity::generate(&mut OsRng);
                self.write_identity("validator.key", &id)?;
                id
            }
        };
        let persona = match self.read("persona.key")? {
            Some(bytes) => {
                let secret = keyfile::open(&self.passphrase, &bytes)
                    .map_err(|e| NodeError::Keys(format!("persona.key: {e}")))?;
                let raw: [u8; 32] = secret
                    .expose()
                    .try_into()
                    .map_err(|_| NodeError::Keys("persona.key has the wrong length".into()))?;
                LocalKey::from_bytes(SecretBytes::new(raw))
            }
            None => {
                let key = LocalKey::generate(&mut OsRng);
                let sealed = keyfile::seal(
                    &self.passphrase,
                    key.expose(),
                    KdfParams::default(),
                    &mut OsRng,
                )
                .map_err(|e| NodeError::Keys(e.to_string()))?;
                write_private(&self.dir.join("persona.key"), &sealed)?;
                key
            }
        };
        let mut orgs = HashMap::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(id) = name
                .strip_prefix("org-")
                .and_then(|n| n.strip_suffix(".key"))
            {
                let org: OrgId = id
                    .parse()
                    .map_err(|e| NodeError::Keys(format!("{name}: {e}")))?;
                let bytes = fs::read(&path)?;
                let identity = Identity::open(&self.passphrase, &bytes)
                    .map_err(|e| NodeError::Keys(format!("{name}: {e}")))?;
                orgs.insert(org, identity);
            }
        }
        Ok(NodeKeys {
            validator,
            persona,
            orgs,
        })
    }

    /// Seals and saves an organisation identity this node hosts.
    pub fn save_org(&self, org: &OrgId, identity: &Identity) -> Result<(), NodeError> {
        self.write_identity(&format!("org-{org}.key"), identity)
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, NodeError> {
        match fs::read(self.dir.join(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn write_identity(&self, name: &str, identity: &Identity) -> Result<(), NodeError> {
        let sealed = identity
            .seal(&self.passphrase, KdfParams::default(), &mut OsRng)
            .map_err(|e| NodeError::Keys(e.to_string()))?;
        write_private(&self.dir.join(name), &sealed)
    }
}

/// Writes a file readable by its owner only, atomically (temp file + rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    Ok(())
}
