//! Pairwise messaging between DIDs, without I/O: a talos-v2 session per peer (X3DH from the
//! peer's published prekey bundle, then the Double Ratchet), every message in an envelope
//! signed by its sender, and a signed receipt for every message received.
//!
//! [`Messenger::seal`] turns a body into the bytes to deliver; [`Messenger::open`] turns
//! delivered bytes into an [`Inbound`]: a message (with the receipt to send back), a
//! duplicate of one already received (its receipt again, not the body: the sender retries
//! until it has a receipt, so the same envelope can arrive twice), or a receipt.
//!
//! Wire: a talos-wire [`Envelope`] in deterministic CBOR, signed by the sender's identity key
//! (its DID), whose content is one tag byte and a talos-ratchet value in CBOR: `1` an
//! [`InitialMessage`] (until the peer has answered), `2` a ratchet [`Message`]. A receipt is an
//! `ACK` envelope whose content is the 16-byte ids of the messages it acknowledges (one, or
//! all of a batch's).
//!
//! A **batch** ([`Messenger::seal_batch`], [`Messenger::open_batch`]) carries up to
//! [`MAX_BATCH`] messages in one signed envelope, each encrypted through the session as above
//! under its own message id, and is answered by one receipt for all of them: one signature
//! each way and, at the receiver, one commit per batch instead of per message. Its content is
//! the tag `3` then, for each message, its id (16 bytes), the length of its tagged ratchet
//! value (4 bytes, big-endian) and that value (`1` or `2` as above).
//!
//! The node persists [`Messenger::peer_snapshot`] (and the prekey store's snapshot) before it
//! sends a message or acknowledges one, so that a crash loses nothing acknowledged.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use talos_crypto::{CryptoRng, Timestamp, VerifyingKey, Zeroizing};
use talos_did::Did;
use talos_ratchet::prekeys::{PrekeyBundle, PrekeyStore};
use talos_ratchet::x3dh::{self, InitialHeader, InitialMessage};
use talos_ratchet::{Message, Session, SessionSnapshot};
use talos_wire::MessageId;
use talos_wire::chunk::{ChunkInfo, StreamStart};
use talos_wire::envelope::{Envelope, EnvelopeFields, EnvelopeType, Limits, Recipient};

const INITIAL: u8 = 1;
const RATCHET: u8 = 2;
const BATCH: u8 = 3;

/// How many received message ids are remembered to recognise duplicates.
pub const MAX_REMEMBERED: usize = 65_536;

/// The most messages in one batch (and ids in one receipt).
pub const MAX_BATCH: usize = 256;

