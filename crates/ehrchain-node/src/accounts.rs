//! Web accounts: what lets a person log in to this node from any browser.
//!
//! The browser derives two keys from the password (PBKDF2-SHA-256, then HKDF): a *wrap* key that
//! never leaves the browser and encrypts the person's Ed25519 and X25519 secrets (the
//! `backup`), and an *auth* key whose SHA-256 (the `verifier`) is stored here. A login presents
//! the auth key; only then does the node hand back the backup, so nobody can fetch it to guess
//! passwords offline. The node never sees a private key or the password. Staff accounts also
//! need a TOTP code (RFC 6238), and they exist only once an org admin (or the node operator)
//! approves the request, which registers the agent on the ledger. Each account is sealed under
//! the node's local key at rest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ehrchain_crypto::{otp, sha256, small, EncryptionKey, Hash, PublicKey};
use ehrchain_ledger::StateView;
use ehrchain_types::{
    limits, AgentId, Canonical, DecodeError, Decoder, Encoder, OrgId, PatientId, Role,
};
use rand::rngs::OsRng;
use rand::RngCore;

use crate::flows::EnvelopeError;
use crate::node::{Committed, Node};
use crate::NodeError;

/// PBKDF2 iterations a browser must use at least (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const MIN_ITERATIONS: u32 = 600_000;
/// Largest encrypted key backup accepted.
pub const MAX_BACKUP: usize = 4096;
/// Failed logins before a login name is locked for [`LOCKOUT`].
pub const MAX_FAILURES: u32 = 5;
pub const LOCKOUT: Duration = Duration::from_secs(60);

/// Whose account it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountKind {
    Patient,
    Staff(StaffDetails),
}

/// What a staff member asked to be registered as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffDetails {
    pub org: OrgId,
    pub role: Role,
    pub name: String,
    pub licence: String,
    pub totp_secret: [u8; otp::SECRET_LEN],
    /// The last TOTP step accepted: a code is never accepted twice.
    pub last_step: u64,
    pub approved: bool,
}

/// One web account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub login: String,
    pub kind: AccountKind,
    pub sign_key: PublicKey,
    pub encrypt_key: EncryptionKey,
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub verifier: Hash,
    /// The browser's encryption of the person's secrets; opaque here.
    pub backup: Vec<u8>,
    pub created_ms: u64,
}

/// What the browser sends to create an account (either kind).
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub login: String,
    pub encrypt_key: EncryptionKey,
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub verifier: Hash,
    pub backup: Vec<u8>,
}

/// Why an account operation was refused. The messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("login names are 3 to 64 characters: letters, digits, '.', '_', '-' and '@'")]
    BadLogin,
    #[error("that login name is taken; choose another")]
    Taken,
    #[error("{0}")]
    Invalid(String),
    #[error("wrong login name, password or code; check them and try again")]
    BadCredentials,
    #[error("too many failed attempts; wait a minute and try again")]
    Locked,
    #[error("this staff account is waiting for approval by an administrator of its organisation")]
    Pending,
    #[error("this staff account was revoked by its organisation; ask your administrator")]
    Revoked,
    #[error("only an administrator of the organisation, or the node operator, may do this")]
    NotAllowed,
    #[error("no such request")]
    NotFound,
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Store(#[from] ehrchain_store::StoreError),
    #[error(transparent)]
    State(#[from] ehrchain_ledger::StateError),
}

impl From<EnvelopeError> for AccountError {
    fn from(e: EnvelopeError) -> Self {
        AccountError::Invalid(e.to_string())
    }
}

/// In-memory count of failed logins per login name.
#[derive(Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    fn check(&self, login: &str) -> Result<(), AccountError> {
        let map = self.failures.lock().expect("throttle lock");
        match map.get(login) {
            Some((n, at)) if *n >= MAX_FAILURES && at.elapsed() < LOCKOUT => {
                Err(AccountError::Locked)
            }
            _ => Ok(()),
        }
    }
    fn fail(&self, login: &str) {
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() > 100_000 {
            map.retain(|_, (_, at)| at.elapsed() < LOCKOUT);
        }
        let e = map.entry(login.to_owned()).or_insert((0, Instant::now()));
        if e.1.elapsed() >= LOCKOUT {
            *e = (0, Instant::now());
        }
        e.0 += 1;
        e.1 = Instant::now();
    }
    fn succeed(&self, login: &str) {
        self.failures.lock().expect("throttle lock").remove(login);
    }
}

fn check_login(login: &str) -> Result<(), AccountError> {
    let ok = (3..=64).contains(&login.len())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadLogin)
    }
}

