//! The light client: holds only trusted signed checkpoints (one per log origin, verified with
//! the log keys it knows), verifies that entries are included in them, moves to a newer
//! checkpoint only with a valid consistency proof, and reports equivocation.
//!
//! Getters: `checkpoint`, `signed_note`. Commands: `add_log_key`. Input: `update` (a signed
//! checkpoint and a consistency proof). Queries: `verify_inclusion`, `verify_entry`.
//!
//! The client never holds two checkpoints of one origin and never replaces the one it holds by
//! one that is not proven consistent with it. Two validly signed checkpoints that cannot both
//! be right (the same size with different roots, or a consistency proof between them that
//! fails) are returned as [`Equivocation`] evidence holding both signed notes.
//!
//! ```
//! use talos_ledger::checkpoint::CheckpointSigner;
//! use talos_ledger::light::{LightClient, Update};
//! use talos_ledger::merkle::MerkleLog;
//! use talos_ledger::crypto::SigningKey;
//!
//! let mut log = MerkleLog::new();
//! let mut signer = CheckpointSigner::new("example.com/log", SigningKey::from_seed(&[7; 32]))?;
//! let mut client = LightClient::new(8);
//! client.add_log_key(signer.verifier())?;
//!
//! log.append(b"a")?;
//! log.append(b"b")?;
//! assert_eq!(client.update(&signer.sign_log(&log)?.to_bytes(), &[])?, Update::Trusted);
//! client.verify_entry("example.com/log", b"b", 1, &log.inclusion_proof(1, 2)?)?;
//!
//! log.append(b"c")?;
//! let proof = log.consistency_proof(2, 3)?;
//! assert_eq!(client.update(&signer.sign_log(&log)?.to_bytes(), &proof)?, Update::Advanced);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use crate::checkpoint::{Checkpoint, CheckpointError, TreeHead, check_extends};
use crate::merkle::{self, Hash, ProofError, leaf_hash};
use crate::note::{Note, NoteVerifier};

/// Evidence that a log equivocated: two checkpoints for one origin, each validly signed by
/// the log's key, that are not consistent.
///
/// When the two have the same size (and different roots) the evidence is self-contained.
/// When they differ in size, it is a claim that the consistency proof offered between them
/// failed; a third party confirms it by asking the log for that proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The checkpoint that was held.
    pub a: Note,
    /// The conflicting checkpoint received.
    pub b: Note,
}

/// Why an update or a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LightError {
    /// The checkpoint is malformed, not signed by the log's key, or from an unknown log.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The log equivocated: the evidence holds both signed checkpoints.
    #[error(
        "equivocation by log {origin}: checkpoints at sizes {size_a} and {size_b} are inconsistent"
    )]
    Equivocation {
        /// The origin.
        origin: String,
        /// Size of the held checkpoint.
        size_a: u64,
        /// Size of the received checkpoint.
        size_b: u64,
        /// Both signed checkpoints.
        evidence: Box<Equivocation>,
    },
    /// No checkpoint is held for the origin.
    #[error("no checkpoint held for {0:?}")]
    NoCheckpoint(String),
    /// An inclusion proof does not verify against the held checkpoint.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
    /// A table bound was reached.
    #[error("too many logs: maximum {0}")]
    TooManyLogs(usize),
}

/// What an accepted [`LightClient::update`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Update {
    /// The first checkpoint for this origin, now trusted.
    Trusted,
    /// A larger checkpoint, proven consistent, replaced the held one.
    Advanced,
    /// The same checkpoint as the held one.
    Unchanged,
    /// An older checkpoint, proven consistent with the held one; nothing changed.
    Older,
}

#[derive(Clone, Debug)]
struct Held {
    checkpoint: Checkpoint,
    note: Note,
}

/// A light client over any number (bounded) of logs.
#[derive(Clone, Debug)]
pub struct LightClient {
    keys: BTreeMap<String, NoteVerifier>,
    held: BTreeMap<String, Held>,
    max_logs: usize,
}

impl LightClient {
    /// A client that knows at most `max_logs` log keys.
    #[must_use]
    pub fn new(max_logs: usize) -> Self {
        Self {
            keys: BTreeMap::new(),
            held: BTreeMap::new(),
            max_logs,
        }
    }

    /// Trusts `key` (named after its origin) as a log key; replacing a known origin's key keeps
    /// the checkpoint held for it.
    ///
    /// # Errors
    /// [`LightError::TooManyLogs`].
    pub fn add_log_key(&mut self, key: NoteVerifier) -> Result<(), LightError> {
        if !self.keys.contains_key(key.name()) && self.keys.len() >= self.max_logs {
            return Err(LightError::TooManyLogs(self.max_logs));
        }
        self.keys.insert(key.name().to_owned(), key);
        Ok(())
    }

    /// The checkpoint held for `origin`.
    #[must_use]
    pub fn checkpoint(&self, origin: &str) -> Option<&Checkpoint> {
        self.held.get(origin).map(|h| &h.checkpoint)
    }

    /// The signed note of the checkpoint held for `origin`.
    #[must_use]
    pub fn signed_note(&self, origin: &str) -> Option<&Note> {
        self.held.get(origin).map(|h| &h.note)
    }

