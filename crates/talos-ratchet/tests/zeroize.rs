//! Secrets zeroize on drop and never show in `Debug` (checked the way vodozemac does: by
//! trait bounds, and by looking for key bytes in the output).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use talos_ratchet::kdf::{ChainKey, MessageKey, RootKey, kdf_ck, kdf_rk};
use talos_ratchet::session::Session;
use talos_ratchet::snapshot::SessionSnapshot;
use zeroize::ZeroizeOnDrop;

fn zeroized_on_drop<T: ZeroizeOnDrop>() {}

#[test]
fn secret_holding_types_zeroize_on_drop() {
    zeroized_on_drop::<RootKey>();
    zeroized_on_drop::<ChainKey>();
    zeroized_on_drop::<MessageKey>();
    zeroized_on_drop::<Session>();
    zeroized_on_drop::<SessionSnapshot>();
    zeroized_on_drop::<talos_crypto::x25519::StaticSecret>();
}

#[test]
fn key_debug_output_hides_the_bytes() {
    let rk = RootKey::from_bytes([0x5a; 32]);
    let (rk2, ck) = kdf_rk(&rk, &[0x33; 32]);
    let (mk, ck2) = kdf_ck(&ck);
    for (shown, bytes) in [
        (format!("{rk:?}"), *rk.as_bytes()),
        (format!("{rk2:?}"), *rk2.as_bytes()),
        (format!("{ck:?}"), *ck.as_bytes()),
        (format!("{mk:?}"), *mk.as_bytes()),
        (format!("{ck2:?}"), *ck2.as_bytes()),
    ] {
        assert!(
            !shown.contains(&talos_crypto::hash::to_hex(&bytes[..4])),
            "{shown}"
        );
        assert!(!shown.contains(&format!("{}", bytes[0])), "{shown}");
        assert!(shown.ends_with("{ .. }"), "{shown}");
    }
}
