//! The pairwise Double Ratchet session.
//!
//! A [`Session`] is started by a key agreement — [`crate::v1_1`] (upstream interop) or
//! [`crate::x3dh`] (talos-v2) — and then exchanges [`Message`]s. Getters (`&self`):
//! [`version`](Session::version), [`associated_data`](Session::associated_data),
//! [`has_received`](Session::has_received), [`config`](Session::config),
//! [`skipped_keys`](Session::skipped_keys), [`our_ratchet_key`](Session::our_ratchet_key),
//! [`their_ratchet_key`](Session::their_ratchet_key). Commands: [`encrypt`](Session::encrypt),
//! [`decrypt`](Session::decrypt), [`set_config`](Session::set_config). Persistence:
//! [`snapshot`](Session::snapshot) and [`restore`](Session::restore) (module
//! [`crate::snapshot`]).
//!
//! # The algorithm
//!
//! Signal's Double Ratchet with the upstream Talos KDFs ([`crate::kdf`]), ChaCha20-Poly1305
//! with a random 12-byte nonce carried in the message, and the AAD `canon(header)` (talos-v1.1)
//! or `AD ‖ canon(header)` (talos-v2).
//!
//! - **Deferred ratchet keys.** When a message with a new ratchet key arrives, decrypt does
//!   the receiving half of the DH-ratchet step (`PN = Ns`, `Ns = Nr = 0`, `DHr = header.dh`,
//!   `(RK, CKr) = KDF_RK(RK, DH(DHs, DHr))`) and forgets `DHs`; the next [`encrypt`]
//!   generates the new ratchet key and does the sending half (`(RK, CKs) = KDF_RK(RK,
//!   DH(DHs', DHr))`). Signal's specification allows this. The upstream Python decrypts
//!   eagerly (it generates `DHs'` inside decrypt), and both produce the same keys and bytes as
//!   long as the secret generated at that decrypt is the one we generate at the next send —
//!   which is how the conformance runner replays upstream traces. So decrypt needs no RNG.
//!   While the new key is pending, no honest peer can use another new key (it has not seen
//!   ours yet), so such a message is refused.
//! - **Transactional decrypt.** Decrypt computes every change (skipped keys, new chain and
//!   root keys, counters) into locals, and commits them only after the AEAD tag verified. A
//!   forged, replayed or malformed message returns an error and leaves the session exactly as
//!   it was; a stored skipped key is removed only by the message that decrypts with it.
//! - **Skipped keys.** A message may skip at most [`MAX_SKIP`] = 1000 keys of one chain
//!   (exactly 1000 is allowed, 1001 fails with [`DecryptError::TooManySkipped`]), counted
//!   separately for the old chain (up to `pn`) and the new chain (up to `n`) of a DH step.
//!   The session stores at most [`SessionConfig::max_skipped_keys`] (default 2000) keys in
//!   all; storing more evicts the **oldest stored key** first (FIFO), so a long session never
//!   wedges: a message whose key was evicted fails with [`DecryptError::Duplicate`], and
//!   later messages still decrypt. Lookup is O(1); skipping `n` keys costs `n` KDF steps.
//! - **Keys.** Every DH output is checked to be contributory (a small-order peer key is
//!   [`DecryptError::InvalidDhKey`]). Our ratchet public key is computed once, when its
//!   secret is made. All secrets zeroize on drop; `Debug` shows public keys and counters only.
//!
//! ```
//! use talos_crypto::{SigningKey, x25519::StaticSecret};
//! use talos_ratchet::v1_1;
//! # use rand_chacha::rand_core::SeedableRng as _;
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
//!
//! let bob_identity = SigningKey::from_seed(&[2; 32]);
//! let bob_spk = StaticSecret::generate(&mut rng);
//! let bundle = v1_1::PrekeyBundle::new(&bob_identity, &bob_spk.public_key());
//!
//! let mut alice = v1_1::initiate(&bundle, &mut rng).unwrap();
//! let m1 = alice.encrypt(b"one", &mut rng).unwrap();
//! let m2 = alice.encrypt(b"two", &mut rng).unwrap();
//!
//! let (mut bob, first) = v1_1::accept(&bob_spk, &m2).unwrap(); // out of order
//! assert_eq!(&first[..], b"two");
//! assert_eq!(&bob.decrypt(&m1).unwrap()[..], b"one");
//! assert!(bob.decrypt(&m1).is_err()); // a replay changes nothing
//!
//! let reply = bob.encrypt(b"hi", &mut rng).unwrap();
//! assert_eq!(&alice.decrypt(&reply).unwrap()[..], b"hi");
//! ```
//!
//! [`encrypt`]: Session::encrypt

