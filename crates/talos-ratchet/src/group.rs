//! Sender-key groups: group chat with membership and key rotation.
//!
//! Each member of a group has a **sender key**: a symmetric chain that moves forward with
//! every message it sends, and an Ed25519 signing key. A member encrypts a message once, for
//! everyone; the others hold a copy of its chain (received in a [`SenderKeyDistribution`]) and
//! its public signing key. This is the shape of Signal's Sender Keys and Matrix's Megolm; the
//! key schedule, formats and rules below are Talos's own.
//!
//! # Using it
//!
//! A [`GroupSession`] is one member's view of one group. Everything is Sans-IO: the session
//! produces and consumes bytes, and the caller carries them.
//!
//! - **Distribution.** A member's own sender key goes to every other member as a
//!   [`SenderKeyDistribution`] (`to_cbor` / `from_cbor`) sent **inside the pairwise
//!   [`Session`](crate::session) with that member** — it holds a secret chain key, so it must
//!   never travel in the clear or through the group. The receiver passes it, with the member
//!   whose pairwise session it came out of, to [`GroupSession::handle_distribution`], which
//!   refuses a distribution that names another sender: a member can only ever install its own
//!   key at the others.
//! - **Messages.** [`GroupSession::encrypt`] returns a [`GroupMessage`] to broadcast (any
//!   transport: it is signed and encrypted); [`GroupSession::decrypt`] opens one.
//! - **Joining.** Every member calls [`GroupSession::add_member`] with the newcomer and sends
//!   the distribution it returns to the newcomer; the newcomer creates its session with
//!   [`GroupSession::new`] at the group's epoch, calls `add_member` for every member, and sends
//!   each the distribution that returns. A distribution carries the chain as it is **now**:
//!   a member who joins cannot derive any earlier message key.
//! - **Removal.** Every remaining member calls [`GroupSession::remove_member`], which moves
//!   the group to the next epoch, erases the removed member's keys, replaces the caller's
//!   own sender key by a fresh one (new chain, new signing key) and returns its distribution
//!   for every remaining member. The removed member never receives a new key, so it cannot
//!   read anything sent afterwards.
//!
//! Who is in the group is the caller's decision (an admin, a membership protocol): the
//! session enforces the list it is given, refusing keys and messages of anyone else.
//!
//! ```
//! use talos_ratchet::group::{GroupConfig, GroupId, GroupSession, MemberId};
//! # use rand_chacha::rand_core::SeedableRng as _;
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
//! let group = GroupId::from_bytes([1; 32]);
//! let (alice_id, bob_id) = (MemberId::from_bytes([0xa; 32]), MemberId::from_bytes([0xb; 32]));
//! let mut alice = GroupSession::new(GroupConfig::default(), group, alice_id, 0, &mut rng);
//! let mut bob = GroupSession::new(GroupConfig::default(), group, bob_id, 0, &mut rng);
//!
//! // Each adds the other and sends it its distribution over their pairwise session.
//! let for_bob = alice.add_member(bob_id).unwrap().to_cbor();
//! let for_alice = bob.add_member(alice_id).unwrap().to_cbor();
//! use talos_ratchet::group::SenderKeyDistribution;
//! bob.handle_distribution(&alice_id, &SenderKeyDistribution::from_cbor(&for_bob).unwrap()).unwrap();
//! alice.handle_distribution(&bob_id, &SenderKeyDistribution::from_cbor(&for_alice).unwrap()).unwrap();
//!
//! let wire = alice.encrypt(b"hello group").unwrap().to_cbor();
//! let message = talos_ratchet::group::GroupMessage::from_cbor(&wire).unwrap();
//! assert_eq!(&bob.decrypt(&message).unwrap()[..], b"hello group");
//! assert!(bob.decrypt(&message).is_err(), "a replay is refused");
//! ```
//!
//! # Key schedule
//!
//! A chain key `ck_i` (32 bytes) at iteration `i` gives the message key `mk_i` and the next
//! chain key; the message key gives the ChaCha20-Poly1305 key and nonce:
//!
//! ```text
//! mk_i          = HMAC-SHA256(key = ck_i, "talos-group-v1 message key")
//! ck_{i+1}      = HMAC-SHA256(key = ck_i, "talos-group-v1 chain")
//! key_i ‖ nonce_i = HKDF-SHA256(salt = ∅, ikm = mk_i, info = "talos-group-v1 aead", L = 32 + 12)
//! ```
//!
//! HMAC with two distinct labels is the PRF split Signal uses (with bytes `0x01`/`0x02`);
//! HKDF then expands the message key into the AEAD's key and nonce. The sender erases `ck_i`
//! as soon as `ck_{i+1}` exists, so a compromise of the current state reveals no earlier
//! message (forward secrecy within a chain). Nothing heals a compromised chain but a new
//! sender key: there is no post-compromise security until the sender rotates.
//!
//! The **nonce is derived, not carried**: every message key encrypts exactly one message
//! (the chain never repeats an iteration, and a receiver consumes each key once), so a nonce
//! derived with the key can never repeat under that key, and no random bytes or wire bytes
//! are spent on it. A new chain key is 32 random bytes; so is the seed of the new Ed25519
//! signing key (both drawn from the caller's RNG, chain key first).
//!
//! # Message format (contract `contracts/ratchet/group_message.schema.json`)
//!
//! ```json
//! {"v": 1, "group": "<32 B>", "sender": "<32 B>", "epoch": 0, "iteration": 7,
//!  "ciphertext": "<ChaCha20-Poly1305 ct ‖ tag16>", "sig": "<Ed25519, 64 B>"}
//! ```
//!
//! Canonical JSON (bytes as unpadded base64url) and the deterministic CBOR of the same map
//! (bytes as byte strings) are two encodings of one value; decoders refuse unknown, missing,
//! duplicate or `null` members, wrong lengths and non-canonical CBOR. The plaintext is at most
//! [`MAX_PLAINTEXT_LEN`] bytes. The AEAD's associated data and the signature's message are
//! fixed-layout bytes, not JSON:
//!
//! ```text
//! header = "talos-group-v1 message" ‖ group(32) ‖ sender(32) ‖ be32(epoch) ‖ be32(iteration)
//! aad    = header                                         (94 bytes)
//! sig    = Ed25519(sender's signing key, header ‖ ciphertext)
//! ```
//!
//! A receiver checks, in order: the group, that the sender is another member, that it holds
//! the sender's key for `epoch`, **the signature**, and only then touches the chain (skipping
//! ahead, or taking a stored key) and opens the ciphertext. Decryption is transactional: a
//! message that fails any check — forged, altered, replayed, too far ahead, or whose
//! ciphertext does not open — leaves the session exactly as it was.
//!
//! # Distribution format (contract `contracts/ratchet/sender_key_distribution.schema.json`)
//!
//! `{"v": 1, "group", "sender", "epoch", "iteration", "chain_key", "signing_key"}` with the
//! same two encodings. `chain_key` is `ck_iteration`; `signing_key` the Ed25519 public key.
//! It is not signed: it travels inside a pairwise session, which authenticates the sender.
//!
//! # Epochs, rotation and the grace period
//!
//! The group's **epoch** counts removals. Each sender key belongs to one epoch; a member
//! creates a new one, and the group's epoch increases, at every
//! [`remove_member`](GroupSession::remove_member). For each other member a session keeps at
//! most two sender keys ([`MAX_CHAINS_PER_SENDER`]): the newest, and the one before it.
//!
//! - A distribution for an epoch older than the session's, or older than the newest key
//!   already held from that sender, is refused ([`DistributionError::EpochRetired`]): that
//!   chain is one the removed member may know.
//! - Messages under an epoch the session no longer holds fail with
//!   [`GroupDecryptError::EpochRetired`].
//! - **Grace.** After a removal, the other members' keys of the previous epoch stay usable
//!   so that messages sent before the rotation but delivered after it still open. The grace
//!   ends when the caller calls [`GroupSession::end_grace`] (the crate has no clock: e.g. a
//!   node calls it a minute after the removal, or once each sender's new key has arrived),
//!   or for one sender when its key of a still newer epoch arrives. From then on, messages
//!   under the old epoch are refused. The grace never lets the removed member read anything
//!   new: it concerns only chains that member already had, and every remaining member
//!   encrypts under its new key from the moment it processes the removal.
//!
//! # Skipped messages
//!
//! Messages may arrive out of order. A message up to [`GroupConfig::max_skip`] (default
//! [`MAX_SKIP`] = 1000) iterations ahead of the receiving chain opens; the keys of the
//! iterations it skips are kept, and a later message with one of them opens and removes it.
//! A larger gap fails with [`GroupDecryptError::TooManySkipped`] and changes nothing. Stored
//! keys are bounded per sender by [`GroupConfig::max_stored_keys`] (default
//! [`MAX_STORED_KEYS`] = 2000), with this eviction rule: a key is dropped when it is more
//! than `max_stored_keys` iterations behind its chain's head, or when the sender's stored
//! keys exceed `max_stored_keys` — the oldest first (older epoch, then lower iteration:
//! first in, first out). Lookup is O(1) (an index into a window of the chain); skipping `n`
//! keys costs `n` pairs of HMACs.
//!
//! # Snapshots
//!
//! [`GroupSession::snapshot`] exports a versioned [`GroupSnapshot`] (CBOR), from which
//! [`GroupSession::restore`] rebuilds a session that continues exactly where the original
//! left off. It holds every secret of the session: encrypt it at rest
//! ([`snapshot`](crate::snapshot)), and never restore an older snapshot after newer messages
//! were sent — a sender would reuse message keys.

