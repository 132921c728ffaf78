//! C2SP `tlog-checkpoint`: the signed statement of a log's size and root, its signer that
//! never signs two inconsistent checkpoints, and a witness that cosigns only consistent ones.
//!
//! A checkpoint body is `<origin>\n<size>\n<base64 root>\n` followed by optional extension
//! lines; it is signed as a C2SP signed note ([`crate::note`]) by the log's key, whose name is
//! the origin.
//!
//! ```
//! use talos_ledger::checkpoint::{Checkpoint, CheckpointSigner, Witness};
//! use talos_ledger::merkle::MerkleLog;
//! use talos_ledger::note::NoteSigner;
//! use talos_ledger::crypto::SigningKey;
//!
//! let mut log = MerkleLog::new();
//! log.append(b"first")?;
//! let mut signer = CheckpointSigner::new("example.com/log", SigningKey::from_seed(&[1; 32]))?;
//! let note = signer.sign_log(&log)?;
//!
//! let mut witness = Witness::new(NoteSigner::new("witness.example", SigningKey::from_seed(&[2; 32]))?, 16);
//! witness.add_log(signer.verifier())?;
//! let cosigned = witness.cosign(&note.to_bytes(), &[])?;
//! assert_eq!(cosigned.signatures().len(), 2);
//!
//! log.append(b"second")?;
//! let proof = log.consistency_proof(1, 2)?;
//! let note2 = signer.sign_log(&log)?;
//! witness.cosign(&note2.to_bytes(), &proof)?;
//! assert_eq!(Checkpoint::parse(note2.text())?.size, 2);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use talos_crypto::SigningKey;

use crate::merkle::{self, EMPTY_ROOT, Hash, MerkleLog, ProofError, Store};
use crate::note::{Note, NoteError, NoteSigner, NoteVerifier};

/// The most extension lines a checkpoint may carry.
pub const MAX_EXTENSIONS: usize = 16;

/// The longest origin, in bytes.
pub const MAX_ORIGIN_LEN: usize = 256;

/// A tree size and the root at that size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 root.
    pub root: Hash,
}

impl TreeHead {
    /// The length of [`to_bytes`](Self::to_bytes).
    pub const LEN: usize = 40;

    /// 40 bytes: the size (big-endian u64) then the root; for persisting signer and witness
    /// state.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.size.to_be_bytes());
        out[8..].copy_from_slice(&self.root);
        out
    }

    /// Parses [`to_bytes`](Self::to_bytes) output.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] unless `bytes` is exactly 40 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let bad = || CheckpointError::Malformed("tree head is not 40 bytes");
        let (size, root) = bytes.split_at_checked(8).ok_or_else(bad)?;
        let size: [u8; 8] = size.try_into().map_err(|_| bad())?;
        let root: Hash = root.try_into().map_err(|_| bad())?;
        Ok(Self {
            size: u64::from_be_bytes(size),
            root,
        })
    }
}

/// A checkpoint: origin, tree size, root and extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin (e.g. `example.com/log42`); also the log key's name.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 root at `size`.
    pub root: Hash,
    /// Extension lines (non-empty, without the newline); not recommended.
    pub extensions: Vec<String>,
}

/// Why a checkpoint was rejected or not signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The body does not follow the format.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The signed note is malformed or its signatures do not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint is for another origin than the signer's or the known log's.
    #[error("checkpoint origin {0:?} is not the expected one")]
    WrongOrigin(String),
    /// No key for this origin is known.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// The checkpoint is smaller than the last one signed or seen.
    #[error("checkpoint size {size} is below the last one, {last}")]
    Rollback {
        /// The new size.
        size: u64,
        /// The last size.
        last: u64,
    },
    /// The checkpoint is not consistent with the last one signed or seen (same size with
    /// another root, or a consistency proof that fails).
    #[error("checkpoint is inconsistent with the last one at size {last}: {reason}")]
    Inconsistent {
        /// The last size.
        last: u64,
        /// Why.
        reason: ProofError,
    },
    /// The log could not produce a root or proof.
    #[error("log: {0}")]
    Log(String),
    /// A table bound was reached.
    #[error("too many logs: maximum {0}")]
    TooManyLogs(usize),
}

fn is_valid_line_text(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_control)
}

impl Checkpoint {
    /// A checkpoint without extensions.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] for an invalid origin.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        check_origin(origin)?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The tree head (size and root).
    #[must_use]
    pub fn tree_head(&self) -> TreeHead {
        TreeHead {
            size: self.size,
            root: self.root,
        }
    }