use core::fmt;

use talos_crypto::aead::ChaCha20Poly1305;
use talos_crypto::x25519::{PublicKey, StaticSecret};
use talos_crypto::{CryptoRng, ErrorCode, Zeroizing};

use crate::ProtocolVersion;
use crate::kdf::{ChainKey, MessageKey, RootKey, kdf_ck, kdf_rk};
use crate::message::{Header, MAX_CIPHERTEXT_LEN, Message, NONCE_LEN, TAG_LEN};

mod skipped;
pub(crate) use skipped::{SkipId, SkippedKeys};

/// Most message keys one message may skip in one chain (upstream `MAX_SKIP`).
pub const MAX_SKIP: u32 = 1000;

/// Default bound on the skipped message keys a session stores.
pub const DEFAULT_MAX_SKIPPED_KEYS: usize = 2000;

/// Largest value [`SessionConfig::set_max_skipped_keys`] accepts (larger values are clamped).
pub const MAX_SKIPPED_KEYS_LIMIT: usize = 100_000;

/// Longest plaintext a message may carry.
pub const MAX_PLAINTEXT_LEN: usize = MAX_CIPHERTEXT_LEN - TAG_LEN;

/// Tunables of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    max_skipped_keys: usize,
}

impl Default for SessionConfig {
    /// At most [`DEFAULT_MAX_SKIPPED_KEYS`] stored skipped keys.
    fn default() -> Self {
        Self {
            max_skipped_keys: DEFAULT_MAX_SKIPPED_KEYS,
        }
    }
}

impl SessionConfig {
    /// How many skipped message keys the session stores at most; beyond that the oldest
    /// stored key is evicted. Clamped to [`MAX_SKIPPED_KEYS_LIMIT`]. `0` stores none (every
    /// out-of-order message then fails).
    pub fn set_max_skipped_keys(&mut self, max: usize) -> &mut Self {
        self.max_skipped_keys = max.min(MAX_SKIPPED_KEYS_LIMIT);
        self
    }

    /// The bound on stored skipped keys.
    #[must_use]
    pub const fn max_skipped_keys(&self) -> usize {
        self.max_skipped_keys
    }
}

/// Our ratchet key pair, with the public key computed once.
#[derive(Clone)]
pub(crate) struct RatchetKeyPair {
    pub(crate) secret: StaticSecret,
    pub(crate) public: PublicKey,
}

impl RatchetKeyPair {
    pub(crate) fn new(secret: StaticSecret) -> Self {
        let public = secret.public_key();
        Self { secret, public }
    }
}

/// A pairwise Double Ratchet session (see the [module docs](self)).
///
/// It is deliberately neither `Clone` nor `Serialize`: two copies would reuse message keys.
/// Persist it with [`Session::snapshot`].
pub struct Session {
    pub(crate) version: ProtocolVersion,
    pub(crate) ad: Vec<u8>,
    pub(crate) root: RootKey,
    /// Our ratchet key: the current sending one, or the responder's signed prekey before its
    /// first message; `None` after a receiving DH step until the next send.
    pub(crate) dhs: Option<RatchetKeyPair>,
    pub(crate) dhr: Option<PublicKey>,
    pub(crate) cks: Option<ChainKey>,
    pub(crate) ckr: Option<ChainKey>,
    pub(crate) ns: u32,
    pub(crate) nr: u32,
    pub(crate) pn: u32,
    pub(crate) has_received: bool,
    pub(crate) skipped: SkippedKeys,
}

