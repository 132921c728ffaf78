//! [`TrustGraph`]: endorsements and revocations, indexed once, and trust evaluated over
//! them as often as needed.

use core::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use talos_crypto::{ErrorCode, Timestamp, VerifyingKey};

use super::{Endorsement, EndorsementId, Revocation, TrustLevel};
use crate::DidKey;

/// A DID in the graph: the bytes of its Ed25519 key.
type Node = [u8; 32];

/// The default bound on a path's length, in endorsements ([`TrustPolicy::set_max_depth`]).
pub const DEFAULT_MAX_DEPTH: u8 = 3;
/// The default bound on the DIDs one evaluation expands ([`TrustPolicy::set_max_nodes`]).
pub const DEFAULT_MAX_NODES: usize = 10_000;
/// The default bound on the endorsements one evaluation examines
/// ([`TrustPolicy::set_max_edges`]).
pub const DEFAULT_MAX_EDGES: usize = 100_000;
/// The default bound on the endorsements a graph holds ([`GraphLimits::set_max_endorsements`]).
pub const DEFAULT_MAX_ENDORSEMENTS: usize = 100_000;
/// The default bound on the revocations a graph holds ([`GraphLimits::set_max_revocations`]).
pub const DEFAULT_MAX_REVOCATIONS: usize = 100_000;

/// How much a [`TrustGraph`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphLimits {
    max_endorsements: usize,
    max_revocations: usize,
}

impl Default for GraphLimits {
    /// [`DEFAULT_MAX_ENDORSEMENTS`] and [`DEFAULT_MAX_REVOCATIONS`].
    fn default() -> Self {
        Self {
            max_endorsements: DEFAULT_MAX_ENDORSEMENTS,
            max_revocations: DEFAULT_MAX_REVOCATIONS,
        }
    }
}

impl GraphLimits {
    /// The most endorsements the graph holds; one more is [`GraphError::TooManyEndorsements`].
    pub fn set_max_endorsements(&mut self, max: usize) -> &mut Self {
        self.max_endorsements = max;
        self
    }

    /// The most revocations the graph holds; one more is [`GraphError::TooManyRevocations`].
    pub fn set_max_revocations(&mut self, max: usize) -> &mut Self {
        self.max_revocations = max;
        self
    }

    /// See [`GraphLimits::set_max_endorsements`].
    #[must_use]
    pub fn max_endorsements(&self) -> usize {
        self.max_endorsements
    }

    /// See [`GraphLimits::set_max_revocations`].
    #[must_use]
    pub fn max_revocations(&self) -> usize {
        self.max_revocations
    }
}

/// What one [`TrustGraph::evaluate`] accepts and how much work it may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustPolicy {
    max_depth: u8,
    min_level: TrustLevel,
    max_nodes: usize,
    max_edges: usize,
}

impl Default for TrustPolicy {
    /// Paths of up to [`DEFAULT_MAX_DEPTH`] (3) endorsements, every level accepted
    /// ([`TrustLevel::Marginal`] and up), [`DEFAULT_MAX_NODES`] and [`DEFAULT_MAX_EDGES`].
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
            min_level: TrustLevel::Marginal,
            max_nodes: DEFAULT_MAX_NODES,
            max_edges: DEFAULT_MAX_EDGES,
        }
    }
}

impl TrustPolicy {
    /// The longest path, in endorsements (hops). `0` trusts the anchors only.
    pub fn set_max_depth(&mut self, hops: u8) -> &mut Self {
        self.max_depth = hops;
        self
    }

    /// The lowest level an endorsement needs to count at all. Weaker endorsements are
    /// ignored, so every path found is worth at least this much.
    pub fn set_min_level(&mut self, level: TrustLevel) -> &mut Self {
        self.min_level = level;
        self
    }

    /// The most DIDs whose endorsements one evaluation reads (anchors included); one more
    /// is [`EvaluateError::TooManyNodes`].
    pub fn set_max_nodes(&mut self, max: usize) -> &mut Self {
        self.max_nodes = max;
        self
    }

    /// The most endorsements one evaluation examines (active or not); one more is
    /// [`EvaluateError::TooManyEdges`].
    pub fn set_max_edges(&mut self, max: usize) -> &mut Self {
        self.max_edges = max;
        self
    }