use core::fmt;
use std::collections::{BTreeMap, BTreeSet};

use talos_crypto::{CryptoRng, ErrorCode, SigningKey, VerifyingKey, Zeroizing};

mod chain;
mod snapshot;
mod wire;

use chain::{Key32, SkippedKeys, message_cipher};
pub use snapshot::{GroupSnapshot, GroupSnapshotError, SNAPSHOT_FORMAT};
pub use wire::{
    GroupDecodeError, GroupMessage, HEADER_LEN, MAX_DISTRIBUTION_LEN, MAX_MESSAGE_LEN,
    MAX_PLAINTEXT_LEN, SenderKeyDistribution, WIRE_VERSION,
};

/// Domain separation for a message's header (AAD) and signature.
pub const MESSAGE_CONTEXT: &[u8] = b"talos-group-v1 message";
/// HMAC label of the message key: `mk_i = HMAC-SHA256(ck_i, MESSAGE_KEY_LABEL)`.
pub const MESSAGE_KEY_LABEL: &[u8] = b"talos-group-v1 message key";
/// HMAC label of the next chain key: `ck_{i+1} = HMAC-SHA256(ck_i, CHAIN_LABEL)`.
pub const CHAIN_LABEL: &[u8] = b"talos-group-v1 chain";
/// HKDF info that expands a message key into the AEAD key and nonce.
pub const AEAD_INFO: &[u8] = b"talos-group-v1 aead";