    /// Parses a checkpoint body strictly: decimal size without leading zeros, a 32-byte root in
    /// standard padded base64, non-empty extension lines, a final newline.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`].
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing origin"))?;
        check_origin(origin)?;
        let size_text = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing size"))?;
        let size = parse_size(size_text)?;
        let root_text = lines
            .next()
            .ok_or(CheckpointError::Malformed("missing root"))?;
        let root: Hash = STANDARD
            .decode(root_text)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(CheckpointError::Malformed("root is not 32 bytes of base64"))?;
        let mut extensions = Vec::new();
        for line in lines {
            if !is_valid_line_text(line) {
                return Err(CheckpointError::Malformed(
                    "empty or invalid extension line",
                ));
            }
            if extensions.len() >= MAX_EXTENSIONS {
                return Err(CheckpointError::Malformed("too many extension lines"));
            }
            extensions.push(line.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The body: `<origin>\n<size>\n<base64 root>\n` and the extension lines.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Parses a signed checkpoint note and verifies it with `known` keys (the log's key must be
    /// among them: a signature by a key named after the origin must verify). Returns the
    /// checkpoint and the parsed note.
    ///
    /// # Errors
    /// [`CheckpointError::Note`], [`CheckpointError::Malformed`],
    /// [`CheckpointError::UnknownOrigin`] if no known key is named after the origin.
    pub fn open(signed: &[u8], known: &[NoteVerifier]) -> Result<(Self, Note), CheckpointError> {
        let note = Note::parse(signed)?;
        let checkpoint = Self::parse(note.text())?;
        let signed_by = note.verify(known)?;
        if !signed_by.iter().any(|v| v.name() == checkpoint.origin) {
            return Err(CheckpointError::UnknownOrigin(checkpoint.origin));
        }
        Ok((checkpoint, note))
    }
}

fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    if origin.is_empty() || origin.len() > MAX_ORIGIN_LEN {
        return Err(CheckpointError::Malformed("origin is empty or too long"));
    }
    if origin.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CheckpointError::Malformed(
            "origin holds a space or control character",
        ));
    }
    Ok(())
}

fn parse_size(text: &str) -> Result<u64, CheckpointError> {
    let ok = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !ok {
        return Err(CheckpointError::Malformed(
            "size is not a decimal without leading zeros",
        ));
    }
    text.parse()
        .map_err(|_| CheckpointError::Malformed("size does not fit in 64 bits"))
}

/// Checks that `new` extends `last` with `proof`: a smaller size is a rollback, the same size
/// needs the same root, a larger one a valid consistency proof (anything extends the empty
/// tree).
///
/// # Errors
/// [`CheckpointError::Rollback`] or [`CheckpointError::Inconsistent`].
pub fn check_extends(
    last: &TreeHead,
    new: &TreeHead,
    proof: &[Hash],
) -> Result<(), CheckpointError> {
    if new.size < last.size {
        return Err(CheckpointError::Rollback {
            size: new.size,
            last: last.size,
        });
    }
    if last.size == 0 {
        return if new.size == 0 && new.root != EMPTY_ROOT {
            Err(CheckpointError::Inconsistent {
                last: 0,
                reason: ProofError::RootMismatch,
            })
        } else {
            Ok(())
        };
    }
    merkle::verify_consistency(last.size, new.size, &last.root, &new.root, proof).map_err(
        |reason| CheckpointError::Inconsistent {
            last: last.size,
            reason,
        },
    )
}

/// A log's checkpoint signer (key name = origin). It remembers the last checkpoint it signed
/// and refuses to sign one that does not extend it; export that state with
/// [`last_signed`](Self::last_signed) and restore it with
/// [`restore_last_signed`](Self::restore_last_signed) so a restart cannot fork the log.
#[derive(Debug)]
pub struct CheckpointSigner {
    signer: NoteSigner,
    last: Option<TreeHead>,
}

impl CheckpointSigner {
    /// A signer for the log `origin` with `key`.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] or [`CheckpointError::Note`] for an invalid origin.
    pub fn new(origin: &str, key: SigningKey) -> Result<Self, CheckpointError> {
        check_origin(origin)?;
        Ok(Self {
            signer: NoteSigner::new(origin, key)?,
            last: None,
        })
    }

    /// A signer from a note signer; its name is the origin.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] if the name is not a valid origin.
    pub fn from_note_signer(signer: NoteSigner) -> Result<Self, CheckpointError> {
        check_origin(signer.name())?;
        Ok(Self { signer, last: None })
    }

    /// The origin.
    #[must_use]
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The log's verifier key.
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// The last checkpoint signed, to persist.
    #[must_use]
    pub fn last_signed(&self) -> Option<TreeHead> {
        self.last
    }

    /// Restores the persisted last signed tree head.
    pub fn restore_last_signed(&mut self, last: Option<TreeHead>) {
        self.last = last;
    }

