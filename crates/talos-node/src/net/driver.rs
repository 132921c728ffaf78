//! The network task: owns the `Swarm`, executes commands, answers them through oneshot
//! channels, and turns swarm events into [`Event`]s and [`InboundRequest`]s.

use core::pin::Pin;
use core::time::Duration;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

use futures::stream::FuturesUnordered;
use futures::{Future, StreamExt as _};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::kad::store::{MemoryStore, MemoryStoreConfig, RecordStore as _};
use libp2p::kad::{self, GetRecordOk, QueryId, QueryResult};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, identify, identity::Keypair, noise,
    tcp, yamux,
};
use talos_crypto::Timestamp;
use talos_did::DidKey;
use talos_did::record::{DiscoveryRecord, MAX_ADDRESSES};
use talos_did::resolver::{self, Resolver};
use tokio::sync::{mpsc, oneshot};

use super::codec::WireCodec;
use super::records::{self, RecordRefusal, record_key};
use super::{
    CHECKPOINT_TOPIC, Config, Event, IDENTIFY_PROTOCOL_VERSION, InboundRequest, KAD_PROTOCOL,
    LISTEN_TIMEOUT, Lane, MAX_CHECKPOINT_LEN, NetError, WIRE_PROTOCOL,
};
use crate::now;

/// Room for the gossipsub envelope (signature, key, topic, sequence number) around a
/// checkpoint.
const GOSSIP_OVERHEAD: usize = 1024;

/// The largest Kademlia message: a discovery record is at most talos-did's
/// [`MAX_DECODE_LEN`](talos_did::record::MAX_DECODE_LEN) bytes, plus the message around it.
const MAX_KAD_PACKET: usize = talos_did::record::MAX_DECODE_LEN + 16 * 1024;

/// Validated DIDs remembered by the resolver (their highest `seq` and fresh records); more
/// than the record store holds, so a stored DID's `seq` is never forgotten first.
const RESOLVER_DIDS_PER_RECORD: usize = 4;

type Reply<T> = oneshot::Sender<Result<T, NetError>>;

/// A command from [`Network`](super::Network) to the task.
pub(super) enum Command {
    ListenAddrs {
        reply: Reply<Vec<Multiaddr>>,
    },
    ConnectedPeers {
        reply: Reply<Vec<PeerId>>,
    },
    Dial {
        opts: Box<DialOpts>,
        peer: Option<PeerId>,
        reply: Reply<PeerId>,
    },
    Bootstrap {
        peers: Vec<(PeerId, Multiaddr)>,
        reply: Reply<()>,
    },
    PublishRecord {
        record: Box<DiscoveryRecord>,
        reply: Reply<()>,
    },
    PutUnchecked {
        key: Vec<u8>,
        value: Vec<u8>,
        reply: Reply<()>,
    },
    Resolve {
        did: DidKey,
        reply: Reply<DiscoveryRecord>,
    },
    Request {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        bytes: Vec<u8>,
        reply: Reply<Vec<u8>>,
    },
    PublishCheckpoint {
        data: Vec<u8>,
        reply: Reply<()>,
    },
    Shutdown,
}

impl core::fmt::Debug for Command {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self {
            Self::ListenAddrs { .. } => "ListenAddrs",
            Self::ConnectedPeers { .. } => "ConnectedPeers",
            Self::Dial { .. } => "Dial",
            Self::Bootstrap { .. } => "Bootstrap",
            Self::PublishRecord { .. } => "PublishRecord",
            Self::PutUnchecked { .. } => "PutUnchecked",
            Self::Resolve { .. } => "Resolve",
            Self::Request { .. } => "Request",
            Self::PublishCheckpoint { .. } => "PublishCheckpoint",
            Self::Shutdown => "Shutdown",
        };
        f.write_str(name)
    }
}

/// The libp2p behaviour of a Talos node.
#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
    wire: request_response::Behaviour<WireCodec>,
    gossipsub: gossipsub::Behaviour,
}

/// A lookup in progress.
struct PendingResolve {
    did: DidKey,
    reply: Reply<DiscoveryRecord>,
}

/// An inbound request waiting for the application's answer.
type PendingResponse =
    Pin<Box<dyn Future<Output = (ResponseChannel<Vec<u8>>, Option<Vec<u8>>)> + Send>>;

/// The network task's state.
pub(super) struct Driver {
    swarm: Swarm<Behaviour>,
    config: Config,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    /// Where inbound requests go, by lane: [`Lane::Message`], [`Lane::Mcp`].
    inbound: [mpsc::Sender<InboundRequest>; 2],
    topic: IdentTopic,
    /// Validated discovery records: the highest `seq` per DID, and the fresh records.
    resolver: Resolver,
    dials: HashMap<ConnectionId, Reply<PeerId>>,
    bootstraps: HashMap<QueryId, Reply<()>>,
    puts: HashMap<QueryId, Reply<()>>,
    resolves: HashMap<QueryId, PendingResolve>,
    requests: HashMap<OutboundRequestId, Reply<Vec<u8>>>,
    responses: FuturesUnordered<PendingResponse>,
}

