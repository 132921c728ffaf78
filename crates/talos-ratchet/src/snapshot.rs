//! Session snapshots: the only serialisable form of a session, and sealing at rest.
//!
//! [`Session::snapshot`] captures everything a session needs to continue exactly where it
//! left off; [`SessionSnapshot::to_bytes`] writes it as deterministic CBOR, and
//! [`SessionSnapshot::from_bytes`] reads it back strictly; [`Session::restore`] rebuilds the
//! session. The bytes hold every secret of the session: encrypt them before they leave
//! memory, e.g. with [`seal`] under a key from the caller's key store.
//!
//! # Format 1
//!
//! A CBOR map with unsigned integer keys in ascending order, deterministic encoding (RFC 8949
//! §4.2.1: shortest heads, definite lengths); optional members are omitted when absent:
//!
//! | key | member | CBOR |
//! |---|---|---|
//! | 0 | format version, `1` | uint |
//! | 1 | protocol version, e.g. `"talos-v1.1"`, `"talos-v2"` | text |
//! | 2 | associated data `AD` | bytes |
//! | 3 | root key | bytes (32) |
//! | 4 | our ratchet secret `DHs` (optional) | bytes (32) |
//! | 5 | their ratchet key `DHr` (optional) | bytes (32) |
//! | 6 | sending chain key `CKs` (optional) | bytes (32) |
//! | 7 | receiving chain key `CKr` (optional) | bytes (32) |
//! | 8, 9, 10 | counters `Ns`, `Nr`, `PN` | uint (≤ 2^32 − 1) |
//! | 11 | has received | bool |
//! | 12 | skipped-key bound | uint (≤ [`MAX_SKIPPED_KEYS_LIMIT`]) |
//! | 13 | skipped keys, oldest first: `[dh, n, mk]` | array of arrays |
//!
//! Decoding is strict: unknown keys, keys out of order, a non-deterministic encoding,
//! inconsistent state (e.g. a sending chain without a ratchet key) and anything beyond the
//! bounds are errors. A later format gets a new format number, and this crate will keep
//! reading format 1.
//!
//! # Rollback
//!
//! Restoring an older snapshot of a live session rolls its keys back: messages decrypted
//! since then would decrypt again, and the peer's later messages may not. Persist after every
//! message, and when storage may have been rolled back, start a new session instead.
//!
//! ```
//! use talos_crypto::{SigningKey, x25519::StaticSecret};
//! use talos_ratchet::session::Session;
//! use talos_ratchet::snapshot::{self, SessionSnapshot};
//! use talos_ratchet::v1_1;
//! # use rand_chacha::rand_core::SeedableRng as _;
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
//! # let bob_spk = StaticSecret::generate(&mut rng);
//! # let bundle = v1_1::PrekeyBundle::new(&SigningKey::from_seed(&[2; 32]), &bob_spk.public_key());
//!
//! let mut alice = v1_1::initiate(&bundle, &mut rng).unwrap();
//! let storage_key = [7u8; 32]; // from the caller's key store
//! let sealed = snapshot::seal(&storage_key, &alice.snapshot().to_bytes(), &mut rng);
//!
//! let bytes = snapshot::open(&storage_key, &sealed).unwrap();
//! let mut restored = Session::restore(&SessionSnapshot::from_bytes(&bytes).unwrap());
//! let m = restored.encrypt(b"after restore", &mut rng).unwrap();
//! let (_bob, plaintext) = v1_1::accept(&bob_spk, &m).unwrap();
//! assert_eq!(&plaintext[..], b"after restore");
//! ```

use core::fmt;

use talos_crypto::aead::{TAG_LEN, XChaCha20Poly1305, XNONCE_LEN};
use talos_crypto::x25519::{PublicKey, StaticSecret};
use talos_crypto::{CryptoRng, ErrorCode, Zeroizing, cbor};

use crate::ProtocolVersion;
use crate::kdf::{ChainKey, MessageKey, RootKey};
use crate::message::Reader;
use crate::session::{
    MAX_SKIPPED_KEYS_LIMIT, RatchetKeyPair, Session, SessionConfig, SkipId, SkippedKeys,
};

/// The snapshot format this crate writes (and the only one it reads so far).
pub const FORMAT: u64 = 1;

/// Longest associated data a snapshot may hold.
pub const MAX_AD_LEN: usize = 4096;

/// Longest snapshot accepted (a session at [`MAX_SKIPPED_KEYS_LIMIT`] stored keys fits).
pub const MAX_SNAPSHOT_LEN: usize = 8 * 1024 * 1024;

/// The header of a sealed snapshot: magic `"TSNP"` and seal format 1.
pub const SEAL_HEADER: [u8; 5] = *b"TSNP\x01";