/// Every secret field (root and chain keys, ratchet secret, skipped keys) wipes itself.
impl zeroize::ZeroizeOnDrop for Session {}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("version", &self.version)
            .field("our_ratchet_key", &self.our_ratchet_key())
            .field("their_ratchet_key", &self.dhr)
            .field("ns", &self.ns)
            .field("nr", &self.nr)
            .field("pn", &self.pn)
            .field("has_received", &self.has_received)
            .field("skipped_keys", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Initiator after a key agreement: `(RK, CKs) = KDF_RK(root_key, DH(our_ratchet,
    /// their_ratchet))`; `DHs = our_ratchet`, `DHr = their_ratchet`, `CKr = None`,
    /// `Ns = Nr = PN = 0`.
    pub(crate) fn initiator(
        version: ProtocolVersion,
        root_key: Zeroizing<[u8; 32]>,
        associated_data: Vec<u8>,
        our_ratchet: StaticSecret,
        their_ratchet: &PublicKey,
    ) -> Result<Self, SessionError> {
        let shared = our_ratchet
            .diffie_hellman(their_ratchet)
            .map_err(|_| SessionError::InvalidDhKey)?;
        let (root, cks) = kdf_rk(&RootKey::from_bytes(*root_key), shared.as_bytes());
        Ok(Self {
            version,
            ad: associated_data,
            root,
            dhs: Some(RatchetKeyPair::new(our_ratchet)),
            dhr: Some(*their_ratchet),
            cks: Some(cks),
            ckr: None,
            ns: 0,
            nr: 0,
            pn: 0,
            has_received: false,
            skipped: SkippedKeys::new(DEFAULT_MAX_SKIPPED_KEYS),
        })
    }

    /// Responder: `RK = root_key`, `DHs = our_ratchet` (the signed prekey pair), `DHr = None`,
    /// `CKs = CKr = None`. The first decrypt performs the DH-ratchet step.
    pub(crate) fn responder(
        version: ProtocolVersion,
        root_key: Zeroizing<[u8; 32]>,
        associated_data: Vec<u8>,
        our_ratchet: StaticSecret,
    ) -> Self {
        Self {
            version,
            ad: associated_data,
            root: RootKey::from_bytes(*root_key),
            dhs: Some(RatchetKeyPair::new(our_ratchet)),
            dhr: None,
            cks: None,
            ckr: None,
            ns: 0,
            nr: 0,
            pn: 0,
            has_received: false,
            skipped: SkippedKeys::new(DEFAULT_MAX_SKIPPED_KEYS),
        }
    }

    /// The protocol this session speaks.
    #[must_use]
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The associated data `AD` bound into every message (empty for talos-v1.1).
    #[must_use]
    pub fn associated_data(&self) -> &[u8] {
        &self.ad
    }

    /// True once a message from the peer has decrypted (until then an X3DH initiator keeps
    /// sending its initial header with every message).
    #[must_use]
    pub fn has_received(&self) -> bool {
        self.has_received
    }

    /// The session's tunables.
    #[must_use]
    pub fn config(&self) -> SessionConfig {
        SessionConfig {
            max_skipped_keys: self.skipped.cap(),
        }
    }

    /// Changes the tunables; lowering the skipped-key bound evicts the oldest stored keys.
    pub fn set_config(&mut self, config: SessionConfig) {
        self.skipped.set_cap(config.max_skipped_keys);
    }

    /// How many skipped message keys are stored.
    #[must_use]
    pub fn skipped_keys(&self) -> usize {
        self.skipped.len()
    }

    /// Our current ratchet public key; `None` while a new one is due at the next send.
    #[must_use]
    pub fn our_ratchet_key(&self) -> Option<PublicKey> {
        self.dhs.as_ref().map(|k| k.public)
    }

    /// The peer's current ratchet public key, once known.
    #[must_use]
    pub fn their_ratchet_key(&self) -> Option<PublicKey> {
        self.dhr
    }

    /// Encrypts `plaintext` into the next message.
    ///
    /// Randomness consumed, in this order: 32 bytes for a new ratchet secret when a
    /// DH-ratchet step is due, then 12 bytes of nonce. On error the session is unchanged.
    ///
    /// # Errors
    /// [`EncryptError::NotReady`] for a responder that has not received yet;
    /// [`EncryptError::PlaintextTooLong`]; [`EncryptError::ChainExhausted`] after
    /// 2^32 − 1 messages in one chain.
    pub fn encrypt(
        &mut self,
        plaintext: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<Message, EncryptError> {
        self.encrypt_inner(plaintext, None, rng)
    }

    /// Decrypts `message`. On error the session is unchanged.
    ///
    /// # Errors
    /// [`DecryptError::DecryptionFailed`] for anything that does not authenticate (forged,
    /// corrupted, of another session or protocol version); [`DecryptError::Duplicate`] for a
    /// message whose key was already used or evicted; [`DecryptError::TooManySkipped`];
    /// [`DecryptError::InvalidDhKey`].
    pub fn decrypt(&mut self, message: &Message) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        self.decrypt_inner(message, None)
    }

    /// Like [`Session::encrypt`], but authenticates `aad` instead of the protocol's AAD.
    /// Not part of the stable API: only for replaying upstream legacy v1.0 traces, whose AAD
    /// is not `canon(header)`.
    #[doc(hidden)]
    pub fn encrypt_with_aad(
        &mut self,
        plaintext: &[u8],
        aad: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<Message, EncryptError> {
        self.encrypt_inner(plaintext, Some(aad), rng)
    }

    /// Like [`Session::decrypt`], but authenticates `aad` instead of the protocol's AAD.
    /// Not part of the stable API: only for replaying upstream legacy v1.0 traces.
    #[doc(hidden)]
    pub fn decrypt_with_aad(
        &mut self,
        message: &Message,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        self.decrypt_inner(message, Some(aad))
    }

    fn aad(&self, header: &Header) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ad.len() + 96);
        if self.version != ProtocolVersion::V1_1 {
            out.extend_from_slice(&self.ad);
        }
        header.write_canonical_json(&mut out);
        out
    }

    fn encrypt_inner(
        &mut self,
        plaintext: &[u8],
        aad_override: Option<&[u8]>,
        rng: &mut impl CryptoRng,
    ) -> Result<Message, EncryptError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(EncryptError::PlaintextTooLong {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        if self.ns == u32::MAX {
            return Err(EncryptError::ChainExhausted);
        }
        // The sending half of a DH-ratchet step, if due; committed below.
        let step = match (&self.cks, &self.dhs) {
            (Some(_), Some(_)) => None,
            _ => {
                let dhr = self.dhr.ok_or(EncryptError::NotReady)?;
                let pair = RatchetKeyPair::new(StaticSecret::generate(rng));
                let shared = pair
                    .secret
                    .diffie_hellman(&dhr)
                    .map_err(|_| EncryptError::InvalidDhKey)?;
                let (root, cks) = kdf_rk(&self.root, shared.as_bytes());
                Some((pair, root, cks))
            }
        };
        let (ck, dh) = match (&step, &self.cks, &self.dhs) {
            (Some((pair, _, cks)), _, _) => (cks, pair.public),
            (None, Some(cks), Some(pair)) => (cks, pair.public),
            _ => return Err(EncryptError::NotReady),
        };
        let (mk, next_ck) = kdf_ck(ck);
        let header = Header {
            dh,
            n: self.ns,
            pn: self.pn,
        };
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut ciphertext = Vec::with_capacity(plaintext.len() + TAG_LEN);
        ciphertext.extend_from_slice(plaintext);
        let cipher = ChaCha20Poly1305::new(mk.as_bytes());
        let sealed = match aad_override {
            Some(aad) => cipher.seal_in_place(&nonce, aad, &mut ciphertext),
            None => cipher.seal_in_place(&nonce, &self.aad(&header), &mut ciphertext),
        };
        if sealed.is_err() {
            // Only for inputs beyond the cipher's limit, which the length check excludes.
            zeroize::Zeroize::zeroize(&mut ciphertext);
            return Err(EncryptError::PlaintextTooLong {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        // Commit.
        if let Some((pair, root, _)) = step {
            self.dhs = Some(pair);
            self.root = root;
        }
        self.cks = Some(next_ck);
        self.ns += 1;
        Ok(Message {
            header,
            nonce,
            ciphertext,
        })
    }

    fn decrypt_inner(
        &mut self,
        message: &Message,
        aad_override: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let header = &message.header;
        if message.ciphertext.len() < TAG_LEN || message.ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(DecryptError::DecryptionFailed);
        }
        let own_aad;
        let aad = if let Some(aad) = aad_override {
            aad
        } else {
            own_aad = self.aad(header);
            &own_aad
        };

        // 1. A stored skipped key: removed only once it decrypted.
        let id: SkipId = (header.dh.to_bytes(), header.n);
        if let Some(mk) = self.skipped.get(&id) {
            let plaintext = open(mk, message, aad)?;
            self.skipped.remove(&id);
            self.has_received = true;
            return Ok(plaintext);
        }
        if header.n == u32::MAX {
            // No sender goes that far (it stops at u32::MAX - 1), and Nr could not follow.
            return Err(DecryptError::DecryptionFailed);
        }

        // 2. The current receiving chain.
        if self.dhr == Some(header.dh) {
            let ckr = self.ckr.as_ref().ok_or(DecryptError::DecryptionFailed)?;
            if header.n < self.nr {
                return Err(DecryptError::Duplicate);
            }
            check_gap(self.nr, header.n)?;
            let mut pending = Vec::new();
            let skipped = skip(ckr, &id.0, self.nr, header.n, &mut pending);
            let (mk, next_ck) = kdf_ck(skipped.as_ref().unwrap_or(ckr));
            let plaintext = open(&mk, message, aad)?;
            // Commit.
            self.ckr = Some(next_ck);
            self.nr = header.n + 1;
            for (id, key) in pending {
                self.skipped.insert(id, key);
            }
            self.has_received = true;
            return Ok(plaintext);
        }

        // 3. A new ratchet key from the peer: the receiving half of a DH-ratchet step.
        let Some(dhs) = &self.dhs else {
            // Our new ratchet key is still due: no honest peer can have answered it.
            return Err(DecryptError::DecryptionFailed);
        };
        let old_chain = match (&self.ckr, &self.dhr) {
            (Some(ckr), Some(dhr)) if header.pn > self.nr => {
                check_gap(self.nr, header.pn)?;
                Some((ckr, dhr.to_bytes()))
            }
            _ => None,
        };
        check_gap(0, header.n)?;
        let shared = dhs
            .secret
            .diffie_hellman(&header.dh)
            .map_err(|_| DecryptError::InvalidDhKey)?;
        let (root, new_ckr) = kdf_rk(&self.root, shared.as_bytes());
        let mut pending = Vec::new();
        if let Some((ckr, dhr)) = old_chain {
            let _old_chain_end = skip(ckr, &dhr, self.nr, header.pn, &mut pending);
        }
        let skipped = skip(&new_ckr, &id.0, 0, header.n, &mut pending);
        let (mk, next_ck) = kdf_ck(skipped.as_ref().unwrap_or(&new_ckr));
        let plaintext = open(&mk, message, aad)?;
        // Commit.
        self.pn = self.ns;
        self.ns = 0;
        self.cks = None;
        self.dhs = None;
        self.dhr = Some(header.dh);
        self.root = root;
        self.ckr = Some(next_ck);
        self.nr = header.n + 1;
        for (id, key) in pending {
            self.skipped.insert(id, key);
        }
        self.has_received = true;
        Ok(plaintext)
    }
}

/// `until - from` keys may be skipped: at most [`MAX_SKIP`].
fn check_gap(from: u32, until: u32) -> Result<(), DecryptError> {
    let gap = until.saturating_sub(from);
    if gap > MAX_SKIP {
        return Err(DecryptError::TooManySkipped {
            gap: u64::from(gap),
            limit: MAX_SKIP,
        });
    }
    Ok(())
}

/// Derives the message keys `from..until` of the chain whose key at index `from` is `ck`
/// into `pending`, and returns the chain key at index `until` (`None`: it is `ck` itself).
fn skip(
    ck: &ChainKey,
    dh: &[u8; 32],
    from: u32,
    until: u32,
    pending: &mut Vec<(SkipId, MessageKey)>,
) -> Option<ChainKey> {
    if until <= from {
        return None;
    }
    pending.reserve((until - from) as usize);
    let (mk, mut ck) = kdf_ck(ck);
    pending.push(((*dh, from), mk));
    for i in from + 1..until {
        let (mk, next) = kdf_ck(&ck);
        pending.push(((*dh, i), mk));
        ck = next;
    }
    Some(ck)
}

fn open(
    mk: &MessageKey,
    message: &Message,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let mut buffer = Zeroizing::new(message.ciphertext.clone());
    ChaCha20Poly1305::new(mk.as_bytes())
        .open_in_place(&message.nonce, aad, &mut buffer)
        .map_err(|_| DecryptError::DecryptionFailed)?;
    Ok(buffer)
}

/// A session could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer's ratchet key has small order (the DH output is all zeros). Reject the peer.
    #[error("invalid dh key: the peer's ratchet key has small order")]
    InvalidDhKey,
}

/// A message could not be encrypted. The session is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// A responder sends only after the initiator's first message decrypted.
    #[error("cannot send yet: no message from the peer has been received")]
    NotReady,
    /// The plaintext is longer than [`MAX_PLAINTEXT_LEN`]. Split it.
    #[error("plaintext too long: {len} bytes, limit {max}")]
    PlaintextTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// 2^32 − 1 messages were sent in this chain without a reply. Start a new session.
    #[error("sending chain exhausted: start a new session")]
    ChainExhausted,
    /// The peer's ratchet key has small order. Reject the peer.
    #[error("invalid dh key: the peer's ratchet key has small order")]
    InvalidDhKey,
}