/// Default largest gap a message may jump ahead of its chain, as for pairwise sessions
/// (upstream `MAX_SKIP`, REFERENCE §2.1).
pub const MAX_SKIP: u32 = 1000;
/// Default bound on the skipped message keys stored per sender (Signal's
/// `MAX_MESSAGE_KEYS`).
pub const MAX_STORED_KEYS: u32 = 2000;
/// Sender keys held per other member: the newest epoch's and the previous one (the grace).
pub const MAX_CHAINS_PER_SENDER: usize = 2;
/// Most members a group session accepts, itself included.
pub const MAX_MEMBERS: usize = 1000;

/// A group's identifier: 32 bytes the group's creator chooses (random, or a hash of a name).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub(crate) [u8; 32]);

impl GroupId {
    /// The id with these bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A random id.
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", talos_crypto::hash::to_hex(&self.0))
    }
}

/// A member's identifier within groups: 32 bytes that name one device (sessions are per
/// peer and device), e.g. its Ed25519 identity key or a hash of its DID and device id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(pub(crate) [u8; 32]);

impl MemberId {
    /// The id with these bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberId({})", talos_crypto::hash::to_hex(&self.0))
    }
}

/// Bounds of a group session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    max_skip: u32,
    max_stored_keys: u32,
}

impl Default for GroupConfig {
    /// [`MAX_SKIP`] and [`MAX_STORED_KEYS`].
    fn default() -> Self {
        Self {
            max_skip: MAX_SKIP,
            max_stored_keys: MAX_STORED_KEYS,
        }
    }
}

impl GroupConfig {
    /// The largest gap a message may jump ahead of its sender's chain.
    #[must_use]
    pub fn max_skip(&self) -> u32 {
        self.max_skip
    }