    /// See [`TrustPolicy::set_max_depth`].
    #[must_use]
    pub fn max_depth(&self) -> u8 {
        self.max_depth
    }

    /// See [`TrustPolicy::set_min_level`].
    #[must_use]
    pub fn min_level(&self) -> TrustLevel {
        self.min_level
    }

    /// See [`TrustPolicy::set_max_nodes`].
    #[must_use]
    pub fn max_nodes(&self) -> usize {
        self.max_nodes
    }

    /// See [`TrustPolicy::set_max_edges`].
    #[must_use]
    pub fn max_edges(&self) -> usize {
        self.max_edges
    }
}

/// The outcome of [`TrustGraph::evaluate`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Trusted, through this path.
    Trusted(Box<TrustPath>),
    /// No acceptable path within the policy's bounds.
    Untrusted,
}

impl Verdict {
    /// Whether the subject is trusted.
    #[must_use]
    pub fn is_trusted(&self) -> bool {
        matches!(self, Self::Trusted(_))
    }

    /// The path, if trusted.
    #[must_use]
    pub fn path(&self) -> Option<&TrustPath> {
        match self {
            Self::Trusted(path) => Some(path.as_ref()),
            Self::Untrusted => None,
        }
    }

    /// The effective level, if trusted.
    #[must_use]
    pub fn level(&self) -> Option<TrustLevel> {
        self.path().map(TrustPath::level)
    }
}

/// Why a subject is trusted: a chain of endorsements from one of the anchors to it.
///
/// The `hops` are the endorsements themselves, signed, in order: the first one's endorser is
/// the anchor, each one's subject is the next one's endorser, and the last one's subject is
/// the subject. They can be handed to someone else as evidence. A subject that is itself an
/// anchor has a path of no hops at [`TrustLevel::Ultimate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustPath {
    anchor: DidKey,
    subject: DidKey,
    level: TrustLevel,
    hops: Vec<Endorsement>,
}

impl TrustPath {
    /// The anchor the path starts at.
    #[must_use]
    pub fn anchor(&self) -> &DidKey {
        &self.anchor
    }

    /// The DID the path ends at.
    #[must_use]
    pub fn subject(&self) -> &DidKey {
        &self.subject
    }

    /// The effective level: the lowest level along the path (`Ultimate` for no hops).
    #[must_use]
    pub fn level(&self) -> TrustLevel {
        self.level
    }

    /// The endorsements, from the anchor's to the one naming the subject.
    #[must_use]
    pub fn hops(&self) -> &[Endorsement] {
        &self.hops
    }

    /// The number of hops.
    #[must_use]
    pub fn len(&self) -> usize {
        self.hops.len()
    }

    /// Whether the subject is an anchor (no hops).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }

    /// The ids of the hops, in order.
    pub fn endorsement_ids(&self) -> impl Iterator<Item = &EndorsementId> + '_ {
        self.hops.iter().map(Endorsement::id)
    }

    /// The DIDs along the path: the anchor, then each hop's subject (`len() + 1` of them).
    pub fn dids(&self) -> impl Iterator<Item = DidKey> + '_ {
        core::iter::once(self.anchor).chain(self.hops.iter().map(Endorsement::subject))
    }
}