/// A message was rejected. The session is unchanged in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The message skips more than [`MAX_SKIP`] keys of one chain. Treat the peer as broken
    /// (upstream `RATCHET_MAX_SKIP_EXCEEDED`).
    #[error("too many skipped messages: gap {gap}, limit {limit}")]
    TooManySkipped {
        /// Keys the message would skip.
        gap: u64,
        /// The limit.
        limit: u32,
    },
    /// The message did not authenticate: forged, corrupted, or of another session or
    /// protocol version. Deliberately without detail (upstream `RATCHET_AUTH_FAILED`).
    #[error("decryption failed")]
    DecryptionFailed,
    /// The message's key was already used, or evicted from the skipped keys: a duplicate, a
    /// replay, or a message older than every stored key. Drop it.
    #[error("decryption failed: duplicate or expired message")]
    Duplicate,
    /// The peer's ratchet key has small order (upstream `RATCHET_INVALID_DH_KEY`).
    #[error("invalid dh key: the peer's ratchet key has small order")]
    InvalidDhKey,
}

impl DecryptError {
    /// The upstream error code: `RATCHET_MAX_SKIP_EXCEEDED`, `RATCHET_INVALID_DH_KEY` or
    /// `RATCHET_AUTH_FAILED`.
    #[must_use]
    pub const fn upstream_code(&self) -> &'static str {
        match self {
            Self::TooManySkipped { .. } => "RATCHET_MAX_SKIP_EXCEEDED",
            Self::InvalidDhKey => "RATCHET_INVALID_DH_KEY",
            Self::DecryptionFailed | Self::Duplicate => "RATCHET_AUTH_FAILED",
        }
    }
}