    /// The most skipped message keys stored per sender.
    #[must_use]
    pub fn max_stored_keys(&self) -> u32 {
        self.max_stored_keys
    }

    /// Sets the largest gap (default [`MAX_SKIP`]).
    pub fn set_max_skip(&mut self, max_skip: u32) -> &mut Self {
        self.max_skip = max_skip;
        self
    }

    /// Sets the most stored keys per sender (default [`MAX_STORED_KEYS`]).
    pub fn set_max_stored_keys(&mut self, max_stored_keys: u32) -> &mut Self {
        self.max_stored_keys = max_stored_keys;
        self
    }

    fn max_span(&self) -> usize {
        usize::try_from(self.max_stored_keys).unwrap_or(usize::MAX)
    }
}

/// One member's view of one group (see the [module docs](self)).
///
/// Getters: [`group`](Self::group), [`me`](Self::me), [`epoch`](Self::epoch),
/// [`config`](Self::config), [`members`](Self::members), [`is_member`](Self::is_member),
/// [`has_sender_key`](Self::has_sender_key), [`next_iteration`](Self::next_iteration),
/// [`stored_keys`](Self::stored_keys). Input: [`handle_distribution`](Self::handle_distribution),
/// [`decrypt`](Self::decrypt). Commands: [`encrypt`](Self::encrypt),
/// [`add_member`](Self::add_member), [`remove_member`](Self::remove_member),
/// [`end_grace`](Self::end_grace), [`distribution`](Self::distribution),
/// [`snapshot`](Self::snapshot).
///
/// Every secret in it is zeroized on drop; `Debug` prints no key material.
pub struct GroupSession {
    config: GroupConfig,
    group: GroupId,
    me: MemberId,
    epoch: u32,
    members: BTreeSet<MemberId>,
    own: SenderChain,
    senders: BTreeMap<MemberId, Vec<ReceiverChain>>,
}

/// Our own sender key.
struct SenderChain {
    epoch: u32,
    signing_key: SigningKey,
    chain_key: Key32,
    /// The next iteration to send; 2^32 once the chain is used up.
    next: u64,
}

impl SenderChain {
    fn generate(epoch: u32, rng: &mut impl CryptoRng) -> Self {
        let chain_key = Key32::random(rng);
        let signing_key = SigningKey::generate(rng);
        Self {
            epoch,
            signing_key,
            chain_key,
            next: 0,
        }
    }
}

/// Another member's sender key for one epoch.
struct ReceiverChain {
    epoch: u32,
    signing_key: VerifyingKey,
    chain_key: Key32,
    /// The iteration `chain_key` derives; 2^32 once the chain is used up.
    next: u64,
    skipped: SkippedKeys,
}

const CHAIN_END: u64 = 1 << 32;

impl GroupSession {
    /// A session for `me` in `group` at `epoch` (0 for a new group; the group's current epoch
    /// for a member who joins), with a fresh sender key. `me` is its only member until
    /// [`add_member`](Self::add_member).
    ///
    /// Draws 64 bytes from `rng`: the chain key, then the signing key's seed.
    pub fn new(
        config: GroupConfig,
        group: GroupId,
        me: MemberId,
        epoch: u32,
        rng: &mut impl CryptoRng,
    ) -> Self {
        Self {
            config,
            group,
            me,
            epoch,
            members: BTreeSet::from([me]),
            own: SenderChain::generate(epoch, rng),
            senders: BTreeMap::new(),
        }
    }

    /// The group.
    #[must_use]
    pub fn group(&self) -> &GroupId {
        &self.group
    }

    /// This member.
    #[must_use]
    pub fn me(&self) -> &MemberId {
        &self.me
    }

    /// The group's epoch as this member sees it: the number of removals it processed (plus
    /// the epoch it started at).
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The bounds.
    #[must_use]
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Every member, this one included, in id order.
    pub fn members(&self) -> impl Iterator<Item = &MemberId> {
        self.members.iter()
    }

    /// Whether `member` is in the group.
    #[must_use]
    pub fn is_member(&self, member: &MemberId) -> bool {
        self.members.contains(member)
    }