fn check_new(a: &NewAccount) -> Result<(), AccountError> {
    check_login(&a.login)?;
    if !(16..=64).contains(&a.salt.len()) {
        return Err(AccountError::Invalid("salt must be 16 to 64 bytes".into()));
    }
    if a.iterations < MIN_ITERATIONS || a.iterations > 10_000_000 {
        return Err(AccountError::Invalid(format!(
            "PBKDF2 iterations must be {MIN_ITERATIONS} to 10000000"
        )));
    }
    if a.backup.is_empty() || a.backup.len() > MAX_BACKUP {
        return Err(AccountError::Invalid(format!(
            "the key backup must be 1 to {MAX_BACKUP} bytes"
        )));
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn aad(login: &str) -> Vec<u8> {
    let mut a = b"ehrchain/account/".to_vec();
    a.extend_from_slice(login.as_bytes());
    a
}

impl Node {
    fn load_account(&self, login: &str) -> Result<Option<Account>, AccountError> {
        let Some(sealed) = self.inner.store.account(login)? else {
            return Ok(None);
        };
        let keys = self.inner.keys.read().expect("keys lock");
        let plain = small::open_value(&keys.persona, &aad(login), &sealed)
            .map_err(|e| AccountError::Invalid(format!("stored account {login}: {e}")))?;
        Account::from_bytes(plain.expose())
            .map(Some)
            .map_err(|e| AccountError::Invalid(format!("stored account {login}: {e}")))
    }

    fn save_account(&self, a: &Account) -> Result<(), AccountError> {
        let sealed = {
            let keys = self.inner.keys.read().expect("keys lock");
            small::seal_value(&keys.persona, &mut OsRng, &aad(&a.login), &a.to_bytes())
        };
        self.inner.store.put_account(&a.login, &sealed)?;
        Ok(())
    }

    /// Stores a registered patient's encrypted key backup under a login name. `signer` must be
    /// the patient (the request is signed with the key being backed up).
    pub fn create_patient_account(
        &self,
        signer: &PublicKey,
        new: NewAccount,
    ) -> Result<PatientId, AccountError> {
        check_new(&new)?;
        let pid = PatientId::of(signer);
        let patient = self.snapshot()?.patient(&pid)?.ok_or_else(|| {
            AccountError::Invalid("register the patient on the ledger first".into())
        })?;
        if patient.encrypt_key != new.encrypt_key {
            return Err(AccountError::Invalid(
                "the encryption key differs from the registered one".into(),
            ));
        }
        let _guard = self.inner.accounts_lock.lock().expect("accounts lock");
        if self.load_account(&new.login)?.is_some() {
            return Err(AccountError::Taken);
        }
        self.save_account(&Account {
            login: new.login,
            kind: AccountKind::Patient,
            sign_key: *signer,
            encrypt_key: new.encrypt_key,
            salt: new.salt,
            iterations: new.iterations,
            verifier: new.verifier,
            backup: new.backup,
            created_ms: now_ms(),
        })?;
        Ok(pid)
    }

    /// Records a staff member's request to join an organisation this node hosts. Returns the
    /// TOTP secret, shown to the person once, for their authenticator app.
    pub fn request_staff_account(
        &self,
        signer: &PublicKey,
        new: NewAccount,
        org: OrgId,
        role: Role,
        name: &str,
        licence: &str,
    ) -> Result<[u8; otp::SECRET_LEN], AccountError> {
        check_new(&new)?;
        if name.trim().is_empty()
            || name.len() > limits::MAX_NAME
            || licence.len() > limits::MAX_NAME
        {
            return Err(AccountError::Invalid(
                "give a name (at most 256 bytes) and a licence of at most 256 bytes".into(),
            ));
        }
        if !self.hosted_organisations().contains(&org) {
            return Err(AccountError::Invalid(format!(
                "organisation {org} is not hosted by this node; sign up at your organisation's node"
            )));
        }
        if self.snapshot()?.agent(&AgentId::of(signer))?.is_some() {
            return Err(AccountError::Invalid(
                "this key is already registered".into(),
            ));
        }
        let mut secret = [0u8; otp::SECRET_LEN];
        OsRng.fill_bytes(&mut secret);
        let _guard = self.inner.accounts_lock.lock().expect("accounts lock");
        if self.load_account(&new.login)?.is_some() {
            return Err(AccountError::Taken);
        }
        self.save_account(&Account {
            login: new.login,
            kind: AccountKind::Staff(StaffDetails {
                org,
                role,
                name: name.trim().to_owned(),
                licence: licence.to_owned(),
                totp_secret: secret,
                last_step: 0,
                approved: false,
            }),
            sign_key: *signer,
            encrypt_key: new.encrypt_key,
            salt: new.salt,
            iterations: new.iterations,
            verifier: new.verifier,
            backup: new.backup,
            created_ms: now_ms(),
        })?;
        Ok(secret)
    }

    /// The organisations `who` may approve staff for: every hosted one for the node operator,
    /// its own for an active org admin.
    fn approvable(&self, who: &PublicKey) -> Result<Vec<OrgId>, AccountError> {
        if *who == self.validator_key() {
            return Ok(self.hosted_organisations());
        }
        match self.snapshot()?.agent(&AgentId::of(who))? {
            Some(a) if a.is_active() && a.role == Role::OrgAdmin => Ok(vec![a.org]),
            _ => Err(AccountError::NotAllowed),
        }
    }

    /// Staff requests waiting for approval that `who` may approve.
    pub fn pending_staff(&self, who: &PublicKey) -> Result<Vec<Account>, AccountError> {
        let orgs = self.approvable(who)?;
        let mut out = Vec::new();
        for (login, _) in self.inner.store.accounts(100_000)? {
            if let Some(a) = self.load_account(&login)? {
                if let AccountKind::Staff(s) = &a.kind {
                    if !s.approved && orgs.contains(&s.org) {
                        out.push(a);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Approves a staff request: registers the agent on the ledger, signed with the
    /// organisation's key, and activates the account.
    pub async fn approve_staff(
        &self,
        who: &PublicKey,
        login: &str,
    ) -> Result<(AgentId, Committed), AccountError> {
        let orgs = self.approvable(who)?;
        let mut account = self.load_account(login)?.ok_or(AccountError::NotFound)?;
        let AccountKind::Staff(s) = &account.kind else {
            return Err(AccountError::NotFound);
        };
        if !orgs.contains(&s.org) {
            return Err(AccountError::NotAllowed);
        }
        if s.approved {
            return Err(AccountError::Invalid("already approved".into()));
        }
        let committed = self
            .register_agent_for(
                s.org,
                s.role,
                &s.name,
                &s.licence,
                account.sign_key,
                account.encrypt_key,
            )
            .await?;
        if let ehrchain_types::Outcome::Rejected(r) = &committed.outcome {
            return Err(AccountError::Invalid(format!(
                "the ledger refused the registration: {}",
                r.code()
            )));
        }
        let _guard = self.inner.accounts_lock.lock().expect("accounts lock");
        if let AccountKind::Staff(s) = &mut account.kind {
            s.approved = true;
        }
        self.save_account(&account)?;
        Ok((AgentId::of(&account.sign_key), committed))
    }

    /// Declines a staff request that is still pending: the account is deleted and nothing
    /// reaches the ledger.
    pub fn decline_staff(&self, who: &PublicKey, login: &str) -> Result<(), AccountError> {
        let orgs = self.approvable(who)?;
        let _guard = self.inner.accounts_lock.lock().expect("accounts lock");
        let account = self.load_account(login)?.ok_or(AccountError::NotFound)?;
        match &account.kind {
            AccountKind::Staff(s) if !s.approved && orgs.contains(&s.org) => {
                self.inner.store.delete_account(login)?;
                Ok(())
            }
            AccountKind::Staff(s) if !orgs.contains(&s.org) => Err(AccountError::NotAllowed),
            _ => Err(AccountError::NotFound),
        }
    }

    /// The PBKDF2 salt and iterations for a login name. An unknown name gets a salt derived
    /// from it under the node's key, so the answer does not say which names exist.
    pub fn login_params(&self, login: &str) -> Result<(Vec<u8>, u32), AccountError> {
        check_login(login)?;
        if let Some(a) = self.load_account(login)? {
            return Ok((a.salt, a.iterations));
        }
        let keys = self.inner.keys.read().expect("keys lock");
        let fake = small::blind_index(&keys.persona, b"ehrchain/account/salt", login.as_bytes());
        Ok((fake.as_bytes()[..16].to_vec(), MIN_ITERATIONS))
    }

    /// Checks a login (the auth key, and for staff a TOTP code) and answers the account, whose
    /// backup the browser then decrypts with the wrap key.
    pub fn login(
        &self,
        login: &str,
        auth_key: &[u8],
        totp: Option<u32>,
    ) -> Result<Account, AccountError> {
        check_login(login)?;
        self.inner.throttle.check(login)?;
        let _guard = self.inner.accounts_lock.lock().expect("accounts lock");
        let fail = |e: AccountError| -> Result<Account, AccountError> {
            self.inner.throttle.fail(login);
            Err(e)
        };
        let Some(mut account) = self.load_account(login)? else {
            return fail(AccountError::BadCredentials);
        };
        if sha256(auth_key) != account.verifier {
            return fail(AccountError::BadCredentials);
        }
        if let AccountKind::Staff(s) = &mut account.kind {
            let Some(code) = totp else {
                return fail(AccountError::BadCredentials);
            };
            match otp::matching_step(&s.totp_secret, code, now_ms() / 1000) {
                Some(step) if step > s.last_step => s.last_step = step,
                _ => return fail(AccountError::BadCredentials),
            }
            if !s.approved {
                return Err(AccountError::Pending);
            }
            let active = self
                .snapshot()?
                .agent(&AgentId::of(&account.sign_key))?
                .is_some_and(|a| a.is_active());
            self.save_account(&account)?;
            if !active {
                return Err(AccountError::Revoked);
            }
        }
        self.inner.throttle.succeed(login);
        Ok(account)
    }
}

impl Canonical for Account {
    fn encode(&self, enc: &mut Encoder) {
        enc.u8(1); // version
        enc.str(&self.login);
        match &self.kind {
            AccountKind::Patient => enc.u8(1),
            AccountKind::Staff(s) => {
                enc.u8(2);
                enc.value(&s.org);
                enc.value(&s.role);
                enc.str(&s.name);
                enc.str(&s.licence);
                enc.fixed(&s.totp_secret);
                enc.u64(s.last_step);
                enc.bool(s.approved);
            }
        }
        enc.value(&self.sign_key);
        enc.value(&self.encrypt_key);
        enc.bytes(&self.salt);
        enc.u32(self.iterations);
        enc.value(&self.verifier);
        enc.bytes(&self.backup);
        enc.u64(self.created_ms);
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        if dec.u8("account version")? != 1 {
            return Err(DecodeError::Invalid("account version"));
        }
        let login = dec.str(64, "login")?.to_owned();
        let kind = match dec.u8("account kind")? {
            1 => AccountKind::Patient,
            2 => AccountKind::Staff(StaffDetails {
                org: dec.value()?,
                role: dec.value()?,
                name: dec.str(limits::MAX_NAME, "name")?.to_owned(),
                licence: dec.str(limits::MAX_NAME, "licence")?.to_owned(),
                totp_secret: dec.array("totp secret")?,
                last_step: dec.u64("last step")?,
                approved: dec.bool("approved")?,
            }),
            tag => {
                return Err(DecodeError::UnknownTag {
                    field: "account kind",
                    tag,
                })
            }
        };
        Ok(Account {
            login,
            kind,
            sign_key: dec.value()?,
            encrypt_key: dec.value()?,
            salt: dec.bytes(64, "salt")?.to_vec(),
            iterations: dec.u32("iterations")?,
            verifier: dec.value()?,
            backup: dec.bytes(MAX_BACKUP, "backup")?.to_vec(),
            created_ms: dec.u64("created")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrchain_crypto::Identity;

    // A stored account decodes to what was stored, for both kinds; damage is refused.
    #[test]
    fn accounts_round_trip_and_refuse_trailing_bytes() {
        let id = Identity::generate(&mut OsRng);
        let patient = Account {
            login: "alice".into(),
            kind: AccountKind::Patient,
            sign_key: id.public().sign,
            encrypt_key: id.public().encrypt,
            salt: vec![1; 16],
            iterations: MIN_ITERATIONS,
            verifier: sha256(b"auth"),
            backup: vec![2; 92],
            created_ms: 42,
        };
        let staff = Account {
            login: "dr.rao".into(),
            kind: AccountKind::Staff(StaffDetails {
                org: OrgId::from_bytes([3; 16]),
                role: Role::Doctor,
                name: "Dr Rao".into(),
                licence: "MED-1".into(),
                totp_secret: [4; otp::SECRET_LEN],
                last_step: 56_666_666,
                approved: true,
            }),
            ..patient.clone()
        };
        for a in [patient, staff] {
            let bytes = a.to_bytes();
            assert_eq!(Account::from_bytes(&bytes).unwrap(), a);
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Account::from_bytes(&longer).is_err());
            assert!(Account::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        }
    }

    #[test]
    fn login_names_are_checked() {
        for ok in ["alice", "dr.rao", "a_b-c@example.org", "abc"] {
            assert!(check_login(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ab", "has space", "ünï", "a/b", &"x".repeat(65)] {
            assert!(check_login(bad).is_err(), "{bad:?}");
        }
    }
}