impl From<&DecryptError> for ErrorCode {
    fn from(err: &DecryptError) -> Self {
        match err {
            DecryptError::TooManySkipped { .. } => Self::InvalidInput,
            _ => Self::CryptoError,
        }
    }
}

impl From<&EncryptError> for ErrorCode {
    fn from(_: &EncryptError) -> Self {
        Self::InvalidInput
    }
}

impl From<&SessionError> for ErrorCode {
    fn from(_: &SessionError) -> Self {
        Self::CryptoError
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng as _;
    use zeroize::ZeroizeOnDrop;

    use super::*;

    /// A V2-style pair (initiator, responder) from fixed keys.
    fn pair(version: ProtocolVersion, ad: &[u8], rng: &mut ChaCha20Rng) -> (Session, Session) {
        let spk = StaticSecret::generate(rng);
        let ek = StaticSecret::generate(rng);
        let alice = Session::initiator(
            version,
            Zeroizing::new([5; 32]),
            ad.to_vec(),
            ek,
            &spk.public_key(),
        )
        .unwrap();
        let bob = Session::responder(version, Zeroizing::new([5; 32]), ad.to_vec(), spk);
        (alice, bob)
    }

    #[test]
    fn aad_binds_version_and_associated_data() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let (mut alice, mut bob) = pair(ProtocolVersion::V2, b"IK_A || IK_B", &mut rng);
        let m = alice.encrypt(b"v2", &mut rng).unwrap();
        let mut aad = b"IK_A || IK_B".to_vec();
        m.header.write_canonical_json(&mut aad);
        assert_eq!(alice.aad(&m.header), aad);
        assert_eq!(&bob.decrypt(&m).unwrap()[..], b"v2");

        // Same keys, other version or other AD: the message does not authenticate.
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let (_, mut bob_v1) = pair(ProtocolVersion::V1_1, b"IK_A || IK_B", &mut rng);
        assert_eq!(
            bob_v1.decrypt(&m).unwrap_err(),
            DecryptError::DecryptionFailed
        );
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let (_, mut bob_ad) = pair(ProtocolVersion::V2, b"someone else", &mut rng);
        assert_eq!(
            bob_ad.decrypt(&m).unwrap_err(),
            DecryptError::DecryptionFailed
        );
        assert_eq!(bob.version(), ProtocolVersion::V2);
        assert_eq!(bob.associated_data(), b"IK_A || IK_B");
    }