    /// Whether this session holds `member`'s sender key for `epoch`.
    #[must_use]
    pub fn has_sender_key(&self, member: &MemberId, epoch: u32) -> bool {
        self.senders
            .get(member)
            .is_some_and(|chains| chains.iter().any(|c| c.epoch == epoch))
    }

    /// The iteration of the next message this member sends.
    #[must_use]
    pub fn next_iteration(&self) -> u64 {
        self.own.next
    }

    /// Skipped message keys stored for `member`, over its sender keys.
    #[must_use]
    pub fn stored_keys(&self, member: &MemberId) -> usize {
        self.senders
            .get(member)
            .map_or(0, |chains| chains.iter().map(|c| c.skipped.len()).sum())
    }

    /// This member's sender key as it stands: the chain key of the next message. Send it to
    /// a member who lacks it, over the pairwise session with that member only.
    #[must_use]
    pub fn distribution(&self) -> SenderKeyDistribution {
        SenderKeyDistribution {
            group: self.group,
            sender: self.me,
            epoch: self.own.epoch,
            // Never 2^32 here in practice; a used-up chain yields a distribution at u32::MAX
            // whose key opens nothing the sender can still send.
            iteration: u32::try_from(self.own.next).unwrap_or(u32::MAX),
            chain_key: self.own.chain_key.clone(),
            signing_key: self.own.signing_key.verifying_key(),
        }
    }

    /// Adds `member` and returns this member's current distribution for it (to send over
    /// the pairwise session with `member`). The newcomer can read what this member sends from
    /// now on, nothing earlier.
    ///
    /// # Errors
    /// [`MembershipError::AlreadyMember`], or [`MembershipError::TooManyMembers`] beyond
    /// [`MAX_MEMBERS`].
    pub fn add_member(
        &mut self,
        member: MemberId,
    ) -> Result<SenderKeyDistribution, MembershipError> {
        if self.members.contains(&member) {
            return Err(MembershipError::AlreadyMember);
        }
        if self.members.len() >= MAX_MEMBERS {
            return Err(MembershipError::TooManyMembers { max: MAX_MEMBERS });
        }
        self.members.insert(member);
        Ok(self.distribution())
    }

    /// Removes `member`: erases its sender keys, moves to the next epoch, and replaces this
    /// member's sender key by a fresh one (64 bytes from `rng`: chain key, then signing seed).
    /// Returns the new key's distribution, to send to **every remaining member** over their
    /// pairwise sessions. The other members' keys of the previous epoch stay in their grace
    /// period until [`end_grace`](Self::end_grace).
    ///
    /// # Errors
    /// [`MembershipError::NotAMember`], [`MembershipError::RemovingSelf`], or
    /// [`MembershipError::EpochExhausted`] after 2^32 − 1 epochs. Nothing changes on error.
    pub fn remove_member(
        &mut self,
        member: &MemberId,
        rng: &mut impl CryptoRng,
    ) -> Result<SenderKeyDistribution, MembershipError> {
        if *member == self.me {
            return Err(MembershipError::RemovingSelf);
        }
        if !self.members.contains(member) {
            return Err(MembershipError::NotAMember);
        }
        let epoch = self
            .epoch
            .checked_add(1)
            .ok_or(MembershipError::EpochExhausted)?;
        self.members.remove(member);
        self.senders.remove(member);
        self.epoch = epoch;
        self.own = SenderChain::generate(epoch, rng);
        Ok(self.distribution())
    }

    /// Ends the grace period: erases every other member's sender keys of epochs before the
    /// session's, so messages under them are refused from now on. Returns how many keys were
    /// erased.
    pub fn end_grace(&mut self) -> usize {
        let epoch = self.epoch;
        let mut erased = 0;
        self.senders.retain(|_, chains| {
            let before = chains.len();
            chains.retain(|c| c.epoch >= epoch);
            erased += before - chains.len();
            !chains.is_empty()
        });
        erased
    }

