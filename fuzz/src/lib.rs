//! Fixtures shared by the fuzz targets and `examples/seed_corpus.rs`: live sessions built from
//! fixed seeds, so that the seed corpus holds messages those sessions accept.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use talos_crypto::SigningKey;
use talos_ratchet::group::{GroupConfig, GroupId, GroupSession, MemberId};
use talos_ratchet::message::Message;
use talos_ratchet::prekeys::PrekeyStore;
use talos_ratchet::session::Session;
use talos_ratchet::x3dh::{self, InitialMessage};

/// A talos-v2 conversation after an X3DH start with a one-time prekey: Bob has read Alice's
/// first message; `next` are Alice's next messages to him, `initial` her first message.
#[derive(Debug)]
pub struct RatchetFixture {
    /// Bob's session.
    pub bob: Session,
    /// Bob's prekey store before the first message (the one-time prekey still unused).
    pub store: PrekeyStore,
    /// Alice's first message, with her X3DH header.
    pub initial: InitialMessage,
    /// Alice's messages 2 to 5.
    pub next: Vec<Message>,
}

/// The fixture, the same every time.
#[must_use]
pub fn ratchet_fixture() -> RatchetFixture {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let mut store = PrekeyStore::new(SigningKey::from_seed(&[2; 32]), &mut rng);
    let opk = store
        .generate_one_time_prekeys(1, &mut rng)
        .expect("fresh store")[0]
        .id;
    let bundle = store.bundle(Some(opk)).expect("unused prekey");
    let (mut alice, header) =
        x3dh::initiate(&SigningKey::from_seed(&[1; 32]), &bundle, &mut rng).expect("valid bundle");
    let initial = header.wrap(alice.encrypt(b"hello bob", &mut rng).expect("fresh chain"));
    let before = PrekeyStore::from_snapshot(&store.to_snapshot()).expect("own snapshot");
    let (bob, _) = x3dh::respond(&mut store, &initial).expect("valid start");
    let next = (0..4)
        .map(|i| {
            alice
                .encrypt(format!("message {i}").as_bytes(), &mut rng)
                .expect("chain")
        })
        .collect();
    RatchetFixture {
        bob,
        store: before,
        initial,
        next,
    }
}

/// Three members of one group, each holding the others' sender keys; member 1 reads what
/// member 0 sends.
#[must_use]
pub fn group_fixture() -> Vec<GroupSession> {
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let group = GroupId::random(&mut rng);
    let ids: Vec<MemberId> = (0..3u8).map(|i| MemberId::from_bytes([i; 32])).collect();
    let mut members: Vec<GroupSession> = ids
        .iter()
        .map(|id| GroupSession::new(GroupConfig::default(), group, *id, 0, &mut rng))
        .collect();
    let mut distributions = Vec::new();
    for (i, member) in members.iter_mut().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                distributions.push((j, ids[i], member.add_member(*id).expect("new member")));
            }
        }
    }
    for (to, from, distribution) in distributions {
        members[to]
            .handle_distribution(&from, &distribution)
            .expect("distribution from a member");
    }
    members
}
