//! Make an identity, store it encrypted, seal a message to a peer and sign a JSON document.
//!
//! `cargo run -p talos-examples --example identity`
//!
//! A real program draws randomness from the OS (e.g. `rand::rng()` in talos-node); this
//! example uses a seeded RNG so that its output is the same on every run.

use rand_chacha::rand_core::SeedableRng as _;
use talos_crypto::key_file::KdfParams;
use talos_crypto::{KeyFile, SealedBox, SignedMessage, SigningKey, json};

fn main() -> Result<(), talos_crypto::Error> {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([42; 32]);

    // An agent's identity: an Ed25519 key, its did:key and its address.
    let alice = SigningKey::generate(&mut rng);
    println!(
        "alice: {}",
        talos_did::key::from_ed25519(&alice.verifying_key())
    );
    println!("       address {}", alice.verifying_key().address());

    // Stored at rest under a passphrase (small Argon2 costs to keep the example quick).
    let params = KdfParams::new(8 * 1024, 2, 1)?;
    let file = KeyFile::encrypt(&mut rng, &alice, b"a long passphrase", params)?;
    let bytes = file.to_bytes();
    let alice = KeyFile::from_bytes(&bytes)?.decrypt(b"a long passphrase")?;
    println!("key file: {} bytes, reopened", bytes.len());

    // A message sealed to Bob's key-agreement key and signed by Alice.
    let bob = SigningKey::generate(&mut rng);
    let sealed = SealedBox::seal_authenticated(
        &mut rng,
        &alice,
        &bob.verifying_key().to_x25519(),
        b"meet at noon",
    )?;
    let wire = sealed.to_cbor();
    let plaintext =
        SealedBox::from_cbor(&wire)?.open_from(&bob.to_x25519(), &alice.verifying_key())?;
    println!(
        "bob opened {} wire bytes: {:?}",
        wire.len(),
        String::from_utf8_lossy(&plaintext)
    );

    // A JSON document signed by the upstream Talos rule, verifiable by any Talos SDK.
    let doc = json::parse(br#"{"tool": "search", "args": {"q": "rust"}}"#)?;
    let signed = SignedMessage::sign(&alice, doc)?;
    let text = signed.to_json();
    let verified = SignedMessage::from_json(&text)?;
    println!(
        "signed message verified, signer matches: {}",
        verified.signer() == &alice.verifying_key()
    );
    Ok(())
}