impl core::fmt::Debug for Driver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Driver")
            .field("peer_id", self.swarm.local_peer_id())
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// Builds the swarm, listens, and waits for every listener's first address.
    pub(super) async fn start(
        keypair: Keypair,
        listen: &[Multiaddr],
        config: Config,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
        inbound: [mpsc::Sender<InboundRequest>; 2],
    ) -> Result<Self, NetError> {
        let topic = IdentTopic::new(CHECKPOINT_TOPIC);
        let behaviour = behaviour(&keypair, &config, &topic)?;
        let mut swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NetError::Setup(e.to_string()))?
            // QUIC (`/udp/PORT/quic-v1`): TLS 1.3 with the node's key, its own multiplexing.
            .with_quic()
            .with_behaviour(|_| behaviour)
            .map_err(|e: core::convert::Infallible| -> NetError { match e {} })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
            .build();
        let mut waiting = HashSet::new();
        for addr in listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen(format!("{addr}: {e}")))?;
            waiting.insert(id);
        }
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        while !waiting.is_empty() {
            let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
                .await
                .map_err(|_| NetError::Listen("no listen address reported in time".into()))?;
            match event {
                SwarmEvent::NewListenAddr { listener_id, .. } => {
                    waiting.remove(&listener_id);
                }
                SwarmEvent::ListenerClosed { reason, .. } => {
                    let reason = reason
                        .err()
                        .map_or_else(|| "closed".into(), |e| e.to_string());
                    return Err(NetError::Listen(reason));
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(NetError::Listen(error.to_string()));
                }
                _ => {}
            }
        }
        let mut resolver_config = resolver::Config::default();
        resolver_config.set_max_dids(config.max_records.saturating_mul(RESOLVER_DIDS_PER_RECORD));
        Ok(Self {
            swarm,
            config,
            commands,
            events,
            inbound,
            topic,
            resolver: Resolver::new(resolver_config),
            dials: HashMap::new(),
            bootstraps: HashMap::new(),
            puts: HashMap::new(),
            resolves: HashMap::new(),
            requests: HashMap::new(),
            responses: FuturesUnordered::new(),
        })
    }

    /// Runs until [`Command::Shutdown`] or until the [`Network`](super::Network) is dropped.
    pub(super) async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.handle_command(command),
                },
                event = self.swarm.select_next_some() => self.handle_swarm_event(event),
                Some((channel, response)) = self.responses.next(), if !self.responses.is_empty() => {
                    if let Some(response) = response {
                        // An error means the request timed out or the connection closed.
                        let _ = self.swarm.behaviour_mut().wire.send_response(channel, response);
                    }
                }
            }
        }
        tracing::debug!(peer = %self.swarm.local_peer_id(), "network task stopped");
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs { reply } => {
                let _ = reply.send(Ok(self.swarm.listeners().cloned().collect()));
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(Ok(self.swarm.connected_peers().copied().collect()));
            }
            Command::Dial { opts, peer, reply } => {
                let id = opts.connection_id();
                match self.swarm.dial(*opts) {
                    Ok(()) => {
                        self.dials.insert(id, reply);
                    }
                    Err(DialError::DialPeerConditionFalse(_)) if peer.is_some() => {
                        // Already connected or being dialed: the connection is (or will be) there.
                        let _ = reply.send(peer.ok_or(NetError::Stopped));
                    }
                    Err(error) => {
                        let _ = reply.send(Err(NetError::Dial(error.to_string())));
                    }
                }
            }
            Command::Bootstrap { peers, reply } => {
                let kad = &mut self.swarm.behaviour_mut().kad;
                for (peer, addr) in peers {
                    kad.add_address(&peer, addr);
                }
                match kad.bootstrap() {
                    Ok(query) => {
                        self.bootstraps.insert(query, reply);
                    }
                    Err(_) => {
                        let _ = reply.send(Err(NetError::NoKnownPeers));
                    }
                }
            }
            Command::PublishRecord { record, reply } => self.publish_record(&record, reply),
            Command::PutUnchecked { key, value, reply } => {
                let record = kad::Record::new(key, value);
                self.put(record, reply);
            }
            Command::Resolve { did, reply } => {
                let query = self.swarm.behaviour_mut().kad.get_record(record_key(&did));
                self.resolves.insert(query, PendingResolve { did, reply });
            }
            Command::Request {
                peer,
                addrs,
                bytes,
                reply,
            } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .wire
                    .send_request_with_addresses(&peer, bytes, addrs);
                self.requests.insert(id, reply);
            }
            Command::PublishCheckpoint { data, reply } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(self.topic.clone(), data)
                    .map(|_| ())
                    .map_err(|e| NetError::Publish(e.to_string()));
                let _ = reply.send(result);
            }
            // Handled by `run`.
            Command::Shutdown => {}
        }
    }

    /// Checks our own record as a peer would, remembers it, and puts it in the DHT.
    fn publish_record(&mut self, record: &DiscoveryRecord, reply: Reply<()>) {
        let key = record_key(&record.did());
        let value = record.to_cbor();
        let now = now();
        if let Err(refusal) = records::admit(
            &key,
            &value,
            now,
            &self.config.record_policy,
            &mut self.resolver,
        ) {
            let _ = reply.send(Err(NetError::Record(refusal)));
            return;
        }
        let mut kad_record = kad::Record::new(key, value);
        kad_record.expires = instant_of(now, record.fields().expires_at);
        self.put(kad_record, reply);
    }

    fn put(&mut self, record: kad::Record, reply: Reply<()>) {
        match self
            .swarm
            .behaviour_mut()
            .kad
            .put_record(record, kad::Quorum::One)
        {
            Ok(query) => {
                self.puts.insert(query, reply);
            }
            Err(error) => {
                let _ = reply.send(Err(NetError::Query(format!("{error:?}"))));
            }
        }
    }

    fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL) => {
                let kad = &mut self.swarm.behaviour_mut().kad;
                // As many as a discovery record may list: a peer cannot flood the table.
                for addr in info.listen_addrs.into_iter().take(MAX_ADDRESSES) {
                    kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.handle_kad(event),
            SwarmEvent::Behaviour(BehaviourEvent::Wire(event)) => self.handle_wire(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                message,
                ..
            })) if message.topic == self.topic.hash()
                && message.data.len() <= MAX_CHECKPOINT_LEN =>
            {
                self.emit(Event::Checkpoint {
                    source: message.source,
                    data: message.data,
                });
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                if num_established.get() == 1 {
                    self.emit(Event::Connected { peer: peer_id });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => self.emit(Event::Disconnected { peer: peer_id }),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(NetError::Dial(error.to_string())));
                }
            }
            _ => {}
        }
    }

    fn handle_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => self.handle_inbound_put(source, record),
            kad::Event::InboundRequest {
                request: kad::InboundRequest::AddProvider { record: Some(_) },
            } => self.emit(Event::RecordRefused {
                from: None,
                reason: RecordRefusal::Provider,
            }),
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => match result {
                QueryResult::Bootstrap(result) if result.is_err() || step.last => {
                    if let Some(reply) = self.bootstraps.remove(&id) {
                        let _ = reply.send(
                            result
                                .map(|_| ())
                                .map_err(|e| NetError::Query(e.to_string())),
                        );
                    }
                }
                QueryResult::PutRecord(result) => {
                    if let Some(reply) = self.puts.remove(&id) {
                        let _ = reply.send(
                            result
                                .map(|_| ())
                                .map_err(|e| NetError::Query(e.to_string())),
                        );
                    }
                }
                QueryResult::GetRecord(result) => {
                    if let Ok(GetRecordOk::FoundRecord(found)) = result {
                        self.found_record(id, found);
                    }
                    if step.last {
                        self.finish_resolve(id);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// A record put to us: store it only if it is a valid discovery record of the DID it is
    /// put under, newer than (or the same as) the one we hold.
    fn handle_inbound_put(&mut self, source: PeerId, mut record: kad::Record) {
        let now = now();
        let admitted = records::admit(
            &record.key,
            &record.value,
            now,
            &self.config.record_policy,
            &mut self.resolver,
        );
        let decoded = match admitted {
            Ok((decoded, _)) => decoded,
            Err(reason) => {
                tracing::debug!(%source, %reason, "refused a DHT record");
                self.emit(Event::RecordRefused {
                    from: Some(source),
                    reason,
                });
                return;
            }
        };
        let store = self.swarm.behaviour_mut().kad.store_mut();
        let verdict = store
            .get(&record.key)
            .map(|stored| records::replaces(&stored.value, &decoded, &record.value));
        if let Some(Err(superseded)) = verdict {
            self.emit(Event::RecordRefused {
                from: Some(source),
                reason: RecordRefusal::Superseded(superseded),
            });
            return;
        }
        let expires_at = instant_of(now, decoded.fields().expires_at);
        record.expires = match (record.expires, expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Err(error) = store.put(record) {
            tracing::debug!(%source, ?error, "record store refused a valid record");
            return;
        }
        self.emit(Event::RecordStored {
            from: source,
            did: decoded.did(),
            seq: decoded.seq(),
        });
    }

    /// A record returned to one of our lookups: validated and offered to the resolver.
    fn found_record(&mut self, id: QueryId, found: kad::PeerRecord) {
        let Some(pending) = self.resolves.get(&id) else {
            return;
        };
        if found.record.key != record_key(&pending.did) {
            return;
        }
        let admitted = records::admit(
            &found.record.key,
            &found.record.value,
            now(),
            &self.config.record_policy,
            &mut self.resolver,
        );
        if let Err(reason) = admitted {
            // A stale copy from a slow replica is normal; anything else is worth reporting.
            if !matches!(reason, RecordRefusal::Superseded(_)) {
                self.emit(Event::RecordRefused {
                    from: found.peer,
                    reason,
                });
            }
        }
    }

    fn finish_resolve(&mut self, id: QueryId) {
        if let Some(PendingResolve { did, reply }) = self.resolves.remove(&id) {
            let result = self
                .resolver
                .resolve(now(), &did)
                .cloned()
                .ok_or(NetError::NotFound);
            let _ = reply.send(result);
        }
    }

    fn handle_wire(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.handle_inbound_request(peer, request, channel),
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request(error.to_string())));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Hands an inbound request to the application; its answer comes back through
    /// `responses`. Dropping `channel` refuses the request.
    fn handle_inbound_request(
        &mut self,
        peer: PeerId,
        mut bytes: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        if self.responses.len() >= self.config.max_pending_inbound {
            tracing::debug!(%peer, "too many pending inbound requests: dropped one");
            return;
        }
        let lane = bytes.first().copied().and_then(Lane::of);
        let queue = match lane {
            Some(Lane::Message | Lane::Batch) => self.inbound.first(),
            Some(Lane::Mcp) => self.inbound.get(1),
            None => None,
        };
        let (Some(queue), Some(lane)) = (queue, lane) else {
            tracing::debug!(%peer, "inbound request on no known lane: refused");
            return;
        };
        bytes.remove(0);
        let (reply, answer) = oneshot::channel();
        if queue
            .try_send(InboundRequest {
                peer,
                lane,
                bytes,
                reply,
            })
            .is_err()
        {
            tracing::debug!(%peer, "inbound request queue full or closed: dropped one");
            return;
        }
        let timeout = self.config.request_timeout;
        self.responses.push(Box::pin(async move {
            let response = tokio::time::timeout(timeout, answer)
                .await
                .ok()
                .and_then(Result::ok);
            (channel, response)
        }));
    }

    /// Reports an event; dropped if the application is not keeping up.
    fn emit(&self, event: Event) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            tracing::debug!(?event, "event queue full: dropped an event");
        }
    }
}

