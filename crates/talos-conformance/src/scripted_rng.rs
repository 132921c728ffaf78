//! A "random" number generator that hands out scripted bytes, for replaying traces whose
//! randomness (ephemeral keys, ratchet keys, nonces) is recorded in the trace.

use core::convert::Infallible;

use rand_chacha::rand_core::{TryCryptoRng, TryRng};

/// Hands out the bytes it was given, in order. Reading past the end yields zeros and sets
/// [`ScriptedRng::overrun`], which callers check: a replay that needs more randomness than
/// the trace recorded is a failure, never silently filled in.
#[derive(Debug, Default)]
pub(crate) struct ScriptedRng {
    bytes: Vec<u8>,
    pos: usize,
    overrun: bool,
}

impl ScriptedRng {
    /// An RNG that will return `parts`, concatenated.
    pub(crate) fn new(parts: &[&[u8]]) -> Self {
        Self {
            bytes: parts.concat(),
            pos: 0,
            overrun: false,
        }
    }

    /// Appends more scripted bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Bytes not handed out yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Whether more bytes were asked for than scripted.
    pub(crate) fn overrun(&self) -> bool {
        self.overrun
    }

    /// `Ok` if every scripted byte was consumed and no more were asked for.
    pub(crate) fn check_drained(&self, what: &str) -> Result<(), String> {
        if self.overrun() {
            Err(format!(
                "{what}: needed more randomness than the trace recorded"
            ))
        } else if self.remaining() > 0 {
            Err(format!(
                "{what}: {} recorded random bytes were not used",
                self.remaining()
            ))
        } else {
            Ok(())
        }
    }
}

impl TryRng for ScriptedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let available = self.remaining().min(dst.len());
        let (from_script, rest) = dst.split_at_mut(available);
        from_script.copy_from_slice(&self.bytes[self.pos..self.pos + available]);
        self.pos += available;
        if !rest.is_empty() {
            rest.fill(0);
            self.overrun = true;
        }
        Ok(())
    }
}

/// Scripted bytes are what the trace says the randomness was; that is the point.
impl TryCryptoRng for ScriptedRng {}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::Rng as _;

    use super::*;

    #[test]
    fn hands_out_bytes_in_order_then_flags_overrun() {
        let mut rng = ScriptedRng::new(&[&[1, 2], &[3]]);
        rng.push(&[4]);
        let mut out = [0u8; 3];
        rng.fill_bytes(&mut out);
        assert_eq!(out, [1, 2, 3]);
        assert!(rng.check_drained("x").is_err());
        let mut out = [9u8; 2];
        rng.fill_bytes(&mut out);
        assert_eq!(out, [4, 0]);
        assert!(rng.overrun());
    }
}
