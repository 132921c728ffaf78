//! C2SP signed notes (`c2sp.org/signed-note`) with Ed25519 keys in the Go
//! `golang.org/x/mod/sumdb/note` key formats.
//!
//! A signed note is a UTF-8 text ending in a newline, a blank line, then one or more signature
//! lines `— <key name> <base64(key ID ‖ signature)>`. The text is separated from the
//! signatures by the **last** blank line. A key ID is the first four bytes of
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`, big-endian.
//!
//! Verification ignores signatures by unknown `(name, key ID)` pairs, checks every known one
//! (one that fails rejects the note), and rejects a note that no known key signed.
//!
//! ```
//! use talos_ledger::note::{Note, NoteSigner, NoteVerifier};
//!
//! let signer = NoteSigner::from_skey(
//!     "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
//! )?;
//! let verifier =
//!     NoteVerifier::from_vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")?;
//! assert_eq!(signer.verifier(), verifier);
//!
//! let mut note = Note::new(
//!     "If you think cryptography is the answer to your problem,\n\
//!      then you don't know what your problem is.\n",
//! )?;
//! note.sign(&signer)?;
//! let bytes = note.to_bytes();
//! assert!(bytes.ends_with(
//!     "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
//!         .as_bytes()
//! ));
//!
//! let parsed = Note::parse(&bytes)?;
//! let known = [verifier];
//! let signed_by = parsed.verify(&known)?;
//! assert_eq!(signed_by[0].name(), "PeterNeumann");
//! # Ok::<(), talos_ledger::note::NoteError>(())
//! ```

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use talos_crypto::hash::Sha256;
use talos_crypto::{Signature, SigningKey, VerifyingKey, Zeroizing};

/// The largest signed note accepted, in bytes.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// The most signature lines a note may carry (C2SP asks verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The signature type byte of Ed25519 keys (signature over the note text).
pub const ALG_ED25519: u8 = 0x01;

/// The prefix of a signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note, a key or a signature was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_SIZE`].
    #[error("malformed note: {len} bytes, maximum {max}")]
    TooLarge {
        /// The size.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("malformed note: more than {0} signatures")]
    TooManySignatures(usize),
    /// The note's text or signature block does not follow the format.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A key name is empty or holds a space or `+`.
    #[error("invalid key name {0:?}")]
    InvalidName(String),
    /// A key string is not in the expected format.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A key's ID does not match its name and public key.
    #[error("key id mismatch: the key id is {claimed:08x}, the key hashes to {actual:08x}")]
    KeyIdMismatch {
        /// The key ID in the key string.
        claimed: u32,
        /// The key ID computed from the name and public key.
        actual: u32,
    },
    /// A signature by a known key does not verify.
    #[error("invalid signature by {name}+{key_id:08x}")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// No known key signed the note.
    #[error("no known key signed the note (unverified note)")]
    NoKnownSignature,
}

/// The key ID of an Ed25519 key: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0..4]`, big-endian.
#[must_use]
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(&[ALG_ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Whether `name` is a valid key name: non-empty, no Unicode white space, no `+`.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidName(name.to_owned()))
    }
}

/// Checks a note text: valid UTF-8 (given), ends in a newline, no control characters other
/// than newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text does not end in a newline"));
    }
    check_chars(text)
}

fn check_chars(text: &str) -> Result<(), NoteError> {
    if text.chars().any(|c| c != '\n' && c.is_control()) {
        return Err(NoteError::Malformed("control character"));
    }
    Ok(())
}

/// An Ed25519 note verifier key: a name, its key ID and the public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `key` under `name`.
    ///
    /// # Errors
    /// [`NoteError::InvalidName`].
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// Parses a verifier key `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`.
    ///
    /// # Errors
    /// [`NoteError::InvalidKey`], [`NoteError::InvalidName`] or [`NoteError::KeyIdMismatch`].
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let (name, claimed, raw) = split_key(vkey)?;
        let key =
            VerifyingKey::from_slice(&raw).map_err(|_| NoteError::InvalidKey("bad public key"))?;
        let actual = key_id(name, &key);
        if actual != claimed {
            return Err(NoteError::KeyIdMismatch { claimed, actual });
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: actual,
            key,
        })
    }

    /// The verifier key string `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`.
    #[must_use]
    pub fn to_vkey(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(raw))
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public key.
    #[must_use]
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether `sig` is this key's valid signature of `text`.
    fn verifies(&self, text: &[u8], sig: &[u8]) -> bool {
        Signature::from_slice(sig).is_ok_and(|s| self.key.verify(text, &s).is_ok())
    }
}