/// Endorsements and revocations, validated and indexed by endorser; evaluated many times.
///
/// Method kinds: getters (`&self`): [`len`](Self::len), [`is_empty`](Self::is_empty),
/// [`revocation_count`](Self::revocation_count), [`limits`](Self::limits),
/// [`endorsement`](Self::endorsement), [`endorsements`](Self::endorsements),
/// [`endorsements_by`](Self::endorsements_by), [`revocations`](Self::revocations),
/// [`is_revoked`](Self::is_revoked). Input: [`insert_endorsement`](Self::insert_endorsement),
/// [`insert_revocation`](Self::insert_revocation) (and [`build`](Self::build), which does
/// both). Query: [`evaluate`](Self::evaluate). The graph never reads a clock: every query
/// takes `now`, and a query at an earlier `now` than the last one is simply an evaluation
/// "as of" that time.
///
/// Every [`Endorsement`] and [`Revocation`] carries a verified signature (their decoders
/// check it), so inserting validates only what involves more than one object: a revocation
/// of a known endorsement must be signed by its endorser, and the graph stays within its
/// [`GraphLimits`]. Inserting the same object twice is a no-op. The graph is a set: the
/// order of insertion changes nothing that [`evaluate`](Self::evaluate) returns.
///
/// # Which endorsements count at `now`
///
/// For each (endorser, subject) pair, only the endorser's *latest word* counts: among its
/// endorsements of that subject with `issued_at <= now`, the one with the greatest
/// `issued_at` (ties: the lower level, then the smaller id). That lets an endorser downgrade
/// or renew an endorsement by issuing a new one. The pair is an edge at `now` when that
/// endorsement
/// - has not expired (`now < expires_at`),
/// - is not revoked (no revocation by its endorser with `revoked_at <= now`), and
/// - has at least the policy's minimum level.
///
/// An expired or revoked latest word is not replaced by an older endorsement: the pair is
/// simply not an edge.
///
/// # The evaluation rule
///
/// A *path* is a chain of edges from an anchor (a DID the caller trusts directly) to the
/// subject, at most [`TrustPolicy::max_depth`] edges long, and its *level* is the lowest
/// level along it. Among all paths, the result is the one with
/// 1. the fewest hops; then
/// 2. the highest level; then
/// 3. the lexicographically smallest sequence of endorsement ids (compared as bytes, from
///    the anchor's end).
///
/// The result is a function of the set of endorsements, the set of revocations, the set
/// of anchors, the subject, `now` and the policy: never of the order of anything.
///
/// - A subject that is an anchor is trusted with no hops at [`TrustLevel::Ultimate`],
///   whatever anyone says about it.
/// - Endorsements *of* an anchor by others are ignored: a shortest path never passes
///   through an anchor, it starts there. So nobody can make an anchor look less trusted,
///   or route trust through one.
/// - A path never visits a DID twice. Self-endorsements cannot exist
///   ([`EndorsementError::SelfEndorsement`](super::EndorsementError::SelfEndorsement)).
/// - Anchors and subjects that are not Ed25519 `did:key`s take part only by equality: such
///   a subject is trusted only if it is an anchor.
///
/// The search is breadth first, one hop at a time, expanding whole layers, so it stops at
/// the subject's layer and the work it does is also order independent. Going over the
/// policy's node or edge budget is an error, never a silent "untrusted".
#[derive(Clone, Debug, Default)]
pub struct TrustGraph {
    limits: GraphLimits,
    /// Keyed by (endorser, subject, id): one endorser's endorsements are one range.
    by_endorser: BTreeMap<(Node, Node, EndorsementId), Endorsement>,
    /// id → (endorser, subject).
    by_id: BTreeMap<EndorsementId, (Node, Node)>,
    /// Keyed by (endorsement id, revoker); the earliest revocation of each.
    revocations: BTreeMap<(EndorsementId, Node), Revocation>,
}

