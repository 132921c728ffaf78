//! Runnable examples of the Talos crates; see `examples/`.