    /// Installs another member's sender key. `from` is the member whose pairwise session the
    /// distribution came out of: it must be the distribution's sender.
    ///
    /// A distribution for a key already held (same sender, epoch and signing key) changes
    /// nothing and is accepted, so a resent one is harmless; the position already reached in
    /// that chain is kept.
    ///
    /// # Errors
    /// [`DistributionError`]; nothing changes on error.
    pub fn handle_distribution(
        &mut self,
        from: &MemberId,
        distribution: &SenderKeyDistribution,
    ) -> Result<(), DistributionError> {
        let d = distribution;
        if d.group != self.group {
            return Err(DistributionError::WrongGroup);
        }
        if d.sender != *from {
            return Err(DistributionError::SenderMismatch);
        }
        if d.sender == self.me {
            return Err(DistributionError::OwnKey);
        }
        if !self.members.contains(&d.sender) {
            return Err(DistributionError::NotAMember);
        }
        let chains = self.senders.entry(d.sender).or_default();
        if let Some(held) = chains.iter().find(|c| c.epoch == d.epoch) {
            return if held.signing_key == d.signing_key {
                Ok(())
            } else {
                Err(DistributionError::ConflictingKey { epoch: d.epoch })
            };
        }
        let newest = chains.iter().map(|c| c.epoch).max();
        if d.epoch < self.epoch || newest.is_some_and(|n| d.epoch < n) {
            let current = newest.map_or(self.epoch, |n| n.max(self.epoch));
            if chains.is_empty() {
                self.senders.remove(&d.sender);
            }
            return Err(DistributionError::EpochRetired {
                epoch: d.epoch,
                current,
            });
        }
        chains.push(ReceiverChain {
            epoch: d.epoch,
            signing_key: d.signing_key,
            chain_key: d.chain_key.clone(),
            next: u64::from(d.iteration),
            skipped: SkippedKeys::default(),
        });
        // Newest last; beyond the limit, the oldest key goes.
        chains.sort_by_key(|c| c.epoch);
        while chains.len() > MAX_CHAINS_PER_SENDER {
            chains.remove(0);
        }
        Ok(())
    }

    /// Encrypts `plaintext` for the group under this member's sender key, signs it, and
    /// advances the chain (erasing the key used). No randomness is needed.
    ///
    /// # Errors
    /// [`GroupEncryptError::TooLong`] beyond [`MAX_PLAINTEXT_LEN`];
    /// [`GroupEncryptError::ChainExhausted`] after 2^32 messages under one key; only a
    /// [`remove_member`](Self::remove_member) replaces the key, so start a new group.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<GroupMessage, GroupEncryptError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(GroupEncryptError::TooLong {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        let iteration =
            u32::try_from(self.own.next).map_err(|_| GroupEncryptError::ChainExhausted)?;
        let mk = self.own.chain_key.message_key();
        let (cipher, nonce) = message_cipher(&mk);
        let header = wire::header_bytes(&self.group, &self.me, self.own.epoch, iteration);
        let ciphertext =
            cipher
                .seal(&nonce, &header, plaintext)
                .map_err(|_| GroupEncryptError::TooLong {
                    len: plaintext.len(),
                    max: MAX_PLAINTEXT_LEN,
                })?;
        let mut signed = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        signed.extend_from_slice(&header);
        signed.extend_from_slice(&ciphertext);
        let signature = self.own.signing_key.sign(&signed);
        self.own.chain_key = self.own.chain_key.next_chain_key();
        self.own.next += 1;
        Ok(GroupMessage {
            group: self.group,
            sender: self.me,
            epoch: self.own.epoch,
            iteration,
            ciphertext,
            signature,
        })
    }

    /// Checks and decrypts a group message (see the [module docs](self) for the order of
    /// checks). Each message opens once.
    ///
    /// # Errors
    /// [`GroupDecryptError`]; the session is unchanged in every case.
    pub fn decrypt(
        &mut self,
        message: &GroupMessage,
    ) -> Result<Zeroizing<Vec<u8>>, GroupDecryptError> {
        if message.group != self.group {
            return Err(GroupDecryptError::WrongGroup);
        }
        if message.sender == self.me {
            return Err(GroupDecryptError::OwnMessage);
        }
        if !self.members.contains(&message.sender) {
            return Err(GroupDecryptError::NotAMember);
        }
        let session_epoch = self.epoch;
        let config = self.config;
        let mut none = Vec::new();
        let chains = self.senders.get_mut(&message.sender).unwrap_or(&mut none);
        let newest = chains.iter().map(|c| c.epoch).max();
        let Some(index) = chains.iter().position(|c| c.epoch == message.epoch) else {
            let current = newest.map_or(session_epoch, |n| n.max(session_epoch));
            return Err(
                if message.epoch < session_epoch || newest.is_some_and(|n| message.epoch < n) {
                    GroupDecryptError::EpochRetired {
                        epoch: message.epoch,
                        current,
                    }
                } else {
                    GroupDecryptError::UnknownSenderKey {
                        epoch: message.epoch,
                    }
                },
            );
        };
        let chain = &mut chains[index];
        // The signature first: nothing below runs for a message the sender did not sign.
        chain
            .signing_key
            .verify(&message.signed_bytes(), &message.signature)
            .map_err(|_| GroupDecryptError::BadSignature)?;
        let iteration = u64::from(message.iteration);
        let header = message.header_bytes();
        if iteration < chain.next {
            let mk = chain
                .skipped
                .get(iteration)
                .ok_or(GroupDecryptError::DuplicateOrExpired {
                    iteration: message.iteration,
                })?;
            let plaintext = open(mk, &header, &message.ciphertext)?;
            chain.skipped.remove(iteration);
            return Ok(plaintext);
        }
        let gap = iteration - chain.next;
        if gap > u64::from(config.max_skip) {
            return Err(GroupDecryptError::TooManySkipped {
                gap,
                limit: config.max_skip,
            });
        }
        // Work on copies; commit only once the ciphertext opened.
        let mut skipped = Vec::with_capacity(usize::try_from(gap).unwrap_or(0));
        let mut ck = chain.chain_key.clone();
        for _ in 0..gap {
            skipped.push(ck.message_key());
            ck = ck.next_chain_key();
        }
        let plaintext = open(&ck.message_key(), &header, &message.ciphertext)?;
        chain
            .skipped
            .advance(chain.next, skipped, config.max_span());
        chain.chain_key = ck.next_chain_key();
        chain.next = iteration + 1;
        evict_over_limit(chains, config.max_span());
        Ok(plaintext)
    }

    /// Exports the whole state (see [`GroupSnapshot`]).
    #[must_use]
    pub fn snapshot(&self) -> GroupSnapshot {
        snapshot::export(self)
    }

    /// Rebuilds a session from a snapshot; it continues exactly where the original was.
    ///
    /// # Errors
    /// [`GroupSnapshotError`] for a snapshot whose content is inconsistent.
    pub fn restore(snapshot: &GroupSnapshot) -> Result<Self, GroupSnapshotError> {
        snapshot::import(snapshot)
    }
}