/// A session's complete state, for persistence. Holds secrets: zeroized on drop, `Debug`
/// shows none of them.
pub struct SessionSnapshot {
    protocol: ProtocolVersion,
    ad: Vec<u8>,
    root: RootKey,
    dhs: Option<StaticSecret>,
    dhr: Option<PublicKey>,
    cks: Option<ChainKey>,
    ckr: Option<ChainKey>,
    ns: u32,
    nr: u32,
    pn: u32,
    has_received: bool,
    max_skipped: usize,
    skipped: Vec<(SkipId, MessageKey)>,
}

/// Every secret field wipes itself on drop.
impl zeroize::ZeroizeOnDrop for SessionSnapshot {}

impl fmt::Debug for SessionSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSnapshot")
            .field("format", &FORMAT)
            .field("protocol", &self.protocol)
            .field("ns", &self.ns)
            .field("nr", &self.nr)
            .field("pn", &self.pn)
            .field("skipped_keys", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session's complete state.
    #[must_use]
    pub fn snapshot(&self) -> SessionSnapshot {
        SessionSnapshot {
            protocol: self.version,
            ad: self.ad.clone(),
            root: self.root.clone(),
            dhs: self.dhs.as_ref().map(|k| k.secret.clone()),
            dhr: self.dhr,
            cks: self.cks.clone(),
            ckr: self.ckr.clone(),
            ns: self.ns,
            nr: self.nr,
            pn: self.pn,
            has_received: self.has_received,
            max_skipped: self.skipped.cap(),
            skipped: self
                .skipped
                .iter()
                .map(|(id, key)| (*id, MessageKey::from_bytes(*key.as_bytes())))
                .collect(),
        }
    }

    /// The session a snapshot was taken of; it continues exactly where that one was.
    #[must_use]
    pub fn restore(snapshot: &SessionSnapshot) -> Self {
        let mut skipped = SkippedKeys::new(snapshot.max_skipped);
        for (id, key) in &snapshot.skipped {
            skipped.insert(*id, MessageKey::from_bytes(*key.as_bytes()));
        }
        Self {
            version: snapshot.protocol,
            ad: snapshot.ad.clone(),
            root: snapshot.root.clone(),
            dhs: snapshot.dhs.clone().map(RatchetKeyPair::new),
            dhr: snapshot.dhr,
            cks: snapshot.cks.clone(),
            ckr: snapshot.ckr.clone(),
            ns: snapshot.ns,
            nr: snapshot.nr,
            pn: snapshot.pn,
            has_received: snapshot.has_received,
            skipped,
        }
    }
}

impl SessionSnapshot {
    /// The format version this snapshot is written in.
    #[must_use]
    pub const fn format(&self) -> u64 {
        FORMAT
    }

    /// The protocol the session speaks.
    #[must_use]
    pub const fn protocol(&self) -> ProtocolVersion {
        self.protocol
    }

    /// The session's tunables.
    #[must_use]
    pub fn config(&self) -> SessionConfig {
        let mut config = SessionConfig::default();
        config.set_max_skipped_keys(self.max_skipped);
        config
    }