fn parse_key_id(hex: &str) -> Result<u32, NoteError> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::InvalidKey("key id is not 8 hex digits"));
    }
    u32::from_str_radix(hex, 16).map_err(|_| NoteError::InvalidKey("key id is not 8 hex digits"))
}

/// An Ed25519 note signer: a name, its key ID and the signing key. `Debug` omits the key.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer for `key` under `name`.
    ///
    /// # Errors
    /// [`NoteError::InvalidName`].
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &key.verifying_key()),
            key,
        })
    }

    /// Parses a private key `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>`.
    ///
    /// # Errors
    /// [`NoteError::InvalidKey`], [`NoteError::InvalidName`] or [`NoteError::KeyIdMismatch`].
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::InvalidKey("missing PRIVATE+KEY+"))?;
        let (name, claimed, raw) = split_key(rest)?;
        let key =
            SigningKey::from_seed_slice(&raw).map_err(|_| NoteError::InvalidKey("bad seed"))?;
        let actual = key_id(name, &key.verifying_key());
        if actual != claimed {
            return Err(NoteError::KeyIdMismatch { claimed, actual });
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: actual,
            key,
        })
    }

    /// The private key string `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>`. It
    /// holds the secret, and is wiped when dropped.
    #[must_use]
    pub fn to_skey(&self) -> Zeroizing<String> {
        let seed = self.key.to_seed();
        let mut raw = Zeroizing::new([0u8; 33]);
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(&seed[..]);
        let encoded = Zeroizing::new(STANDARD.encode(&raw[..]));
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name, self.key_id, *encoded
        ))
    }

    /// The matching verifier.
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature line for `text` (not checked here).
    fn sign_text(&self, text: &str) -> NoteSignature {
        let sig = self.key.sign(text.as_bytes());
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: sig.to_bytes().to_vec(),
        }
    }
}

/// One signature line: key name, key ID and signature bytes (after the key ID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes, without the key ID.
    #[must_use]
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    fn write_line(&self, out: &mut String) {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        out.push_str(SIG_PREFIX);
        out.push_str(&self.name);
        out.push(' ');
        out.push_str(&STANDARD.encode(raw));
        out.push('\n');
    }
}