impl TrustGraph {
    /// An empty graph.
    #[must_use]
    pub fn new(limits: GraphLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// A graph of `endorsements` and then `revocations`.
    ///
    /// # Errors
    /// The first error [`TrustGraph::insert_endorsement`] or
    /// [`TrustGraph::insert_revocation`] returns. To skip bad items instead, insert them
    /// one by one.
    pub fn build(
        endorsements: impl IntoIterator<Item = Endorsement>,
        revocations: impl IntoIterator<Item = Revocation>,
        limits: GraphLimits,
    ) -> Result<Self, GraphError> {
        let mut graph = Self::new(limits);
        for endorsement in endorsements {
            graph.insert_endorsement(endorsement)?;
        }
        for revocation in revocations {
            graph.insert_revocation(revocation)?;
        }
        Ok(graph)
    }

    /// Adds an endorsement; `Ok(false)` if the graph already has it. Expired endorsements
    /// are kept: an evaluation at an earlier `now` may use them.
    ///
    /// # Errors
    /// [`GraphError::TooManyEndorsements`] if the graph is full.
    pub fn insert_endorsement(&mut self, endorsement: Endorsement) -> Result<bool, GraphError> {
        let id = *endorsement.id();
        if self.by_id.contains_key(&id) {
            return Ok(false);
        }
        if self.by_id.len() >= self.limits.max_endorsements {
            return Err(GraphError::TooManyEndorsements {
                limit: self.limits.max_endorsements,
            });
        }
        let endorser = endorsement.endorser_key().to_bytes();
        let subject = endorsement.subject_key().to_bytes();
        // Revocations that arrived first from someone else can never take effect.
        let strays: Vec<(EndorsementId, Node)> = self
            .revocations
            .range((id, [0; 32])..=(id, [0xff; 32]))
            .map(|(key, _)| *key)
            .filter(|(_, revoker)| *revoker != endorser)
            .collect();
        for key in strays {
            self.revocations.remove(&key);
        }
        self.by_id.insert(id, (endorser, subject));
        self.by_endorser
            .insert((endorser, subject, id), endorsement);
        Ok(true)
    }

    /// Adds a revocation; `Ok(false)` if it changes nothing (the graph has it, or an
    /// earlier one of the same endorsement). A revocation of an endorsement the graph does
    /// not have yet is kept, and applies if the endorsement arrives, provided its endorser
    /// signed it.
    ///
    /// # Errors
    /// [`GraphError::NotEndorser`] if the graph has the endorsement and someone else than
    /// its endorser signed the revocation; [`GraphError::TooManyRevocations`] if the graph
    /// is full.
    pub fn insert_revocation(&mut self, revocation: Revocation) -> Result<bool, GraphError> {
        let revoker = revocation.endorser_key().to_bytes();
        let id = *revocation.endorsement();
        if let Some((endorser, _)) = self.by_id.get(&id)
            && *endorser != revoker
        {
            return Err(GraphError::NotEndorser);
        }
        let key = (id, revoker);
        match self.revocations.get(&key) {
            Some(existing) if revocation_order(existing, &revocation) != Ordering::Greater => {
                Ok(false)
            }
            Some(_) => {
                self.revocations.insert(key, revocation);
                Ok(true)
            }
            None => {
                if self.revocations.len() >= self.limits.max_revocations {
                    return Err(GraphError::TooManyRevocations {
                        limit: self.limits.max_revocations,
                    });
                }
                self.revocations.insert(key, revocation);
                Ok(true)
            }
        }
    }

    /// The number of endorsements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the graph has no endorsements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The number of revocations kept.
    #[must_use]
    pub fn revocation_count(&self) -> usize {
        self.revocations.len()
    }

    /// The limits the graph was made with.
    #[must_use]
    pub fn limits(&self) -> &GraphLimits {
        &self.limits
    }

    /// The endorsement with this id.
    #[must_use]
    pub fn endorsement(&self, id: &EndorsementId) -> Option<&Endorsement> {
        let (endorser, subject) = self.by_id.get(id)?;
        self.by_endorser.get(&(*endorser, *subject, *id))
    }

    /// Every endorsement, ordered by endorser key, subject key, then id.
    pub fn endorsements(&self) -> impl Iterator<Item = &Endorsement> + '_ {
        self.by_endorser.values()
    }

