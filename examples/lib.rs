//! Runnable examples of the Talos crates: see the `[[example]]` entries in Cargo.toml.