fn open(
    mk: &Key32,
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, GroupDecryptError> {
    let (cipher, nonce) = message_cipher(mk);
    cipher
        .open(&nonce, aad, ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| GroupDecryptError::DecryptionFailed)
}

/// Drops the sender's oldest stored keys (older epoch first, then lower iteration) until at
/// most `max` remain. `chains` is sorted by epoch.
fn evict_over_limit(chains: &mut [ReceiverChain], max: usize) {
    let mut total: usize = chains.iter().map(|c| c.skipped.len()).sum();
    for chain in chains.iter_mut() {
        while total > max {
            let before = chain.skipped.len();
            if !chain.skipped.evict_oldest() {
                break;
            }
            total -= before - chain.skipped.len();
        }
    }
}

impl fmt::Debug for GroupSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSession")
            .field("group", &self.group)
            .field("me", &self.me)
            .field("epoch", &self.epoch)
            .field("members", &self.members.len())
            .field("sender_epoch", &self.own.epoch)
            .field("next_iteration", &self.own.next)
            .field("signing_key", &self.own.signing_key.verifying_key())
            .finish_non_exhaustive()
    }
}

/// Every secret (chain keys, stored message keys, the signing key) wipes itself on drop.
impl zeroize::ZeroizeOnDrop for GroupSession {}

/// Why [`GroupSession::add_member`] or [`GroupSession::remove_member`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// The member is already in the group.
    #[error("already a member of the group")]
    AlreadyMember,
    /// The member is not in the group.
    #[error("not a member of the group")]
    NotAMember,
    /// A member cannot remove itself; it leaves by deleting its session.
    #[error("a member cannot remove itself")]
    RemovingSelf,
    /// The group has [`MAX_MEMBERS`] members already.
    #[error("too many group members: maximum {max}")]
    TooManyMembers {
        /// The limit.
        max: usize,
    },
    /// The epoch counter is at 2^32 − 1. Start a new group.
    #[error("group epoch exhausted")]
    EpochExhausted,
}