    /// The deterministic CBOR form (see the [module docs](self)). Secret: seal it.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        // Reserve everything up front, so no reallocation leaves secret copies behind.
        let mut out = Zeroizing::new(Vec::with_capacity(
            256 + self.ad.len() + 80 * self.skipped.len(),
        ));
        let out_ref: &mut Vec<u8> = &mut out;
        let members = 10
            + usize::from(self.dhs.is_some())
            + usize::from(self.dhr.is_some())
            + usize::from(self.cks.is_some())
            + usize::from(self.ckr.is_some());
        cbor::write_map_header(out_ref, members);
        cbor::write_uint(out_ref, 0);
        cbor::write_uint(out_ref, FORMAT);
        cbor::write_uint(out_ref, 1);
        cbor::write_text(out_ref, self.protocol.as_str());
        cbor::write_uint(out_ref, 2);
        cbor::write_bytes(out_ref, &self.ad);
        cbor::write_uint(out_ref, 3);
        cbor::write_bytes(out_ref, self.root.as_bytes());
        if let Some(dhs) = &self.dhs {
            cbor::write_uint(out_ref, 4);
            cbor::write_bytes(out_ref, &dhs.to_bytes()[..]);
        }
        if let Some(dhr) = &self.dhr {
            cbor::write_uint(out_ref, 5);
            cbor::write_bytes(out_ref, dhr.as_bytes());
        }
        if let Some(cks) = &self.cks {
            cbor::write_uint(out_ref, 6);
            cbor::write_bytes(out_ref, cks.as_bytes());
        }
        if let Some(ckr) = &self.ckr {
            cbor::write_uint(out_ref, 7);
            cbor::write_bytes(out_ref, ckr.as_bytes());
        }
        for (key, value) in [(8, self.ns), (9, self.nr), (10, self.pn)] {
            cbor::write_uint(out_ref, key);
            cbor::write_uint(out_ref, u64::from(value));
        }
        cbor::write_uint(out_ref, 11);
        out_ref.push(if self.has_received { 0xf5 } else { 0xf4 });
        cbor::write_uint(out_ref, 12);
        cbor::write_uint(out_ref, self.max_skipped as u64);
        cbor::write_uint(out_ref, 13);
        cbor::write_array_header(out_ref, self.skipped.len());
        for ((dh, n), mk) in &self.skipped {
            cbor::write_array_header(out_ref, 3);
            cbor::write_bytes(out_ref, dh);
            cbor::write_uint(out_ref, u64::from(*n));
            cbor::write_bytes(out_ref, mk.as_bytes());
        }
        out
    }

    /// Reads a snapshot written by [`SessionSnapshot::to_bytes`], strictly.
    ///
    /// # Errors
    /// [`SnapshotError::UnsupportedFormat`], [`SnapshotError::UnknownProtocol`],
    /// [`SnapshotError::TooLarge`], [`SnapshotError::Malformed`] or
    /// [`SnapshotError::Inconsistent`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SnapshotError> {
        if bytes.len() > MAX_SNAPSHOT_LEN {
            return Err(SnapshotError::TooLarge {
                len: bytes.len(),
                max: MAX_SNAPSHOT_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let members = r.map().map_err(SnapshotError::Malformed)?;
        let mut read = 0u64;
        let mut member = |r: &mut Reader<'_>, key: u64, required: bool| {
            if read < members && r.key_is(key) {
                read += 1;
                Ok(true)
            } else if required {
                Err(SnapshotError::Malformed("missing or misplaced member"))
            } else {
                Ok(false)
            }
        };
        member(&mut r, 0, true)?;
        let format = r.uint().map_err(SnapshotError::Malformed)?;
        if format != FORMAT {
            return Err(SnapshotError::UnsupportedFormat(format));
        }
        member(&mut r, 1, true)?;
        let name = r.text().map_err(SnapshotError::Malformed)?;
        let protocol = ProtocolVersion::from_name(name)
            .ok_or_else(|| SnapshotError::UnknownProtocol(name.chars().take(32).collect()))?;
        member(&mut r, 2, true)?;
        let ad = r.bytes().map_err(SnapshotError::Malformed)?;
        if ad.len() > MAX_AD_LEN {
            return Err(SnapshotError::TooLarge {
                len: ad.len(),
                max: MAX_AD_LEN,
            });
        }
        member(&mut r, 3, true)?;
        let root = RootKey::from_bytes(key32(&mut r)?);
        let dhs = if member(&mut r, 4, false)? {
            Some(StaticSecret::from_bytes(key32(&mut r)?))
        } else {
            None
        };
        let dhr = if member(&mut r, 5, false)? {
            Some(PublicKey::from_bytes(key32(&mut r)?))
        } else {
            None
        };
        let cks = if member(&mut r, 6, false)? {
            Some(ChainKey::from_bytes(key32(&mut r)?))
        } else {
            None
        };
        let ckr = if member(&mut r, 7, false)? {
            Some(ChainKey::from_bytes(key32(&mut r)?))
        } else {
            None
        };
        let mut counters = [0u32; 3];
        for (i, counter) in counters.iter_mut().enumerate() {
            member(&mut r, 8 + i as u64, true)?;
            *counter = u32::try_from(r.uint().map_err(SnapshotError::Malformed)?)
                .map_err(|_| SnapshotError::Inconsistent("counter beyond 2^32 - 1"))?;
        }
        let [ns, nr, pn] = counters;
        member(&mut r, 11, true)?;
        let has_received = r.bool().map_err(SnapshotError::Malformed)?;
        member(&mut r, 12, true)?;
        let max_skipped = r.uint().map_err(SnapshotError::Malformed)?;
        let max_skipped = usize::try_from(max_skipped)
            .ok()
            .filter(|&m| m <= MAX_SKIPPED_KEYS_LIMIT)
            .ok_or(SnapshotError::Inconsistent("skipped-key bound too large"))?;
        member(&mut r, 13, true)?;
        let count = r.array().map_err(SnapshotError::Malformed)?;
        let count = usize::try_from(count)
            .ok()
            .filter(|&c| c <= max_skipped)
            .ok_or(SnapshotError::Inconsistent(
                "more skipped keys than the bound",
            ))?;
        let mut skipped = Vec::with_capacity(count);
        let mut seen = std::collections::HashSet::with_capacity(count);
        for _ in 0..count {
            if r.array().map_err(SnapshotError::Malformed)? != 3 {
                return Err(SnapshotError::Malformed("skipped key is not [dh, n, mk]"));
            }
            let dh = key32(&mut r)?;
            let n = u32::try_from(r.uint().map_err(SnapshotError::Malformed)?)
                .map_err(|_| SnapshotError::Inconsistent("counter beyond 2^32 - 1"))?;
            let mk = MessageKey::from_bytes(key32(&mut r)?);
            if !seen.insert((dh, n)) {
                return Err(SnapshotError::Inconsistent("duplicate skipped key"));
            }
            skipped.push(((dh, n), mk));
        }
        if read != members {
            return Err(SnapshotError::Malformed("unknown or misplaced member"));
        }
        r.finish().map_err(SnapshotError::Malformed)?;

        let consistent = (cks.is_none() || (dhs.is_some() && dhr.is_some()))
            && (ckr.is_none() || dhr.is_some())
            && (dhs.is_some() || dhr.is_some())
            && (cks.is_some() || ns == 0)
            && (ckr.is_some() || nr == 0)
            && (has_received == ckr.is_some())
            && (has_received || skipped.is_empty());
        if !consistent {
            return Err(SnapshotError::Inconsistent(
                "impossible combination of keys",
            ));
        }
        Ok(Self {
            protocol,
            ad: ad.to_vec(),
            root,
            dhs,
            dhr,
            cks,
            ckr,
            ns,
            nr,
            pn,
            has_received,
            max_skipped,
            skipped,
        })
    }
}

