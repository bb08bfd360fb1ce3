//! Containers for secret bytes that never print and are wiped from memory when dropped.

use std::fmt;

use rand_core::CryptoRngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A fixed-size secret: zeroized on drop, `Debug` prints `[REDACTED]`.
///
/// Deliberately not `PartialEq`: comparing secrets with `==` would not be constant-time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes<const N: usize>([u8; N]);

impl<const N: usize> SecretBytes<N> {
    /// Takes ownership of `bytes`. The caller's copy (if any) is not wiped.
    pub fn new(bytes: [u8; N]) -> Self {
        Self(bytes)
    }

    /// Fresh random bytes.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut s = Self([0u8; N]);
        rng.fill_bytes(&mut s.0);
        s
    }

    /// The secret bytes; keep the borrow short and copy nothing you do not wipe.
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }

    /// Lets the crate decrypt or derive directly into a wiped location.
    pub(crate) fn expose_mut(&mut self) -> &mut [u8; N] {
        &mut self.0
    }
}

impl<const N: usize> fmt::Debug for SecretBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A variable-length secret: zeroized (whole capacity) on drop, `Debug` prints `[REDACTED]`.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretVec(Vec<u8>);

impl SecretVec {
    /// Takes ownership of `bytes`. Copies left behind by earlier reallocations are not wiped,
    /// so build the vector with its final capacity.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretVec {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for SecretVec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::new([0x41u8; 32]);
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(
            format!("{:?}", SecretVec::from_slice(b"hunter2")),
            "[REDACTED]"
        );
        assert_eq!(format!("{:#?}", SecretVec::default()), "[REDACTED]");
    }

    #[test]
    fn expose_and_clone() {
        let s = SecretBytes::new([7u8; 4]);
        assert_eq!(s.clone().expose(), &[7u8; 4]);
        let v = SecretVec::new(b"abc".to_vec());
        assert_eq!(v.clone().expose(), b"abc");
        assert_eq!(v.len(), 3);
        assert!(!v.is_empty());
    }

    #[test]
    fn zeroize_wipes() {
        let mut s = SecretBytes::new([9u8; 16]);
        s.zeroize();
        assert_eq!(s.expose(), &[0u8; 16]);
        let mut v = SecretVec::from_slice(&[1, 2, 3]);
        v.zeroize();
        assert!(v.is_empty());
    }

    #[test]
    fn random_differs() {
        let a = SecretBytes::<32>::random(&mut OsRng);
        let b = SecretBytes::<32>::random(&mut OsRng);
        assert_ne!(a.expose(), b.expose());
    }
}