    /// The endorsements `endorser` made, ordered by subject key, then id.
    pub fn endorsements_by(&self, endorser: &DidKey) -> impl Iterator<Item = &Endorsement> + '_ {
        let range = endorser.ed25519().map(|key| self.range_of(key.to_bytes()));
        range.into_iter().flatten()
    }

    /// Every revocation kept, ordered by endorsement id, then revoker key.
    pub fn revocations(&self) -> impl Iterator<Item = &Revocation> + '_ {
        self.revocations.values()
    }

    /// Whether the endorsement `id` is in the graph and revoked by its endorser at `now`.
    #[must_use]
    pub fn is_revoked(&self, id: &EndorsementId, now: Timestamp) -> bool {
        self.by_id
            .get(id)
            .is_some_and(|(endorser, _)| self.revoked(id, endorser, now))
    }

    fn revoked(&self, id: &EndorsementId, endorser: &Node, now: Timestamp) -> bool {
        self.revocations
            .get(&(*id, *endorser))
            .is_some_and(|r| r.revoked_at() <= now)
    }

    fn range_of(&self, endorser: Node) -> impl Iterator<Item = &Endorsement> + '_ {
        self.by_endorser
            .range(
                (endorser, [0; 32], EndorsementId::MIN)
                    ..=(endorser, [0xff; 32], EndorsementId::MAX),
            )
            .map(|(_, e)| e)
    }

    /// Whether `subject` is trusted at `now`, starting from `anchors`, and through which
    /// path (see the [rule](TrustGraph#the-evaluation-rule)).
    ///
    /// # Errors
    /// [`EvaluateError::TooManyNodes`] or [`EvaluateError::TooManyEdges`] when the search
    /// would go over the policy's budget; the answer is then unknown, not "untrusted".
    pub fn evaluate(
        &self,
        anchors: &[DidKey],
        subject: &DidKey,
        now: Timestamp,
        policy: &TrustPolicy,
    ) -> Result<Verdict, EvaluateError> {
        if anchors.contains(subject) {
            return Ok(Verdict::Trusted(Box::new(TrustPath {
                anchor: *subject,
                subject: *subject,
                level: TrustLevel::Ultimate,
                hops: Vec::new(),
            })));
        }
        let Some(target) = subject.ed25519().map(VerifyingKey::to_bytes) else {
            return Ok(Verdict::Untrusted);
        };
        let mut budget = Budget {
            nodes: 0,
            edges: 0,
            policy,
        };
        let mut seen: BTreeSet<Node> = BTreeSet::new();
        let mut frontier: BTreeMap<Node, Labels<'_>> = BTreeMap::new();
        for anchor in anchors.iter().filter_map(DidKey::ed25519) {
            let node = anchor.to_bytes();
            seen.insert(node);
            frontier.insert(node, Labels::anchor());
        }
        for _ in 0..policy.max_depth {
            if frontier.is_empty() {
                break;
            }
            let mut next: BTreeMap<Node, Labels<'_>> = BTreeMap::new();
            for (node, labels) in &frontier {
                budget.node()?;
                for edge in self.edges_from(node, now, &mut budget)? {
                    let to = edge.subject_key().to_bytes();
                    if edge.level() < policy.min_level || seen.contains(&to) {
                        continue;
                    }
                    next.entry(to)
                        .or_insert_with(Labels::none)
                        .offer(labels, edge);
                }
            }
            if let Some(labels) = next.remove(&target) {
                return Ok(labels.verdict(*subject));
            }
            seen.extend(next.keys().copied());
            frontier = next;
        }
        Ok(Verdict::Untrusted)
    }

    /// The edges out of `endorser` at `now`: per subject, the latest word, if it is active
    /// and not revoked. The level threshold is the caller's.
    fn edges_from(
        &self,
        endorser: &Node,
        now: Timestamp,
        budget: &mut Budget<'_>,
    ) -> Result<Vec<&Endorsement>, EvaluateError> {
        let mut latest: Vec<&Endorsement> = Vec::new();
        for endorsement in self.range_of(*endorser) {
            budget.edge()?;
            if endorsement.issued_at() > now {
                continue;
            }
            match latest.last_mut() {
                Some(current) if current.subject_key() == endorsement.subject_key() => {
                    if supersedes(endorsement, current) {
                        *current = endorsement;
                    }
                }
                _ => latest.push(endorsement),
            }
        }
        latest.retain(|e| now < e.expires_at() && !self.revoked(e.id(), endorser, now));
        Ok(latest)
    }
}

/// Whether `new` is a later word than `current` on the same pair.
fn supersedes(new: &Endorsement, current: &Endorsement) -> bool {
    new.issued_at()
        .cmp(&current.issued_at())
        .then_with(|| current.level().cmp(&new.level()))
        .then_with(|| current.id().cmp(new.id()))
        == Ordering::Greater
}

/// Which of two revocations of the same endorsement by the same key the graph keeps: the
/// earlier, then the smaller signature, so the kept one does not depend on arrival order.
fn revocation_order(a: &Revocation, b: &Revocation) -> Ordering {
    a.revoked_at()
        .cmp(&b.revoked_at())
        .then_with(|| a.signature().to_bytes().cmp(&b.signature().to_bytes()))
}

/// Work done by one evaluation, against the policy's budget.
struct Budget<'p> {
    nodes: usize,
    edges: usize,
    policy: &'p TrustPolicy,
}