    /// Offers a signed checkpoint with a consistency proof between it and the held one (from
    /// the smaller size to the larger; empty for the first checkpoint or the same size).
    ///
    /// # Errors
    /// [`LightError::Checkpoint`] for a malformed or badly signed checkpoint or an unknown
    /// origin (nothing changes); [`LightError::Equivocation`] with both notes when the two are
    /// inconsistent (the held one is kept).
    pub fn update(&mut self, signed: &[u8], proof: &[Hash]) -> Result<Update, LightError> {
        let note = Note::parse(signed).map_err(CheckpointError::from)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        let key = self
            .keys
            .get(&checkpoint.origin)
            .ok_or_else(|| CheckpointError::UnknownOrigin(checkpoint.origin.clone()))?;
        note.verify(core::slice::from_ref(key))
            .map_err(CheckpointError::from)?;
        let new = checkpoint.tree_head();
        let Some(held) = self.held.get(&checkpoint.origin) else {
            if let Err(e) = check_extends(
                &TreeHead {
                    size: 0,
                    root: merkle::EMPTY_ROOT,
                },
                &new,
                &[],
            ) {
                return Err(e.into());
            }
            self.held
                .insert(checkpoint.origin.clone(), Held { checkpoint, note });
            return Ok(Update::Trusted);
        };
        let old = held.checkpoint.tree_head();
        let (lo, hi) = if new.size >= old.size {
            (&old, &new)
        } else {
            (&new, &old)
        };
        let consistent = if new.size == old.size {
            new.root == old.root
        } else {
            check_extends(lo, hi, proof).is_ok()
        };
        if !consistent {
            return Err(LightError::Equivocation {
                origin: checkpoint.origin.clone(),
                size_a: old.size,
                size_b: new.size,
                evidence: Box::new(Equivocation {
                    a: held.note.clone(),
                    b: note,
                }),
            });
        }
        if new.size > old.size {
            self.held
                .insert(checkpoint.origin.clone(), Held { checkpoint, note });
            Ok(Update::Advanced)
        } else if new.size == old.size {
            Ok(Update::Unchanged)
        } else {
            Ok(Update::Older)
        }
    }

    /// Verifies that the leaf hash `leaf` is at `index` in the held checkpoint of `origin`.
    ///
    /// # Errors
    /// [`LightError::NoCheckpoint`] or [`LightError::Inclusion`].
    pub fn verify_inclusion(
        &self,
        origin: &str,
        leaf: &Hash,
        index: u64,
        proof: &[Hash],
    ) -> Result<(), LightError> {
        let held = self
            .held
            .get(origin)
            .ok_or_else(|| LightError::NoCheckpoint(origin.to_owned()))?;
        merkle::verify_inclusion(
            index,
            held.checkpoint.size,
            leaf,
            proof,
            &held.checkpoint.root,
        )?;
        Ok(())
    }

    /// Verifies that the entry `data` is at `index` in the held checkpoint of `origin`.
    ///
    /// # Errors
    /// As [`verify_inclusion`](Self::verify_inclusion).
    pub fn verify_entry(
        &self,
        origin: &str,
        data: &[u8],
        index: u64,
        proof: &[Hash],
    ) -> Result<(), LightError> {
        self.verify_inclusion(origin, &leaf_hash(data), index, proof)
    }
}

/// A block's anchor entries are checked against the light client: the anchored note must be
/// signed by the key the client holds for its origin and must state the anchor's size and root;
/// and if the client holds a checkpoint of the same size, the roots must agree.
///
/// An anchor of another size carries no consistency proof (its producer cannot know what each
/// validator holds), so across sizes only the signature and the statement are checked here; a
/// node that wants more asks the log for a proof and offers both to
/// [`update`](LightClient::update), which reports equivocation.
impl crate::validate::AnchorCheck for LightClient {
    fn check(&self, anchor: &crate::entry::Anchor) -> Result<(), String> {
        let key = self
            .keys
            .get(&anchor.origin)
            .ok_or_else(|| format!("no key for the log {:?}", anchor.origin))?;
        let note = Note::parse(anchor.note.as_bytes()).map_err(|e| e.to_string())?;
        note.verify(core::slice::from_ref(key))
            .map_err(|e| e.to_string())?;
        let stated = Checkpoint::parse(note.text()).map_err(|e| e.to_string())?;
        if stated.origin != anchor.origin
            || stated.size != anchor.size
            || stated.root != anchor.root
        {
            return Err(format!(
                "the signed note states {} at size {}, not the anchor's size {}",
                stated.origin, stated.size, anchor.size
            ));
        }
        match self.held.get(&anchor.origin) {
            Some(held)
                if held.checkpoint.size == anchor.size && held.checkpoint.root != anchor.root =>
            {
                Err(format!(
                    "the log {} has another root at size {} in the checkpoint we hold",
                    anchor.origin, anchor.size
                ))
            }
            _ => Ok(()),
        }
    }

    fn is_known(&self, origin: &str) -> bool {
        self.keys.contains_key(origin)
    }
}

impl From<&LightError> for talos_crypto::ErrorCode {
    /// Equivocation and a failed inclusion are cryptographic failures; the checkpoint's own
    /// error maps as [`CheckpointError`] does; anything else is malformed input.
    fn from(err: &LightError) -> Self {
        match err {
            LightError::Checkpoint(e) => e.into(),
            LightError::Equivocation { .. } | LightError::Inclusion(ProofError::RootMismatch) => {
                Self::CryptoError
            }
            _ => Self::InvalidInput,
        }
    }
}