/// A note: its text and its signature lines (possibly none while being built).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// An unsigned note with `text`.
    ///
    /// # Errors
    /// [`NoteError::Malformed`] if the text does not end in a newline or holds a control
    /// character; [`NoteError::TooLarge`].
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        if text.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                len: text.len(),
                max: MAX_NOTE_SIZE,
            });
        }
        check_text(&text)?;
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note (signatures are not verified: see [`verify`](Self::verify)).
    ///
    /// # Errors
    /// [`NoteError::TooLarge`], [`NoteError::TooManySignatures`], [`NoteError::Malformed`],
    /// [`NoteError::InvalidName`].
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                len: bytes.len(),
                max: MAX_NOTE_SIZE,
            });
        }
        let msg = core::str::from_utf8(bytes).map_err(|_| NoteError::Malformed("invalid UTF-8"))?;
        check_chars(msg)?;
        let split = msg
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before signatures"))?;
        let (text, sigs) = (
            msg.get(..=split).unwrap_or(""),
            msg.get(split + 2..).unwrap_or(""),
        );
        if sigs.is_empty() {
            return Err(NoteError::Malformed("no signatures"));
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::Malformed(
                "signature block does not end in a newline",
            ));
        };
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures(MAX_SIGNATURES));
            }
            let line = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
                "signature line does not start with '\u{2014} '",
            ))?;
            let (name, b64) = line
                .split_once(' ')
                .ok_or(NoteError::Malformed("signature line without a space"))?;
            check_name(name)?;
            let raw = STANDARD
                .decode(b64)
                .map_err(|_| NoteError::Malformed("bad signature base64"))?;
            if raw.len() < 5 {
                return Err(NoteError::Malformed("signature too short"));
            }
            let (id, sig) = raw.split_at(4);
            let key_id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id,
                signature: sig.to_vec(),
            });
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The text (what is signed), ending in a newline.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    #[must_use]
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds `signer`'s signature line (replacing an earlier one by the same key).
    ///
    /// # Errors
    /// [`NoteError::TooManySignatures`] or [`NoteError::TooLarge`].
    pub fn sign(&mut self, signer: &NoteSigner) -> Result<(), NoteError> {
        let sig = signer.sign_text(&self.text);
        self.add_signature(sig)
    }

    /// Adds a signature line taken from another copy of the note (e.g. a witness cosignature),
    /// replacing an earlier one by the same `(name, key ID)`. The signature is not checked.
    ///
    /// # Errors
    /// [`NoteError::TooManySignatures`] or [`NoteError::TooLarge`].
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        if let Some(old) = self
            .signatures
            .iter_mut()
            .find(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            *old = sig;
            return Ok(());
        }
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures(MAX_SIGNATURES));
        }
        self.signatures.push(sig);
        let len = self.encoded_len();
        if len > MAX_NOTE_SIZE {
            self.signatures.pop();
            return Err(NoteError::TooLarge {
                len,
                max: MAX_NOTE_SIZE,
            });
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.to_string().len()
    }

    /// The signed note, bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Verifies the note against `known` keys: signatures by unknown `(name, key ID)` are
    /// ignored, every known one must verify, and at least one must. Returns the verifiers
    /// that signed, in signature order, each once.
    ///
    /// # Errors
    /// [`NoteError::InvalidSignature`] or [`NoteError::NoKnownSignature`].
    pub fn verify<'a>(
        &self,
        known: &'a [NoteVerifier],
    ) -> Result<Vec<&'a NoteVerifier>, NoteError> {
        let mut signed_by: Vec<&'a NoteVerifier> = Vec::new();
        for sig in &self.signatures {
            let Some(v) = known
                .iter()
                .find(|v| v.name == sig.name && v.key_id == sig.key_id)
            else {
                continue;
            };
            if !v.verifies(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !signed_by.iter().any(|s| core::ptr::eq(*s, v)) {
                signed_by.push(v);
            }
        }
        if signed_by.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(signed_by)
    }

    /// Whether `verifier` signed this note validly.
    #[must_use]
    pub fn is_signed_by(&self, verifier: &NoteVerifier) -> bool {
        self.signatures.iter().any(|s| {
            s.name == verifier.name
                && s.key_id == verifier.key_id
                && verifier.verifies(self.text.as_bytes(), &s.signature)
        })
    }
}

impl fmt::Display for Note {
    /// The text, a blank line, and the signature lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(self.text.len() + 1 + 120 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            s.write_line(&mut out);
        }
        f.write_str(&out)
    }
}

impl From<&NoteError> for talos_crypto::ErrorCode {
    /// A signature that fails, or none from a known key, is a cryptographic failure; anything
    /// else is malformed input.
    fn from(err: &NoteError) -> Self {
        match err {
            NoteError::InvalidSignature { .. } | NoteError::NoKnownSignature => Self::CryptoError,
            _ => Self::InvalidInput,
        }
    }
}

/// Splits `<name>+<hex key ID>+<base64(0x01 ‖ key)>` (the part both key strings share; the
/// base64 may itself contain `+`) and checks the name and the key type. The key bytes are
/// wiped when dropped, since for a signer they are its seed.
fn split_key(text: &str) -> Result<(&str, u32, Zeroizing<Vec<u8>>), NoteError> {
    let (name, rest) = text
        .split_once('+')
        .ok_or(NoteError::InvalidKey("missing '+'"))?;
    let (id_hex, key_b64) = rest
        .split_once('+')
        .ok_or(NoteError::InvalidKey("missing '+'"))?;
    check_name(name)?;
    let claimed = parse_key_id(id_hex)?;
    let mut raw = Zeroizing::new(
        STANDARD
            .decode(key_b64)
            .map_err(|_| NoteError::InvalidKey("bad base64"))?,
    );
    match raw.first() {
        None => return Err(NoteError::InvalidKey("empty key")),
        Some(&ALG_ED25519) => {}
        Some(_) => return Err(NoteError::InvalidKey("unsupported key type")),
    }
    raw.remove(0);
    Ok((name, claimed, raw))
}