    /// Signs `checkpoint` if `proof` proves it extends the last one signed (or it is the first).
    ///
    /// # Errors
    /// [`CheckpointError::WrongOrigin`], [`CheckpointError::Rollback`],
    /// [`CheckpointError::Inconsistent`].
    pub fn sign(
        &mut self,
        checkpoint: &Checkpoint,
        proof: &[Hash],
    ) -> Result<Note, CheckpointError> {
        if checkpoint.origin != self.origin() {
            return Err(CheckpointError::WrongOrigin(checkpoint.origin.clone()));
        }
        let head = checkpoint.tree_head();
        if let Some(last) = &self.last {
            check_extends(last, &head, proof)?;
        } else if head.size == 0 && head.root != EMPTY_ROOT {
            return Err(CheckpointError::Inconsistent {
                last: 0,
                reason: ProofError::RootMismatch,
            });
        }
        let mut note = Note::new(checkpoint.to_text())?;
        note.sign(&self.signer)?;
        self.last = Some(head);
        Ok(note)
    }

    /// Signs the log's current checkpoint, proving consistency with the last one signed from
    /// the log itself.
    ///
    /// # Errors
    /// As [`sign`](Self::sign); [`CheckpointError::Log`] if the log cannot produce the proof
    /// (e.g. it is shorter than the last signed checkpoint).
    pub fn sign_log<S: Store>(&mut self, log: &MerkleLog<S>) -> Result<Note, CheckpointError> {
        let checkpoint = Checkpoint::new(self.origin(), log.size(), log.root())?;
        let proof = match self.last {
            Some(last) if last.size > 0 && last.size < log.size() => log
                .consistency_proof(last.size, log.size())
                .map_err(|e| CheckpointError::Log(e.to_string()))?,
            _ => Vec::new(),
        };
        self.sign(&checkpoint, &proof)
    }
}

/// A witness: cosigns a log's checkpoint (an Ed25519 signature line over the same note text)
/// only after verifying the log's signature and a consistency proof from the last checkpoint
/// it cosigned for that origin. Knows at most `max_logs` logs, and keeps one tree head each.
#[derive(Debug)]
pub struct Witness {
    signer: NoteSigner,
    logs: BTreeMap<String, (NoteVerifier, Option<TreeHead>)>,
    max_logs: usize,
}

impl Witness {
    /// A witness signing with `signer`, for at most `max_logs` logs.
    #[must_use]
    pub fn new(signer: NoteSigner, max_logs: usize) -> Self {
        Self {
            signer,
            logs: BTreeMap::new(),
            max_logs,
        }
    }

    /// The witness's verifier key.
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// Adds a log by its key (whose name is the origin); replaces the key of a known origin
    /// and keeps its state.
    ///
    /// # Errors
    /// [`CheckpointError::TooManyLogs`].
    pub fn add_log(&mut self, log_key: NoteVerifier) -> Result<(), CheckpointError> {
        if let Some(entry) = self.logs.get_mut(log_key.name()) {
            entry.0 = log_key;
            return Ok(());
        }
        if self.logs.len() >= self.max_logs {
            return Err(CheckpointError::TooManyLogs(self.max_logs));
        }
        self.logs.insert(log_key.name().to_owned(), (log_key, None));
        Ok(())
    }

    /// The last tree head cosigned for `origin`.
    #[must_use]
    pub fn last_seen(&self, origin: &str) -> Option<TreeHead> {
        self.logs.get(origin).and_then(|(_, head)| *head)
    }

    /// Restores a persisted tree head for a known origin.
    ///
    /// # Errors
    /// [`CheckpointError::UnknownOrigin`].
    pub fn restore_last_seen(
        &mut self,
        origin: &str,
        head: TreeHead,
    ) -> Result<(), CheckpointError> {
        let entry = self
            .logs
            .get_mut(origin)
            .ok_or_else(|| CheckpointError::UnknownOrigin(origin.to_owned()))?;
        entry.1 = Some(head);
        Ok(())
    }

    /// Verifies a signed checkpoint from a known log and `proof` of consistency from the last
    /// one cosigned for its origin, then returns the note with the witness's signature added.
    ///
    /// # Errors
    /// [`CheckpointError::Note`] (bad or missing log signature), [`CheckpointError::UnknownOrigin`],
    /// [`CheckpointError::Rollback`], [`CheckpointError::Inconsistent`].
    pub fn cosign(&mut self, signed: &[u8], proof: &[Hash]) -> Result<Note, CheckpointError> {
        let mut note = Note::parse(signed)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        let (log_key, last) = self
            .logs
            .get(&checkpoint.origin)
            .ok_or_else(|| CheckpointError::UnknownOrigin(checkpoint.origin.clone()))?;
        note.verify(core::slice::from_ref(log_key))?;
        let head = checkpoint.tree_head();
        if let Some(last) = last {
            check_extends(last, &head, proof)?;
        }
        note.sign(&self.signer)?;
        if let Some(entry) = self.logs.get_mut(&checkpoint.origin) {
            entry.1 = Some(head);
        }
        Ok(note)
    }
}

impl From<&CheckpointError> for talos_crypto::ErrorCode {
    /// As the note's error; an inconsistent checkpoint is a cryptographic failure; anything
    /// else is malformed input or a refused request.
    fn from(err: &CheckpointError) -> Self {
        match err {
            CheckpointError::Note(e) => e.into(),
            CheckpointError::Inconsistent { .. } => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}