/// Why a message could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessengerError {
    /// No session with the peer, and no prekey bundle to start one.
    #[error("no session with {0} and no prekey bundle to start one")]
    NoSession(String),
    /// The bundle is not the peer's, or does not verify.
    #[error("prekey bundle refused: {0}")]
    Bundle(String),
    /// A DID without an Ed25519 key.
    #[error("{0} is not a DID with an Ed25519 key")]
    BadDid(String),
    /// The envelope does not decode or verify.
    #[error("envelope refused: {0}")]
    Envelope(#[from] talos_wire::envelope::EnvelopeError),
    /// An envelope addressed to someone else.
    #[error("envelope for {0}, not for us")]
    NotForUs(String),
    /// The session start failed.
    #[error("session start refused: {0}")]
    Handshake(#[from] x3dh::HandshakeError),
    /// The content does not decode.
    #[error("content refused: {0}")]
    Content(String),
    /// A ratchet message that does not decrypt.
    #[error("message refused: {0}")]
    Decrypt(#[from] talos_ratchet::DecryptError),
    /// A ratchet message that cannot be encrypted.
    #[error("message cannot be sealed: {0}")]
    Encrypt(#[from] talos_ratchet::EncryptError),
    /// A snapshot that does not restore.
    #[error("snapshot refused: {0}")]
    Snapshot(String),
}

/// What [`Messenger::open`] found.
#[derive(Debug)]
#[non_exhaustive]
pub enum Inbound {
    /// A new message; send `receipt` back to `from` after persisting the message and the
    /// peer's session.
    Message {
        /// Its id.
        id: MessageId,
        /// The sender's DID.
        from: String,
        /// When the sender sent it.
        sent: Timestamp,
        /// The body.
        body: Zeroizing<Vec<u8>>,
        /// The signed receipt to send back.
        receipt: Vec<u8>,
    },
    /// A message already received (the sender did not get our receipt): send the receipt
    /// again, deliver nothing.
    Duplicate {
        /// Its id.
        id: MessageId,
        /// The sender's DID.
        from: String,
        /// The signed receipt to send back.
        receipt: Vec<u8>,
    },
    /// A receipt: `from` received our message `id`.
    Receipt {
        /// The acknowledged message.
        id: MessageId,
        /// Who received it.
        from: String,
    },
    /// A frame of a file stream (decrypted; not recorded as received: the receiver handles
    /// duplicates by stream and chunk). Send `receipt` back once the frame is persisted.
    Stream {
        /// The envelope's id (for a start, the stream id).
        id: MessageId,
        /// The sender's DID.
        from: String,
        /// The frame.
        part: StreamPart,
        /// The signed receipt to send back.
        receipt: Vec<u8>,
    },
}

/// What [`Messenger::open_batch`] found: send `receipt` back to the sender after persisting
/// the messages and the peer's session.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenedBatch {
    /// The new messages, in batch order.
    pub received: Vec<Received>,
    /// Ids of messages already received (acknowledged again, not delivered again).
    pub duplicates: Vec<MessageId>,
    /// The messages refused, by their index in the batch, and why. They are not in the
    /// receipt: the sender delivers them again on its own.
    pub refused: Vec<(usize, MessengerError)>,
    /// The signed receipt for `received` and `duplicates`.
    pub receipt: Vec<u8>,
}

/// A new message of a batch.
#[derive(Debug)]
#[non_exhaustive]
pub struct Received {
    /// Its id.
    pub id: MessageId,
    /// When the sender sent it.
    pub sent: Timestamp,
    /// The body.
    pub body: Zeroizing<Vec<u8>>,
}

/// A frame of a file stream to seal ([`Messenger::seal_stream`]).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum StreamFrame<'a> {
    /// The announcement; its envelope's id is the stream id.
    Start(&'a StreamStart),
    /// One chunk: its info (carried in the signed envelope) and its bytes (encrypted).
    Chunk(&'a ChunkInfo, &'a [u8]),
    /// The end of the stream with this id: the receiver acknowledges it once the whole file
    /// is verified.
    End(MessageId),
}

/// A frame of a file stream, opened ([`Inbound::Stream`]).
#[non_exhaustive]
pub enum StreamPart {
    /// The announcement.
    Start(StreamStart),
    /// One chunk, not checked yet against its hash.
    Chunk {
        /// Where it sits and its hash, from the signed envelope.
        info: ChunkInfo,
        /// Its bytes.
        data: Zeroizing<Vec<u8>>,
    },
    /// The sender asks whether the whole stream arrived.
    End {
        /// The stream.
        stream_id: MessageId,
    },
}

impl core::fmt::Debug for StreamPart {
    /// Chunk bytes are shown by length only.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Start(start) => f.debug_tuple("Start").field(start).finish(),
            Self::Chunk { info, data } => f
                .debug_struct("Chunk")
                .field("info", info)
                .field("len", &data.len())
                .finish(),
            Self::End { stream_id } => f.debug_struct("End").field("stream_id", stream_id).finish(),
        }
    }
}

/// The state kept per peer.
struct Peer {
    /// The peer's identity key (from its DID, parsed once).
    key: VerifyingKey,
    session: Session,
    /// Our X3DH header, sent with every message until the peer has answered.
    initial: Option<InitialHeader>,
    /// The header of the peer's session start we answered, to recognise its later initial
    /// messages.
    theirs: Option<InitialHeader>,
}

/// Sessions with every peer, our prekeys and identity (see the [module docs](self)).
pub struct Messenger {
    prekeys: PrekeyStore,
    did: String,
    peers: BTreeMap<String, Peer>,
    limits: Limits,
    seen: BTreeSet<(String, [u8; 16])>,
    seen_order: VecDeque<(String, [u8; 16])>,
}

impl core::fmt::Debug for Messenger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Messenger")
            .field("did", &self.did)
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

fn key_of(did: &str) -> Result<VerifyingKey, MessengerError> {
    did.parse::<Did>()
        .ok()
        .and_then(|d| d.signing_key())
        .ok_or_else(|| MessengerError::BadDid(did.to_owned()))
}

impl Messenger {
    /// A messenger around our prekey store (which holds our identity key).
    #[must_use]
    pub fn new(prekeys: PrekeyStore) -> Self {
        Self {
            did: Did::from(prekeys.identity_key()).to_string(),
            prekeys,
            peers: BTreeMap::new(),
            limits: Limits::default(),
            seen: BTreeSet::new(),
            seen_order: VecDeque::new(),
        }
    }

    /// Our DID.
    #[must_use]
    pub fn did(&self) -> &str {
        &self.did
    }

    /// Our prekeys (to publish a bundle, to persist them).
    #[must_use]
    pub const fn prekeys(&self) -> &PrekeyStore {
        &self.prekeys
    }

