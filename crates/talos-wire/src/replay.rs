//! Replay protection: a bounded window of message ids per sender.
//!
//! A message — a sender, an id and a send time, all covered by the sender's signature — is
//! accepted once. [`ReplayWindow::check`] refuses an id it has seen from that
//! sender, and anything sent before the window's lower edge, which is the later of
//! `now − window` and the sender's *floor*. Memory is bounded by
//! `max_senders × max_ids_per_sender` ids.
//!
//! **Eviction rule.** When a sender has `max_ids_per_sender` ids, the one sent earliest is
//! forgotten and the sender's floor rises to its send time: from then on, anything that
//! sender sent at or before that time is refused as too old, so a forgotten id can never be
//! replayed. (Ids are meant to be unique per sender: the window remembers ids, so a sender
//! that reuses a forgotten id with a later send time is not stopped — only that sender can
//! produce such a message.) Ids older than `now − window` are forgotten as they expire, because the time
//! check already refuses them. When there are `max_senders` senders, the one whose newest
//! message is oldest is forgotten whole, and a global floor rises to that newest send time:
//! every sender without state is then held to it. Messages are therefore never accepted
//! twice; under a flood, some old-but-honest messages can be refused, never the reverse.
//!
//! Time comes in as `now`; if it goes backwards, the window keeps its latest value.
//!
//! ```
//! use core::time::Duration;
//! use talos_crypto::Timestamp;
//! use talos_wire::replay::{ReplayConfig, ReplayError, ReplayWindow};
//!
//! let mut window = ReplayWindow::new(ReplayConfig::default());
//! let now = Timestamp::from_secs(1_768_178_601).unwrap();
//! assert_eq!(window.check("alice", "nonce-1", now, now), Ok(()));
//! assert_eq!(window.check("alice", "nonce-1", now, now), Err(ReplayError::Replayed));
//! assert_eq!(window.check("bob", "nonce-1", now, now), Ok(())); // per sender
//! let stale = now.saturating_sub(Duration::from_secs(301));
//! assert!(matches!(window.check("bob", "nonce-2", stale, now), Err(ReplayError::TooOld { .. })));
//! ```

use core::borrow::Borrow;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};

use talos_crypto::Timestamp;

/// Bounds of a [`ReplayWindow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayConfig {
    window: Duration,
    max_ids_per_sender: usize,
    max_senders: usize,
}

impl Default for ReplayConfig {
    /// A 300 s window (the envelope clock skew), 10 000 ids per sender, 10 000 senders.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            max_ids_per_sender: 10_000,
            max_senders: 10_000,
        }
    }
}

impl ReplayConfig {
    /// How far back messages are accepted.
    pub fn set_window(&mut self, window: Duration) -> &mut Self {
        self.window = window;
        self
    }

    /// Ids remembered per sender (at least 1).
    pub fn set_max_ids_per_sender(&mut self, max: usize) -> &mut Self {
        self.max_ids_per_sender = max.max(1);
        self
    }

    /// Senders remembered (at least 1).
    pub fn set_max_senders(&mut self, max: usize) -> &mut Self {
        self.max_senders = max.max(1);
        self
    }
}

/// Why a message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// This sender already sent this id: drop the message.
    #[error("replayed message id")]
    Replayed,
    /// Sent before the window's lower edge: drop the message.
    #[error("message too old: sent {sent_at}, window starts after {edge}")]
    TooOld {
        /// When the message says it was sent.
        sent_at: Timestamp,
        /// The lower edge it failed.
        edge: Timestamp,
    },
}

#[derive(Debug)]
struct Sender<I> {
    /// Refuse anything sent at or before this (after an eviction).
    floor: Option<Timestamp>,
    ids: BTreeMap<I, Timestamp>,
    by_time: BTreeSet<(Timestamp, I)>,
}

impl<I: Ord + Clone> Sender<I> {
    fn newest(&self) -> Timestamp {
        self.by_time
            .last()
            .map_or(Timestamp::UNIX_EPOCH, |(t, _)| *t)
    }
}

/// Remembers message ids per sender; see the [module docs](self) for the rules.
#[derive(Debug)]
pub struct ReplayWindow<S, I> {
    config: ReplayConfig,
    now: Timestamp,
    /// Held against senders without state, after a sender was forgotten whole.
    global_floor: Option<Timestamp>,
    senders: BTreeMap<S, Sender<I>>,
    by_activity: BTreeSet<(Timestamp, S)>,
}

impl<S: Ord + Clone, I: Ord + Clone> ReplayWindow<S, I> {
    /// An empty window.
    #[must_use]
    pub fn new(config: ReplayConfig) -> Self {
        Self {
            config,
            now: Timestamp::UNIX_EPOCH,
            global_floor: None,
            senders: BTreeMap::new(),
            by_activity: BTreeSet::new(),
        }
    }

