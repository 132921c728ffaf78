//! Replay windows: no message (sender, id, send time — all signed) is accepted twice,
//! whatever the order, and memory stays bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashSet;

use core::time::Duration;
use proptest::prelude::*;
use talos_crypto::Timestamp;
use talos_wire::replay::{ReplayConfig, ReplayWindow};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn never_accepts_a_message_twice(
        events in prop::collection::vec((0u8..4, 0u16..60, 0u64..400, 0u64..30), 1..400),
        max_ids in 1usize..20,
        max_senders in 1usize..4,
    ) {
        let mut config = ReplayConfig::default();
        config.set_max_ids_per_sender(max_ids).set_max_senders(max_senders).set_window(Duration::from_secs(100));
        let mut window = ReplayWindow::new(config);
        let mut accepted = HashSet::new();
        let mut now = 0u64;
        for (sender, id, sent, step) in events {
            now += step;
            let result = window.check(&sender, &id, Timestamp::from_secs(sent).unwrap(), Timestamp::from_secs(now).unwrap());
            if result.is_ok() {
                prop_assert!(accepted.insert((sender, id, sent)), "({}, {}, {}) accepted twice", sender, id, sent);
            }
            prop_assert!(window.len() <= max_ids * max_senders);
            prop_assert!(window.senders() <= max_senders);
        }
    }
}