fn key32(r: &mut Reader<'_>) -> Result<[u8; 32], SnapshotError> {
    r.bytes()
        .map_err(SnapshotError::Malformed)?
        .try_into()
        .map_err(|_| SnapshotError::Malformed("a key is not 32 bytes"))
}

/// Encrypts a snapshot (pairwise or group) under `key` with XChaCha20-Poly1305 and a random
/// 24-byte nonce: `SEAL_HEADER ‖ nonce ‖ ciphertext ‖ tag`, the header authenticated.
#[must_use]
pub fn seal(key: &[u8; 32], snapshot: &[u8], rng: &mut impl CryptoRng) -> Vec<u8> {
    #[allow(clippy::expect_used)]
    XChaCha20Poly1305::new(key)
        .seal_stored(rng, &SEAL_HEADER, &SEAL_HEADER, snapshot)
        .expect("invariant: a snapshot in memory is far below XChaCha20-Poly1305's 256 GiB limit")
}

/// Decrypts what [`seal`] wrote.
///
/// # Errors
/// [`SnapshotError::Sealed`] for input without the seal header or too short;
/// [`SnapshotError::DecryptionFailed`] for a wrong key or tampered bytes.
pub fn open(key: &[u8; 32], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SnapshotError> {
    if sealed.len() < SEAL_HEADER.len() + XNONCE_LEN + TAG_LEN {
        return Err(SnapshotError::Sealed("truncated"));
    }
    if !sealed.starts_with(&SEAL_HEADER) {
        return Err(SnapshotError::Sealed("unknown seal header or version"));
    }
    XChaCha20Poly1305::new(key)
        .open_stored(&SEAL_HEADER, &SEAL_HEADER, sealed)
        .map_err(|_| SnapshotError::DecryptionFailed)
}

/// A snapshot could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Written in a snapshot format this version does not read. Upgrade the crate.
    #[error("unsupported snapshot format {0}")]
    UnsupportedFormat(u64),
    /// The snapshot names a protocol version this crate does not know.
    #[error("unknown protocol version {0:?}")]
    UnknownProtocol(String),
    /// Longer than any valid snapshot (or a member beyond its bound).
    #[error("snapshot too large: {len} bytes, limit {max}")]
    TooLarge {
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not format-1 CBOR in its deterministic encoding.
    #[error("malformed snapshot: {0}")]
    Malformed(&'static str),
    /// Well-formed, but not a state a session can be in.
    #[error("inconsistent snapshot: {0}")]
    Inconsistent(&'static str),
    /// Not a sealed snapshot, or truncated.
    #[error("invalid sealed snapshot: {0}")]
    Sealed(&'static str),
    /// The sealed snapshot did not decrypt: wrong key or tampered bytes.
    #[error("decryption failed")]
    DecryptionFailed,
}

impl From<&SnapshotError> for ErrorCode {
    fn from(err: &SnapshotError) -> Self {
        match err {
            SnapshotError::UnsupportedFormat(_) | SnapshotError::UnknownProtocol(_) => {
                Self::ProtocolMismatch
            }
            SnapshotError::DecryptionFailed => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}