    /// Our prekeys, to stock one-time prekeys or rotate.
    pub const fn prekeys_mut(&mut self) -> &mut PrekeyStore {
        &mut self.prekeys
    }

    /// Whether a session with `did` exists.
    #[must_use]
    pub fn has_session(&self, did: &str) -> bool {
        self.peers.contains_key(did)
    }

    /// Seals `body` for `to`, starting a session from `bundle` (the peer's published prekey
    /// bundle) when there is none. Returns the message id and the bytes to deliver; persist
    /// [`peer_snapshot`](Self::peer_snapshot) before delivering them.
    ///
    /// # Errors
    /// [`MessengerError`].
    pub fn seal(
        &mut self,
        to: &str,
        bundle: Option<&PrekeyBundle>,
        body: &[u8],
        now: Timestamp,
        rng: &mut impl CryptoRng,
    ) -> Result<(MessageId, Vec<u8>), MessengerError> {
        let id = MessageId::generate(now, rng);
        self.seal_with_id(to, bundle, body, id, now, rng)
            .map(|wire| (id, wire))
    }

    /// [`Messenger::seal`] under a message id chosen by the caller (e.g. the id a message got
    /// when it was queued, before the peer could be reached). Ids must be unique per sender:
    /// the receiver treats a second envelope with the same id as a duplicate.
    ///
    /// # Errors
    /// [`MessengerError`].
    pub fn seal_with_id(
        &mut self,
        to: &str,
        bundle: Option<&PrekeyBundle>,
        body: &[u8],
        id: MessageId,
        now: Timestamp,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, MessengerError> {
        self.start_session(to, bundle, rng)?;
        let content = self.encrypt(to, body, rng)?;
        self.envelope(id, EnvelopeType::Ratchet, to, content, now)
    }

    /// Seals `messages` (each with its id, unique per sender) for `to`, whose session must
    /// exist, into one batch envelope ([module docs](self)); persist
    /// [`peer_snapshot`](Self::peer_snapshot) before delivering it.
    ///
    /// # Errors
    /// [`MessengerError`]; on an error the session may have advanced: restore it from its
    /// snapshot.
    pub fn seal_batch(
        &mut self,
        to: &str,
        messages: &[(MessageId, &[u8])],
        now: Timestamp,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, MessengerError> {
        if messages.is_empty() || messages.len() > MAX_BATCH {
            return Err(MessengerError::Content(
                "a batch holds 1 to 256 messages".into(),
            ));
        }
        let mut content = vec![BATCH];
        for (id, body) in messages {
            let value = self.encrypt(to, body, rng)?;
            put_item(&mut content, *id, &value);
        }
        let id = MessageId::generate(now, rng);
        self.envelope(id, EnvelopeType::Ratchet, to, content, now)
    }

    /// Encrypts `body` for `to`, whose session must exist: the tagged content of an envelope.
    fn encrypt(
        &mut self,
        to: &str,
        body: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, MessengerError> {
        let peer = self
            .peers
            .get_mut(to)
            .ok_or_else(|| MessengerError::NoSession(to.to_owned()))?;
        let message = peer.session.encrypt(body, rng)?;
        Ok(match (&peer.initial, peer.session.has_received()) {
            (Some(header), false) => tagged(INITIAL, &header.wrap(message).to_cbor()),
            _ => {
                peer.initial = None;
                tagged(RATCHET, &message.to_cbor())
            }
        })
    }

    /// Seals a frame of a file stream for `to` (starting a session from `bundle` when there
    /// is none): a `STREAM_START`, `STREAM_CHUNK` or `STREAM_END` envelope whose content is
    /// encrypted through the session like a message's (the chunk's [`ChunkInfo`] travels in
    /// the signed envelope). Returns the envelope's id (for a `STREAM_START`, the stream id) and
    /// the bytes to deliver; persist [`peer_snapshot`](Self::peer_snapshot) before delivering
    /// them. Every call seals anew: a frame sent again gets a new ciphertext (and, but for a
    /// `STREAM_START`, a new id), so the receiver never decrypts the same message twice.
    ///
    /// # Errors
    /// [`MessengerError`].
    pub fn seal_stream(
        &mut self,
        to: &str,
        bundle: Option<&PrekeyBundle>,
        frame: StreamFrame<'_>,
        now: Timestamp,
        rng: &mut impl CryptoRng,
    ) -> Result<(MessageId, Vec<u8>), MessengerError> {
        self.start_session(to, bundle, rng)?;
        let (id, kind, chunk, content) = match frame {
            StreamFrame::Start(start) => (
                start.stream_id(),
                EnvelopeType::StreamStart,
                None,
                self.encrypt(to, &start.to_cbor(), rng)?,
            ),
            StreamFrame::Chunk(info, data) => (
                MessageId::generate(now, rng),
                EnvelopeType::StreamChunk,
                Some(*info),
                self.encrypt(to, data, rng)?,
            ),
            StreamFrame::End(stream_id) => (
                MessageId::generate(now, rng),
                EnvelopeType::StreamEnd,
                None,
                self.encrypt(to, stream_id.as_bytes(), rng)?,
            ),
        };
        let mut fields = self.fields(id, kind, to, content, now);
        fields.chunk = chunk;
        Ok((id, self.sign(fields)?))
    }

    /// Starts a session with `to` from `bundle` unless there is one.
    fn start_session(
        &mut self,
        to: &str,
        bundle: Option<&PrekeyBundle>,
        rng: &mut impl CryptoRng,
    ) -> Result<(), MessengerError> {
        if self.peers.contains_key(to) {
            return Ok(());
        }
        let key = key_of(to)?;
        let bundle = bundle.ok_or_else(|| MessengerError::NoSession(to.to_owned()))?;
        if bundle.identity_key != key {
            return Err(MessengerError::Bundle(format!("the bundle is not {to}'s")));
        }
        let (session, header) = x3dh::initiate(self.prekeys.identity(), bundle, rng)?;
        self.peers.insert(
            to.to_owned(),
            Peer {
                key,
                session,
                initial: Some(header),
                theirs: None,
            },
        );
        Ok(())
    }

    /// Re-signs an envelope this messenger sealed earlier with a new timestamp `now`, keeping
    /// its id, recipient and content: a queued message retried after the receiver's clock-skew
    /// window (5 minutes) would otherwise be refused as too old. The receiver still sees one
    /// message id, so a retry of a message it already has is a duplicate.
    ///
    /// # Errors
    /// [`MessengerError::Envelope`] if `wire` is not an envelope signed by this messenger.
    pub fn restamp(&self, wire: &[u8], now: Timestamp) -> Result<Vec<u8>, MessengerError> {
        let mut any_time = self.limits;
        any_time.set_max_skew(core::time::Duration::MAX);
        let unverified = Envelope::decode(wire, &any_time, now)?;
        let envelope = unverified.verify(&self.prekeys.identity_key())?;
        let mut fields = envelope.fields().clone();
        if fields.sender != self.did {
            return Err(MessengerError::Content("not our envelope".into()));
        }
        fields.timestamp = now;
        self.sign(fields)
    }

    /// The id of an envelope, without checking anything else (for the node's bookkeeping of
    /// envelopes it sealed itself).
    #[must_use]
    pub fn envelope_id(&self, wire: &[u8]) -> Option<MessageId> {
        let mut any_time = self.limits;
        any_time.set_max_skew(core::time::Duration::MAX);
        Envelope::decode(wire, &any_time, Timestamp::from_millis(0))
            .ok()
            .map(|e| e.fields().id)
    }

    /// Opens delivered bytes.
    ///
    /// # Errors
    /// [`MessengerError`]: forged, replayed, misaddressed or undecryptable input changes no
    /// state.
    pub fn open(
        &mut self,
        wire: &[u8],
        now: Timestamp,
        rng: &mut impl CryptoRng,
    ) -> Result<Inbound, MessengerError> {
        let (envelope, from) = self.accept(wire, now)?;
        let fields = envelope.fields();
        match fields.kind {
            EnvelopeType::Ack => Ok(Inbound::Receipt {
                id: receipt_id(&fields.content)?,
                from,
            }),
            EnvelopeType::Ratchet => {
                let id = fields.id;
                let seen = (from.clone(), *id.as_bytes());
                let receipt = self.envelope(
                    MessageId::generate(now, rng),
                    EnvelopeType::Ack,
                    &from,
                    id.as_bytes().to_vec(),
                    now,
                )?;
                if self.seen.contains(&seen) {
                    return Ok(Inbound::Duplicate { id, from, receipt });
                }
                let body = self.decrypt(&from, &fields.content)?;
                self.remember(seen);
                Ok(Inbound::Message {
                    id,
                    from,
                    sent: fields.timestamp,
                    body,
                    receipt,
                })
            }
            EnvelopeType::StreamStart | EnvelopeType::StreamChunk | EnvelopeType::StreamEnd => {
                let id = fields.id;
                let receipt = self.envelope(
                    MessageId::generate(now, rng),
                    EnvelopeType::Ack,
                    &from,
                    id.as_bytes().to_vec(),
                    now,
                )?;
                let body = self.decrypt(&from, &fields.content)?;
                let part = match (fields.kind, fields.chunk) {
                    (EnvelopeType::StreamStart, _) => {
                        let start = StreamStart::from_cbor(&body)
                            .map_err(|e| MessengerError::Content(e.to_string()))?;
                        if start.stream_id() != id {
                            return Err(MessengerError::Content(
                                "a stream start's id is its stream id".into(),
                            ));
                        }
                        StreamPart::Start(start)
                    }
                    (EnvelopeType::StreamChunk, Some(info)) => {
                        StreamPart::Chunk { info, data: body }
                    }
                    _ => {
                        let bytes: [u8; 16] = body.as_slice().try_into().map_err(|_| {
                            MessengerError::Content("a stream end holds a stream id".into())
                        })?;
                        let stream_id = MessageId::from_bytes(bytes)
                            .map_err(|e| MessengerError::Content(e.to_string()))?;
                        StreamPart::End { stream_id }
                    }
                };
                Ok(Inbound::Stream {
                    id,
                    from,
                    part,
                    receipt,
                })
            }
            _ => Err(MessengerError::Content("not a message or a receipt".into())),
        }
    }

    /// Opens bytes that can only be a receipt (the response to a message this messenger
    /// sent): anything else is refused without decrypting anything, so a peer cannot make the
    /// sender decrypt (and advance its session with) a message it never asked for. A receipt
    /// proves the peer holds the session: the session-start header stops going out with
    /// later messages.
    ///
    /// # Errors
    /// [`MessengerError`]; [`MessengerError::Content`] for an envelope that is not a receipt
    /// for one message.
    pub fn open_receipt(&mut self, wire: &[u8], now: Timestamp) -> Result<Inbound, MessengerError> {
        let (from, ids) = self.open_receipts(wire, now)?;
        match ids.as_slice() {
            [id] => Ok(Inbound::Receipt { id: *id, from }),
            _ => Err(MessengerError::Content(
                "a message's receipt holds one message id".into(),
            )),
        }
    }

    /// Opens a batch ([`Messenger::seal_batch`]) that `from` delivered (the DID its
    /// connection authenticated): the envelope must be `from`'s, to us; each of its messages
    /// is opened as [`Messenger::open`] would open it alone (a message that does not open is
    /// refused, the others still open). `admit` is asked, with its length, before each new
    /// message is decrypted (e.g. a rate limit); a message it turns away is refused. One
    /// receipt covers the new messages and the duplicates.
    ///
    /// # Errors
    /// [`MessengerError`] for an envelope that is not a batch from `from` to us, or when no
    /// message opened: refusals change no state. Should the receipt not be signed after some
    /// messages opened, the error leaves the session advanced: restore it from its snapshot.
    pub fn open_batch(
        &mut self,
        from: &str,
        wire: &[u8],
        now: Timestamp,
        rng: &mut impl CryptoRng,
        mut admit: impl FnMut(usize) -> bool,
    ) -> Result<OpenedBatch, MessengerError> {
        let (envelope, sender) = self.accept(wire, now)?;
        if sender != from {
            return Err(MessengerError::Content(format!(
                "a batch from {from} signed by {sender}"
            )));
        }
        let fields = envelope.fields();
        let items = match (fields.kind, fields.content.split_first()) {
            (EnvelopeType::Ratchet, Some((&BATCH, items))) => batch_items(items)?,
            _ => return Err(MessengerError::Content("not a batch".into())),
        };
        let mut received = Vec::with_capacity(items.len());
        let mut duplicates = Vec::new();
        let mut refused = Vec::new();
        for (index, (id, value)) in items.into_iter().enumerate() {
            let seen = (sender.clone(), *id.as_bytes());
            if self.seen.contains(&seen) {
                duplicates.push(id);
                continue;
            }
            if !admit(value.len()) {
                refused.push((index, MessengerError::Content("not admitted".into())));
                continue;
            }
            match self.decrypt(from, value) {
                Ok(body) => {
                    self.remember(seen);
                    received.push(Received {
                        id,
                        sent: fields.timestamp,
                        body,
                    });
                }
                Err(error) => refused.push((index, error)),
            }
        }
        let ids: Vec<u8> = received
            .iter()
            .map(|m| m.id)
            .chain(duplicates.iter().copied())
            .flat_map(|id| *id.as_bytes())
            .collect();
        if ids.is_empty() {
            return Err(refused.into_iter().next().map_or_else(
                || MessengerError::Content("an empty batch".into()),
                |(_, error)| error,
            ));
        }
        let receipt = self
            .envelope(
                MessageId::generate(now, rng),
                EnvelopeType::Ack,
                from,
                ids,
                now,
            )
            .inspect_err(|_| {
                for message in &received {
                    self.forget_received(from, message.id);
                }
            })?;
        Ok(OpenedBatch {
            received,
            duplicates,
            refused,
            receipt,
        })
    }

    /// Opens bytes that can only be a receipt, for one message or a batch: returns who
    /// signed it and the ids it acknowledges. As [`Messenger::open_receipt`].
    ///
    /// # Errors
    /// [`MessengerError`]; [`MessengerError::Content`] for an envelope that is not a receipt.
    pub fn open_receipts(
        &mut self,
        wire: &[u8],
        now: Timestamp,
    ) -> Result<(String, Vec<MessageId>), MessengerError> {
        let (envelope, from) = self.accept(wire, now)?;
        let fields = envelope.fields();
        if fields.kind != EnvelopeType::Ack {
            return Err(MessengerError::Content("not a receipt".into()));
        }
        let ids = receipt_ids(&fields.content)?;
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.initial = None;
        }
        Ok((from, ids))
    }

    /// Decodes `wire`, verifies it under its sender's key and checks that it is addressed to
    /// this messenger; returns it with the sender's DID.
    fn accept(&self, wire: &[u8], now: Timestamp) -> Result<(Envelope, String), MessengerError> {
        let unverified = Envelope::decode(wire, &self.limits, now)?;
        let from = unverified.fields().sender.clone();
        let envelope = unverified.verify(&self.key_of(&from)?)?;
        match &envelope.fields().recipient {
            Recipient::Did(did) if *did == self.did => Ok((envelope, from)),
            Recipient::Did(did) => Err(MessengerError::NotForUs(did.clone())),
            _ => Err(MessengerError::NotForUs("*".into())),
        }
    }

    /// The identity key of `did`: a peer's, kept with its session, or parsed from the DID.
    fn key_of(&self, did: &str) -> Result<VerifyingKey, MessengerError> {
        self.peers
            .get(did)
            .map_or_else(|| key_of(did), |peer| Ok(peer.key))
    }

    fn decrypt(
        &mut self,
        from: &str,
        content: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, MessengerError> {
        let (&tag, value) = content
            .split_first()
            .ok_or_else(|| MessengerError::Content("empty".into()))?;
        match tag {
            INITIAL => {
                let initial = InitialMessage::from_cbor(value)
                    .map_err(|e| MessengerError::Content(e.to_string()))?;
                if initial.header.identity_key != self.key_of(from)? {
                    return Err(MessengerError::Content(
                        "the session start is not the sender's".into(),
                    ));
                }
                // A later message of a session start we already answered.
                if let Some(peer) = self.peers.get_mut(from)
                    && peer.theirs.as_ref() == Some(&initial.header)
                {
                    return Ok(peer.session.decrypt(&initial.message)?);
                }
                let (session, body) = x3dh::respond(&mut self.prekeys, &initial)?;
                self.peers.insert(
                    from.to_owned(),
                    Peer {
                        key: initial.header.identity_key,
                        session,
                        initial: None,
                        theirs: Some(initial.header),
                    },
                );
                Ok(body)
            }
            RATCHET => {
                let message = Message::from_cbor(value)
                    .map_err(|e| MessengerError::Content(e.to_string()))?;
                let peer = self
                    .peers
                    .get_mut(from)
                    .ok_or_else(|| MessengerError::NoSession(from.to_owned()))?;
                Ok(peer.session.decrypt(&message)?)
            }
            other => Err(MessengerError::Content(format!(
                "unknown content tag {other}"
            ))),
        }
    }

    fn remember(&mut self, seen: (String, [u8; 16])) {
        if self.seen_order.len() >= MAX_REMEMBERED
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(seen.clone());
        self.seen_order.push_back(seen);
    }

    /// Marks a message id as received (e.g. restored from history after a restart), so that
    /// a retry of it is a [`Inbound::Duplicate`].
    pub fn remember_received(&mut self, from: &str, id: MessageId) {
        let seen = (from.to_owned(), *id.as_bytes());
        if !self.seen.contains(&seen) {
            self.remember(seen);
        }
    }

    /// Forgets that message `id` from `from` was received: for a node that could not
    /// persist it, so that the sender's retry is opened again rather than acknowledged as a
    /// duplicate.
    pub fn forget_received(&mut self, from: &str, id: MessageId) {
        let seen = (from.to_owned(), *id.as_bytes());
        if self.seen.remove(&seen) {
            self.seen_order.retain(|s| *s != seen);
        }
    }

    /// Drops the session with `did` from memory (not from any store): with
    /// [`restore_peer`](Self::restore_peer), how a node rolls a session back to its last
    /// persisted snapshot when persisting a newer one failed.
    pub fn forget_peer(&mut self, did: &str) {
        self.peers.remove(did);
    }

    fn envelope(
        &self,
        id: MessageId,
        kind: EnvelopeType,
        to: &str,
        content: Vec<u8>,
        now: Timestamp,
    ) -> Result<Vec<u8>, MessengerError> {
        self.sign(self.fields(id, kind, to, content, now))
    }

    /// The fields of an envelope from us to `to` (without chunk info).
    fn fields(
        &self,
        id: MessageId,
        kind: EnvelopeType,
        to: &str,
        content: Vec<u8>,
        now: Timestamp,
    ) -> EnvelopeFields {
        EnvelopeFields {
            id,
            kind,
            sender: self.did.clone(),
            recipient: Recipient::Did(to.to_owned()),
            timestamp: now,
            content,
            chunk: None,
        }
    }

    /// `fields` signed by our identity key, in deterministic CBOR.
    fn sign(&self, fields: EnvelopeFields) -> Result<Vec<u8>, MessengerError> {
        Ok(Envelope::sign(fields, self.prekeys.identity(), &self.limits)?.to_cbor())
    }

    /// The state of the session with `did`, to persist: the ratchet snapshot and the
    /// pending session-start headers. Secret: store it encrypted or in the node's protected
    /// store.
    #[must_use]
    pub fn peer_snapshot(&self, did: &str) -> Option<Zeroizing<Vec<u8>>> {
        let peer = self.peers.get(did)?;
        let session = peer.session.snapshot().to_bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(session.len() + 256));
        put(&mut out, &session);
        for header in [&peer.initial, &peer.theirs] {
            let bytes = header
                .as_ref()
                .map(InitialHeader::to_cbor)
                .unwrap_or_default();
            put(&mut out, &bytes);
        }
        Some(out)
    }

    /// Restores the session with `did` from [`peer_snapshot`](Self::peer_snapshot).
    ///
    /// # Errors
    /// [`MessengerError::Snapshot`] for bytes that are not a snapshot.
    pub fn restore_peer(&mut self, did: &str, snapshot: &[u8]) -> Result<(), MessengerError> {
        let mut rest = snapshot;
        let session = SessionSnapshot::from_bytes(take(&mut rest)?)
            .map_err(|e| MessengerError::Snapshot(e.to_string()))?;
        let mut header = || -> Result<Option<InitialHeader>, MessengerError> {
            match take(&mut rest)? {
                [] => Ok(None),
                bytes => InitialHeader::from_cbor(bytes)
                    .map(Some)
                    .map_err(|e| MessengerError::Snapshot(e.to_string())),
            }
        };
        let (initial, theirs) = (header()?, header()?);
        self.peers.insert(
            did.to_owned(),
            Peer {
                key: key_of(did)?,
                session: Session::restore(&session),
                initial,
                theirs,
            },
        );
        Ok(())
    }
}

/// Appends `value` with its length (4 bytes, big-endian) before it: what [`take`] reads.
/// Every value written so is bounded far below 4 GiB (a message, a snapshot).
fn put(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(value);
}

/// Appends one message of a batch: its id, then its tagged ratchet value ([`put`]).
fn put_item(out: &mut Vec<u8>, id: MessageId, value: &[u8]) {
    out.extend_from_slice(id.as_bytes());
    put(out, value);
}

/// The next length-prefixed part of a snapshot or a batch ([`put`]).
fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], MessengerError> {
    let truncated = || MessengerError::Snapshot("truncated".into());
    let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| truncated())?;
    let (value, tail) = tail.split_at_checked(len).ok_or_else(truncated)?;
    *rest = tail;
    Ok(value)
}