/// Why [`GroupSession::handle_distribution`] refused a sender key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DistributionError {
    /// The distribution is for another group.
    #[error("sender key distribution for another group")]
    WrongGroup,
    /// The distribution names a sender other than the member whose pairwise session it came
    /// from: that member is trying to install a key in another's name. Drop it.
    #[error("sender key distribution names another sender than its pairwise peer")]
    SenderMismatch,
    /// The distribution is this member's own key.
    #[error("sender key distribution of our own key")]
    OwnKey,
    /// The sender is not a member; add it first if it should be.
    #[error("sender key distribution from a non-member")]
    NotAMember,
    /// A different key for an epoch whose key is already held: the sender may only have one.
    #[error("conflicting sender key for epoch {epoch}")]
    ConflictingKey {
        /// The epoch.
        epoch: u32,
    },
    /// The key is for an epoch that a removal, or a newer key of the sender, retired.
    #[error("sender key of retired epoch {epoch}; current epoch {current}")]
    EpochRetired {
        /// The distribution's epoch.
        epoch: u32,
        /// The epoch it is older than.
        current: u32,
    },
}

impl From<&DistributionError> for ErrorCode {
    fn from(err: &DistributionError) -> Self {
        match err {
            DistributionError::SenderMismatch | DistributionError::ConflictingKey { .. } => {
                Self::Denied
            }
            _ => Self::InvalidInput,
        }
    }
}

/// Why [`GroupSession::encrypt`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupEncryptError {
    /// The plaintext is longer than [`MAX_PLAINTEXT_LEN`]: split it, or use a chunked stream.
    #[error("group plaintext too long: {len} bytes, maximum {max}")]
    TooLong {
        /// The plaintext's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The sender key has sent 2^32 messages; it needs replacing.
    #[error("sender chain exhausted")]
    ChainExhausted,
}

impl From<&GroupEncryptError> for ErrorCode {
    fn from(_: &GroupEncryptError) -> Self {
        Self::InvalidInput
    }
}

impl From<&MembershipError> for ErrorCode {
    fn from(_: &MembershipError) -> Self {
        Self::InvalidInput
    }
}

/// Why a group message was refused. The session is unchanged in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupDecryptError {
    /// The message is for another group.
    #[error("group message for another group")]
    WrongGroup,
    /// The message is this member's own.
    #[error("group message from ourselves")]
    OwnMessage,
    /// The sender is not a member (or was removed).
    #[error("group message from a non-member")]
    NotAMember,
    /// No sender key of this sender for this epoch has arrived yet: keep the message and
    /// retry after the sender's distribution, or ask the sender for it.
    #[error("unknown sender key for epoch {epoch}")]
    UnknownSenderKey {
        /// The message's epoch.
        epoch: u32,
    },
    /// The message is under a sender key that a removal (after its grace) or a newer key of
    /// the sender retired. The sender is behind, or the message is too late.
    #[error("group message under retired epoch {epoch}; current epoch {current}")]
    EpochRetired {
        /// The message's epoch.
        epoch: u32,
        /// The epoch it is older than.
        current: u32,
    },
    /// The signature does not verify under the sender key: forged or altered.
    #[error("invalid group message signature")]
    BadSignature,
    /// The message jumps further ahead of the chain than the configured limit.
    #[error("too many skipped messages: gap {gap}, limit {limit}")]
    TooManySkipped {
        /// Iterations the message would skip.
        gap: u64,
        /// [`GroupConfig::max_skip`].
        limit: u32,
    },
    /// The message's key was used already (a duplicate), evicted, or is older than the
    /// distribution this member received.
    #[error("duplicate or expired group message: iteration {iteration}")]
    DuplicateOrExpired {
        /// The message's iteration.
        iteration: u32,
    },
    /// The ciphertext does not open, although the signature verified: the sender's chain
    /// and this copy disagree. Deliberately without detail.
    #[error("group message decryption failed")]
    DecryptionFailed,
}

impl From<&GroupDecryptError> for ErrorCode {
    fn from(err: &GroupDecryptError) -> Self {
        match err {
            GroupDecryptError::BadSignature
            | GroupDecryptError::DecryptionFailed
            | GroupDecryptError::DuplicateOrExpired { .. } => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}