    /// Accepts and records `(sender, id)` sent at `sent_at`, or refuses it.
    ///
    /// # Errors
    /// [`ReplayError::Replayed`] for an id this sender already used;
    /// [`ReplayError::TooOld`] for a message sent before the window's lower edge.
    pub fn check<Q, R>(
        &mut self,
        sender: &Q,
        id: &R,
        sent_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), ReplayError>
    where
        S: Borrow<Q>,
        I: Borrow<R>,
        Q: Ord + ToOwned<Owned = S> + ?Sized,
        R: Ord + ToOwned<Owned = I> + ?Sized,
    {
        self.now = self.now.max(now);
        let horizon = self.now.checked_sub(self.config.window);
        let floor = match self.senders.get(sender) {
            Some(state) => state.floor,
            None => self.global_floor,
        };
        let too_old = |edge: Timestamp| ReplayError::TooOld { sent_at, edge };
        if let Some(h) = horizon
            && sent_at < h
        {
            return Err(too_old(h));
        }
        if let Some(f) = floor
            && sent_at <= f
        {
            return Err(too_old(f));
        }
        if self
            .senders
            .get(sender)
            .is_some_and(|s| s.ids.contains_key(id))
        {
            return Err(ReplayError::Replayed);
        }

        // Accepted: record it.
        if !self.senders.contains_key(sender) {
            if self.senders.len() >= self.config.max_senders {
                self.forget_least_active_sender();
            }
            self.senders.insert(
                sender.to_owned(),
                Sender {
                    floor: self.global_floor,
                    ids: BTreeMap::new(),
                    by_time: BTreeSet::new(),
                },
            );
        }
        let max_ids = self.config.max_ids_per_sender;
        let Some(state) = self.senders.get_mut(sender) else {
            return Ok(());
        };
        let before = state.newest();
        state.ids.insert(id.to_owned(), sent_at);
        state.by_time.insert((sent_at, id.to_owned()));
        // Expired ids: the horizon refuses them already.
        while let Some((t, _)) = state.by_time.first() {
            if horizon.is_some_and(|h| *t < h) {
                if let Some((_, old)) = state.by_time.pop_first() {
                    state.ids.remove::<I>(&old);
                }
            } else {
                break;
            }
        }
        // Over the bound: forget the earliest and raise the floor over it.
        while state.ids.len() > max_ids {
            let Some((t, old)) = state.by_time.pop_first() else {
                break;
            };
            state.ids.remove::<I>(&old);
            state.floor = Some(state.floor.map_or(t, |f| f.max(t)));
        }
        let after = state.newest();
        let owned = sender.to_owned();
        self.by_activity.remove(&(before, owned.clone()));
        self.by_activity.insert((after, owned));
        Ok(())
    }

    fn forget_least_active_sender(&mut self) {
        if let Some((newest, sender)) = self.by_activity.pop_first() {
            self.senders.remove(&sender);
            self.global_floor = Some(self.global_floor.map_or(newest, |f| f.max(newest)));
        }
    }

    /// Ids currently remembered, over all senders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.senders.values().map(|s| s.ids.len()).sum()
    }

    /// Whether nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// Senders currently remembered.
    #[must_use]
    pub fn senders(&self) -> usize {
        self.senders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    #[test]
    fn eviction_raises_the_floor_so_forgotten_ids_stay_refused() {
        let mut config = ReplayConfig::default();
        config
            .set_max_ids_per_sender(3)
            .set_window(Duration::from_secs(1000));
        let mut w = ReplayWindow::new(config);
        for i in 1..=3u64 {
            w.check("a", &i, t(i), t(10)).unwrap();
        }
        w.check("a", &4u64, t(4), t(10)).unwrap(); // forgets id 1, floor = t(1)
        assert_eq!(w.len(), 3);
        assert_eq!(
            w.check("a", &1u64, t(1), t(10)),
            Err(ReplayError::TooOld {
                sent_at: t(1),
                edge: t(1)
            })
        );
        assert_eq!(w.check("a", &2u64, t(2), t(10)), Err(ReplayError::Replayed));
        // A new id sent after the floor is fine.
        w.check("a", &5u64, t(2), t(10)).unwrap();
    }

    #[test]
    fn forgetting_a_sender_holds_unknown_senders_to_its_newest_time() {
        let mut config = ReplayConfig::default();
        config
            .set_max_senders(2)
            .set_window(Duration::from_secs(1000));
        let mut w = ReplayWindow::new(config);
        w.check("a", &1u64, t(5), t(10)).unwrap();
        w.check("b", &1u64, t(6), t(10)).unwrap();
        w.check("c", &1u64, t(7), t(10)).unwrap(); // forgets "a" (newest t(5))
        assert_eq!(w.senders(), 2);
        // "a" replaying its message is refused by the global floor.
        assert!(matches!(
            w.check("a", &1u64, t(5), t(10)),
            Err(ReplayError::TooOld { .. })
        ));
        assert!(w.check("a", &2u64, t(8), t(10)).is_ok());
    }

    #[test]
    fn expired_ids_are_dropped_and_time_never_goes_back() {
        let mut config = ReplayConfig::default();
        config.set_window(Duration::from_secs(10));
        let mut w = ReplayWindow::new(config);
        w.check("a", &1u64, t(100), t(100)).unwrap();
        w.check("a", &2u64, t(200), t(200)).unwrap();
        assert_eq!(w.len(), 1, "id 1 expired");
        // `now` going backwards keeps the latest value: t(100) is still too old.
        assert!(matches!(
            w.check("a", &3u64, t(100), t(50)),
            Err(ReplayError::TooOld { .. })
        ));
    }
}