/// The message id a single message's receipt holds.
fn receipt_id(content: &[u8]) -> Result<MessageId, MessengerError> {
    match receipt_ids(content)?.as_slice() {
        [id] => Ok(*id),
        _ => Err(MessengerError::Content(
            "a message's receipt holds one message id".into(),
        )),
    }
}

/// The message ids a receipt's content holds: 1 to [`MAX_BATCH`] ids of 16 bytes.
fn receipt_ids(content: &[u8]) -> Result<Vec<MessageId>, MessengerError> {
    let (ids, rest) = content.as_chunks::<16>();
    if !rest.is_empty() || ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(MessengerError::Content(
            "a receipt holds 1 to 256 message ids".into(),
        ));
    }
    ids.iter()
        .map(|id| MessageId::from_bytes(*id).map_err(|e| MessengerError::Content(e.to_string())))
        .collect()
}

/// The messages of a batch's content (after its tag): 1 to [`MAX_BATCH`] ids with their
/// tagged ratchet values, nothing left over.
fn batch_items(mut rest: &[u8]) -> Result<Vec<(MessageId, &[u8])>, MessengerError> {
    let malformed = || MessengerError::Content("a malformed batch".into());
    let mut items = Vec::new();
    while !rest.is_empty() {
        if items.len() == MAX_BATCH {
            return Err(MessengerError::Content(
                "a batch of more than 256 messages".into(),
            ));
        }
        let (id, tail) = rest.split_first_chunk::<16>().ok_or_else(malformed)?;
        let id = MessageId::from_bytes(*id).map_err(|e| MessengerError::Content(e.to_string()))?;
        rest = tail;
        let value = take(&mut rest)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(malformed)?;
        items.push((id, value));
    }
    if items.is_empty() {
        return Err(MessengerError::Content("an empty batch".into()));
    }
    Ok(items)
}