    #[test]
    fn small_order_peer_key_is_refused_at_start() {
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        let err = Session::initiator(
            ProtocolVersion::V2,
            Zeroizing::new([0; 32]),
            Vec::new(),
            StaticSecret::generate(&mut rng),
            &PublicKey::from_bytes([0; 32]),
        )
        .unwrap_err();
        assert_eq!(err, SessionError::InvalidDhKey);
    }

    #[test]
    fn sending_stops_before_the_counter_wraps() {
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let (mut alice, mut bob) = pair(ProtocolVersion::V2, b"", &mut rng);
        alice.ns = u32::MAX - 1;
        let last = alice.encrypt(b"last", &mut rng).unwrap();
        assert_eq!(last.header.n, u32::MAX - 1);
        assert_eq!(
            alice.encrypt(b"one more", &mut rng).unwrap_err(),
            EncryptError::ChainExhausted
        );
        // Bob would have to skip 2^32 - 2 keys: refused, not attempted.
        assert!(matches!(
            bob.decrypt(&last).unwrap_err(),
            DecryptError::TooManySkipped { .. }
        ));
    }

    fn zeroized_on_drop<T: ZeroizeOnDrop>() {}

    #[test]
    fn secret_fields_zeroize_on_drop() {
        zeroized_on_drop::<RootKey>();
        zeroized_on_drop::<ChainKey>();
        zeroized_on_drop::<MessageKey>();
        zeroized_on_drop::<StaticSecret>();
        zeroized_on_drop::<Session>();
    }
}