impl Budget<'_> {
    fn node(&mut self) -> Result<(), EvaluateError> {
        if self.nodes >= self.policy.max_nodes {
            return Err(EvaluateError::TooManyNodes {
                limit: self.policy.max_nodes,
            });
        }
        self.nodes += 1;
        Ok(())
    }

    fn edge(&mut self) -> Result<(), EvaluateError> {
        if self.edges >= self.policy.max_edges {
            return Err(EvaluateError::TooManyEdges {
                limit: self.policy.max_edges,
            });
        }
        self.edges += 1;
        Ok(())
    }
}

/// For one DID reached in the current layer, per level `L` (weakest first): the
/// lexicographically smallest shortest path to it whose every hop has a level of at least
/// `L`. The best path overall is the one of the highest `L` that has one.
///
/// Keeping one path per level (not just the best) is what makes the rule compose: the best
/// path to a DID need not extend the best path to its predecessor, but the best path of
/// level `>= L` always extends a best path of level `>= L`.
struct Labels<'g>([Option<Vec<&'g Endorsement>>; 3]);

impl<'g> Labels<'g> {
    fn anchor() -> Self {
        Self([Some(Vec::new()), Some(Vec::new()), Some(Vec::new())])
    }

    fn none() -> Self {
        Self([None, None, None])
    }

    /// Considers the paths to `from` extended by `edge`.
    fn offer(&mut self, from: &Self, edge: &'g Endorsement) {
        let slots = TrustLevel::ALL
            .iter()
            .zip(self.0.iter_mut())
            .zip(from.0.iter());
        for ((level, mine), theirs) in slots {
            if *level > edge.level() {
                break;
            }
            let Some(prefix) = theirs else { continue };
            let better = mine.as_ref().is_none_or(|current| {
                let candidate = prefix.iter().map(|e| e.id()).chain([edge.id()]);
                candidate.cmp(current.iter().map(|e| e.id())) == Ordering::Less
            });
            if better {
                let mut path = Vec::with_capacity(prefix.len() + 1);
                path.extend_from_slice(prefix);
                path.push(edge);
                *mine = Some(path);
            }
        }
    }

    fn verdict(self, subject: DidKey) -> Verdict {
        let best = TrustLevel::ALL
            .into_iter()
            .zip(self.0)
            .rev()
            .find_map(|(level, path)| Some((level, path?)));
        match best {
            Some((level, path)) => Verdict::Trusted(Box::new(TrustPath {
                anchor: path.first().map_or(subject, |e| e.endorser()),
                subject,
                level,
                hops: path.into_iter().cloned().collect(),
            })),
            None => Verdict::Untrusted,
        }
    }
}

/// Why an endorsement or revocation was not added to a [`TrustGraph`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// The graph holds [`GraphLimits::max_endorsements`] already. Raise the limit or drop
    /// endorsements from unknown endorsers first.
    #[error("trust graph full: limit of {limit} endorsements reached")]
    TooManyEndorsements {
        /// The limit.
        limit: usize,
    },
    /// The graph holds [`GraphLimits::max_revocations`] already.
    #[error("trust graph full: limit of {limit} revocations reached")]
    TooManyRevocations {
        /// The limit.
        limit: usize,
    },
    /// Someone other than the endorser tried to revoke an endorsement. Drop the revocation
    /// and distrust its sender.
    #[error("revocation not signed by the endorser")]
    NotEndorser,
}

impl From<&GraphError> for ErrorCode {
    fn from(_: &GraphError) -> Self {
        Self::Denied
    }
}

/// Why [`TrustGraph::evaluate`] gave no answer. The subject's trust is unknown: treat it
/// as untrusted, or retry with a larger budget or a smaller depth.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvaluateError {
    /// The search needed to expand more DIDs than [`TrustPolicy::max_nodes`].
    #[error("trust search limit reached: more than {limit} nodes to expand")]
    TooManyNodes {
        /// The limit.
        limit: usize,
    },
    /// The search needed to examine more endorsements than [`TrustPolicy::max_edges`].
    #[error("trust search limit reached: more than {limit} endorsements to examine")]
    TooManyEdges {
        /// The limit.
        limit: usize,
    },
}

impl From<&EvaluateError> for ErrorCode {
    fn from(_: &EvaluateError) -> Self {
        Self::Denied
    }
}
