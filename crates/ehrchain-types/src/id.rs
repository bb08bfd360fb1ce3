//! Identifiers: actors' ids derived from their signing keys, random record and grant ids, heights
//! and block-time timestamps. An actor id is a truncated hash of a random public key, so a
//! patient's pseudonym reveals nothing about the person.

use std::fmt;
use std::str::FromStr;

use ehrchain_crypto::{sha256, PublicKey};

use crate::codec::{Canonical, DecodeError, Decoder, Encoder};

/// Why an identifier's text form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind}: expected `{prefix}` followed by 32 hex digits")]
pub struct ParseIdError {
    pub kind: &'static str,
    pub prefix: &'static str,
}

macro_rules! id16 {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; 16]);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let err = ParseIdError { kind: $kind, prefix: $prefix };
                let hex_part = s.strip_prefix($prefix).ok_or(err.clone())?;
                let mut out = [0u8; 16];
                hex::decode_to_slice(hex_part, &mut out).map_err(|_| err)?;
                Ok(Self(out))
            }
        }

        impl Canonical for $name {
            fn encode(&self, enc: &mut Encoder) {
                enc.fixed(&self.0);
            }
            fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                Ok(Self(dec.array($kind)?))
            }
        }
    };
}

id16!(
    /// A patient's pseudonym on the ledger.
    PatientId, "pt_", "patient id"
);
id16!(
    /// A staff member (doctor, nurse, …) of an organisation.
    AgentId, "ag_", "agent id"
);
id16!(
    /// A member organisation of the consortium.
    OrgId, "org_", "organisation id"
);
id16!(
    /// A record, chosen at random by its author's client; versions of a record have distinct ids.
    RecordId, "rec_", "record id"
);
id16!(
    /// A grant, chosen at random by the patient's client.
    GrantId, "gr_", "grant id"
);

fn derive(namespace: &[u8], key: &PublicKey) -> [u8; 16] {
    let mut input = Vec::with_capacity(namespace.len() + 32);
    input.extend_from_slice(namespace);
    input.extend_from_slice(key.as_bytes());
    let digest = sha256(&input);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest.as_bytes()[..16]);
    out
}

impl PatientId {
    pub fn of(key: &PublicKey) -> Self {
        Self(derive(b"ehrchain/id/patient", key))
    }
}

impl AgentId {
    pub fn of(key: &PublicKey) -> Self {
        Self(derive(b"ehrchain/id/agent", key))
    }
}

impl OrgId {
    pub fn of(key: &PublicKey) -> Self {
        Self(derive(b"ehrchain/id/organisation", key))
    }
}

/// A block's position in the chain; the first block after genesis has height 1.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Height(pub u64);

impl Height {
    pub fn next(self) -> Height {
        Height(self.0 + 1)
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Canonical for Height {
    fn encode(&self, enc: &mut Encoder) {
        enc.u64(self.0);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Height(dec.u64("height")?))
    }
}

/// Milliseconds since the Unix epoch, as carried by block headers. The core reads no clock: every
/// time it judges by comes from here.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1000)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl Canonical for Timestamp {
    fn encode(&self, enc: &mut Encoder) {
        enc.u64(self.0);
    }
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Timestamp(dec.u64("timestamp")?))
    }
}
