//! Which key generations still verify SIDs, so that a session no kept key
//! can verify stops holding a quota slot.
//!
//! Each SID is signed by the key of one generation (one `safe_password`).
//! A session records the generation that signed its SID
//! ([`Session::signer`](crate::Session::signer)); the policy lists the
//! generations the deployment still holds ([`Policy::signers`](crate::Policy::signers)).
//! A session signed by a generation no longer held can never be presented
//! again, so [`decide`](crate::decide) does not count it: an emergency
//! rotation (a new password, no previous one) does not lock users out of
//! their quota. Such sessions are not deleted either — a server given a
//! mistyped password must not wipe the store — they expire as usual, or
//! are ended all at once by an administrator.

/// The identifier of one key generation: 4 bytes derived from its key,
/// never the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyGeneration(u32);

impl KeyGeneration {
    /// The generation with this identifier.
    pub const fn new(id: u32) -> Self {
        Self(id)
    }

    /// Its identifier.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// The key generations a deployment holds, or "unknown" (the default):
/// then every session counts, as before generations were recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Signers {
    ids: [u32; Signers::MAX],
    len: u8,
}

impl Signers {
    /// The most generations a policy can list: the current key and 15
    /// previous ones. With more, nothing is known ([`Signers::default`]).
    pub const MAX: usize = 16;

    /// The generations in `held`, or `None` when there are more than
    /// [`Signers::MAX`] or none.
    pub fn new(held: impl IntoIterator<Item = KeyGeneration>) -> Option<Self> {
        let mut out = Self::default();
        for generation in held {
            let slot = out.ids.get_mut(usize::from(out.len))?;
            *slot = generation.get();
            out.len += 1;
        }
        (out.len > 0).then_some(out)
    }

    /// The generations held; empty when unknown.
    pub fn ids(&self) -> &[u32] {
        &self.ids[..usize::from(self.len)]
    }

    /// Whether a session signed by `signer` counts toward its subject's
    /// quota: always when the generations are unknown or the session's
    /// signer is (it was created before signers were recorded, or imported
    /// under a SID of another system); else only when its generation is
    /// held.
    pub fn counts(&self, signer: Option<KeyGeneration>) -> bool {
        self.len == 0 || signer.is_none_or(|g| self.ids().contains(&g.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_signers_count_everything_and_known_ones_only_their_own() {
        let unknown = Signers::default();
        assert!(unknown.counts(None));
        assert!(unknown.counts(Some(KeyGeneration::new(7))));
        let held = Signers::new([KeyGeneration::new(1), KeyGeneration::new(2)]).unwrap();
        assert_eq!(held.ids(), &[1, 2]);
        assert!(held.counts(Some(KeyGeneration::new(2))));
        assert!(!held.counts(Some(KeyGeneration::new(3))));
        assert!(held.counts(None));
    }

    #[test]
    fn too_many_or_no_generations_are_unknown() {
        assert!(Signers::new([]).is_none());
        assert!(Signers::new((0..16).map(KeyGeneration::new)).is_some());
        assert!(Signers::new((0..17).map(KeyGeneration::new)).is_none());
    }
}