/// Builds the behaviour: connection limits, identify, Kademlia (filtered, server mode), request-response,
/// gossipsub (signed, strict, bounded, subscribed to the checkpoint topic).
fn behaviour(
    keypair: &Keypair,
    config: &Config,
    topic: &IdentTopic,
) -> Result<Behaviour, NetError> {
    let peer_id = keypair.public().to_peer_id();
    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_owned(), keypair.public())
            .with_agent_version(format!("talos-node/{}", env!("CARGO_PKG_VERSION"))),
    );

    let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
    kad_config
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_query_timeout(config.query_timeout)
        .set_max_packet_size(MAX_KAD_PACKET);
    let store = MemoryStore::with_config(
        peer_id,
        MemoryStoreConfig {
            max_records: config.max_records,
            max_value_bytes: talos_did::record::MAX_DECODE_LEN,
            ..MemoryStoreConfig::default()
        },
    );
    let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
    kad.set_mode(Some(kad::Mode::Server));

    let wire = request_response::Behaviour::with_codec(
        WireCodec::default(),
        [(StreamProtocol::new(WIRE_PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(config.request_timeout),
    );

    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .max_transmit_size(MAX_CHECKPOINT_LEN + GOSSIP_OVERHEAD)
        .build()
        .map_err(|e| NetError::Setup(e.to_string()))?;
    let mut gossipsub =
        gossipsub::Behaviour::new(MessageAuthenticity::Signed(keypair.clone()), gossip_config)
            .map_err(|e| NetError::Setup(e.to_owned()))?;
    gossipsub
        .subscribe(topic)
        .map_err(|e| NetError::Setup(e.to_string()))?;

    let limits = connection_limits::Behaviour::new(
        ConnectionLimits::default()
            .with_max_established(Some(config.max_connections))
            .with_max_established_per_peer(Some(config.max_connections_per_peer))
            .with_max_pending_incoming(Some(config.max_connections)),
    );

    Ok(Behaviour {
        limits,
        identify,
        kad,
        wire,
        gossipsub,
    })
}

/// The monotonic instant of the wall-clock `at`, seen at `now`; `None` if it is too far to
/// represent.
fn instant_of(now: Timestamp, at: Timestamp) -> Option<Instant> {
    let remaining = at.duration_since(now).unwrap_or(Duration::ZERO);
    Instant::now().checked_add(remaining)
}