/// `value` after a one-byte tag.
pub(crate) fn tagged(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + value.len());
    out.push(tag);
    out.extend_from_slice(value);
    out
}

/// The prekeys to publish in a discovery record: the current signed prekey only. One-time
/// prekeys are not published: a record is read by any number of initiators, and a one-time
/// prekey used twice would make the second session start fail.
#[must_use]
pub fn record_prekeys(prekeys: &PrekeyStore) -> talos_did::record::Prekeys {
    let signed = prekeys.signed_prekey();
    talos_did::record::Prekeys {
        signed: talos_did::record::SignedPrekey {
            id: signed.id,
            key: signed.key,
            signature: signed.signature,
        },
        one_time: Vec::new(),
        pq: None,
    }
}

/// The prekey bundle a discovery record publishes (its identity key and signed prekey, and
/// its first one-time prekey if it lists any). Validate the record first; the handshake
/// verifies the bundle's signature again.
///
/// # Errors
/// [`MessengerError::BadDid`] for a record whose DID has no Ed25519 key.
pub fn bundle_of_record(
    record: &talos_did::record::DiscoveryRecord,
) -> Result<PrekeyBundle, MessengerError> {
    let identity_key = record
        .did()
        .ed25519()
        .copied()
        .ok_or_else(|| MessengerError::BadDid(record.did().to_string()))?;
    let prekeys = &record.fields().prekeys;
    Ok(PrekeyBundle {
        identity_key,
        signed_prekey: talos_ratchet::prekeys::SignedPrekey {
            id: prekeys.signed.id,
            key: prekeys.signed.key,
            signature: prekeys.signed.signature,
        },
        one_time_prekey: prekeys
            .one_time
            .first()
            .map(|k| talos_ratchet::prekeys::OneTimePrekey {
                id: k.id,
                key: k.key,
            }),
        pq_prekey: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code

    use talos_crypto::SeedableRng as _;

    use super::*;

    #[test]
    fn batch_contents_parse_exactly_or_not_at_all() {
        let mut rng = talos_crypto::ChaCha20Rng::from_seed([3; 32]);
        let id = MessageId::generate(Timestamp::from_millis(1_767_225_600_000), &mut rng);
        let mut two = Vec::new();
        put_item(&mut two, id, &[RATCHET, 1, 2]);
        put_item(&mut two, id, &[INITIAL]);
        let items = batch_items(&two).unwrap();
        assert_eq!(
            items,
            vec![(id, &[RATCHET, 1, 2][..]), (id, &[INITIAL][..])]
        );

        assert!(batch_items(&[]).is_err(), "empty");
        let first_len = 16 + 4 + 3;
        for cut in (1..two.len()).filter(|&cut| cut != first_len) {
            assert!(batch_items(&two[..cut]).is_err(), "truncated at {cut}");
        }
        assert_eq!(batch_items(&two[..first_len]).unwrap().len(), 1);
        let mut empty_value = Vec::new();
        put_item(&mut empty_value, id, &[]);
        assert!(batch_items(&empty_value).is_err(), "an empty value");
        let mut bad_id = two.clone();
        bad_id[..16].fill(0);
        assert!(batch_items(&bad_id).is_err(), "not a message id");
        let mut huge = id.as_bytes().to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(batch_items(&huge).is_err(), "a length past the end");

        let mut full = Vec::new();
        for _ in 0..MAX_BATCH {
            put_item(&mut full, id, &[RATCHET]);
        }
        assert_eq!(batch_items(&full).unwrap().len(), MAX_BATCH);
        put_item(&mut full, id, &[RATCHET]);
        assert!(batch_items(&full).is_err(), "more than MAX_BATCH");

        // Arbitrary bytes (xorshift) never panic.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000 {
            let bytes: Vec<u8> = (0..state % 600)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[0]
                })
                .collect();
            let _ = batch_items(&bytes);
        }
    }
}
