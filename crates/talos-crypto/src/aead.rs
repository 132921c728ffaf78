//! ChaCha20-Poly1305 (RFC 8439) and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha).
//!
//! Ciphertexts are `encrypted ‖ tag` (16-byte tag at the end), as everywhere in Talos.
//! Use XChaCha20-Poly1305 when nonces are random: 24-byte nonces never collide in practice,
//! 12-byte random nonces do after about 2^32 messages under one key.
//!
//! ```
//! use talos_crypto::aead::ChaCha20Poly1305;
//!
//! let cipher = ChaCha20Poly1305::new(&[1; 32]);
//! let sealed = cipher.seal(&[0; 12], b"header", b"secret").unwrap();
//! assert_eq!(cipher.open(&[0; 12], b"header", &sealed).unwrap(), b"secret");
//! assert!(cipher.open(&[0; 12], b"other header", &sealed).is_err());
//! ```

use core::fmt;

use chacha20poly1305::KeyInit as _;
use chacha20poly1305::aead::AeadInOut as _;

use crate::error::AeadError;

/// Key length of both ciphers.
pub const KEY_LEN: usize = 32;
/// ChaCha20-Poly1305 nonce length.
pub const NONCE_LEN: usize = 12;
/// XChaCha20-Poly1305 nonce length.
pub const XNONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;

macro_rules! aead_cipher {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $nonce_len:expr) => {
        $(#[$doc])*
        ///
        /// Holds the expanded key; zeroized on drop. `Debug` shows nothing of it.
        #[derive(Clone)]
        pub struct $name($inner);

        impl $name {
            /// A cipher for `key`.
            #[must_use]
            pub fn new(key: &[u8; KEY_LEN]) -> Self {
                Self(<$inner>::new(key.into()))
            }

            /// Encrypts `plaintext`, authenticating `aad` too; returns `ciphertext ‖ tag`.
            ///
            /// # Errors
            /// [`AeadError::TooLong`] for inputs beyond the cipher's limit (about 256 GiB).
            pub fn seal(
                &self,
                nonce: &[u8; $nonce_len],
                aad: &[u8],
                plaintext: &[u8],
            ) -> Result<Vec<u8>, AeadError> {
                let mut buffer = Vec::with_capacity(plaintext.len() + TAG_LEN);
                buffer.extend_from_slice(plaintext);
                self.seal_in_place(nonce, aad, &mut buffer)?;
                Ok(buffer)
            }

            /// Encrypts `buffer` in place and appends the tag.
            ///
            /// # Errors
            /// [`AeadError::TooLong`] for inputs beyond the cipher's limit; `buffer` is then
            /// unchanged.
            pub fn seal_in_place(
                &self,
                nonce: &[u8; $nonce_len],
                aad: &[u8],
                buffer: &mut Vec<u8>,
            ) -> Result<(), AeadError> {
                let tag = self
                    .0
                    .encrypt_inout_detached(nonce.into(), aad, buffer.as_mut_slice().into())
                    .map_err(|_| AeadError::TooLong)?;
                buffer.extend_from_slice(&tag);
                Ok(())
            }

            /// Checks and decrypts `ciphertext ‖ tag`.
            ///
            /// # Errors
            /// [`AeadError::DecryptionFailed`] if anything (key, nonce, aad, ciphertext, tag)
            /// is wrong or the input is shorter than a tag.
            pub fn open(
                &self,
                nonce: &[u8; $nonce_len],
                aad: &[u8],
                ciphertext: &[u8],
            ) -> Result<Vec<u8>, AeadError> {
                let mut buffer = ciphertext.to_vec();
                self.open_in_place(nonce, aad, &mut buffer)?;
                Ok(buffer)
            }

            /// Checks and decrypts `buffer` (`ciphertext ‖ tag`) in place, leaving the plaintext.
            ///
            /// # Errors
            /// [`AeadError::DecryptionFailed`] as for [`Self::open`]; `buffer` is then unchanged.
            pub fn open_in_place(
                &self,
                nonce: &[u8; $nonce_len],
                aad: &[u8],
                buffer: &mut Vec<u8>,
            ) -> Result<(), AeadError> {
                let body_len = buffer
                    .len()
                    .checked_sub(TAG_LEN)
                    .ok_or(AeadError::DecryptionFailed)?;
                let (body, tag) = buffer.split_at_mut(body_len);
                let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| AeadError::DecryptionFailed)?;
                self.0
                    .decrypt_inout_detached(nonce.into(), aad, body.into(), tag.into())
                    .map_err(|_| AeadError::DecryptionFailed)?;
                buffer.truncate(body_len);
                Ok(())
            }
        }

        /// The inner cipher wipes its key on drop.
        impl zeroize::ZeroizeOnDrop for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

aead_cipher!(
    /// ChaCha20-Poly1305 with a 12-byte nonce (RFC 8439). Never reuse a nonce under one key.
    ChaCha20Poly1305,
    chacha20poly1305::ChaCha20Poly1305,
    NONCE_LEN
);

aead_cipher!(
    /// XChaCha20-Poly1305 with a 24-byte nonce, safe to choose at random.
    XChaCha20Poly1305,
    chacha20poly1305::XChaCha20Poly1305,
    XNONCE_LEN
);

impl XChaCha20Poly1305 {
    /// Seals `plaintext` under a nonce drawn from `rng`, for storage: returns
    /// `header ‖ nonce ‖ ciphertext ‖ tag`. `header` (a format tag, say) travels in clear;
    /// `aad` is authenticated and not stored. [`open_stored`](Self::open_stored) reverses it.
    ///
    /// ```
    /// use talos_crypto::aead::XChaCha20Poly1305;
    /// # use talos_crypto::SeedableRng as _;
    /// # let mut rng = rand_chacha::ChaCha20Rng::from_seed([0; 32]);
    /// let cipher = XChaCha20Poly1305::new(&[1; 32]);
    /// let sealed = cipher.seal_stored(&mut rng, b"v1", b"label", b"secret").unwrap();
    /// assert!(sealed.starts_with(b"v1"));
    /// assert_eq!(cipher.open_stored(b"v1", b"label", &sealed).unwrap().as_slice(), b"secret");
    /// assert!(cipher.open_stored(b"v1", b"other label", &sealed).is_err());
    /// ```
    ///
    /// # Errors
    /// [`AeadError::TooLong`] for a plaintext beyond the cipher's limit.
    pub fn seal_stored(
        &self,
        rng: &mut impl crate::CryptoRng,
        header: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, AeadError> {
        let mut nonce = [0; XNONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(header.len() + XNONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(header);
        out.extend_from_slice(&nonce);
        // Room for the tag up front: growing would leave a copy of the plaintext behind.
        let mut body = zeroize::Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
        body.extend_from_slice(plaintext);
        self.seal_in_place(&nonce, aad, &mut body)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens what [`seal_stored`](Self::seal_stored) wrote with the same `header` and `aad`.
    ///
    /// # Errors
    /// [`AeadError::DecryptionFailed`] for another header, a truncated input, another key or
    /// `aad`, or altered bytes.
    pub fn open_stored(
        &self,
        header: &[u8],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, AeadError> {
        let rest = sealed
            .strip_prefix(header)
            .ok_or(AeadError::DecryptionFailed)?;
        let (nonce, ciphertext) = rest
            .split_first_chunk::<XNONCE_LEN>()
            .ok_or(AeadError::DecryptionFailed)?;
        let mut body = zeroize::Zeroizing::new(ciphertext.to_vec());
        self.open_in_place(nonce, aad, &mut body)?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_open_leaves_buffer_unchanged() {
        let cipher = XChaCha20Poly1305::new(&[2; 32]);
        let mut sealed = cipher.seal(&[1; 24], b"", b"payload").unwrap();
        sealed[0] ^= 1;
        let before = sealed.clone();
        assert_eq!(
            cipher.open_in_place(&[1; 24], b"", &mut sealed),
            Err(AeadError::DecryptionFailed)
        );
        assert_eq!(sealed, before);
    }

    #[test]
    fn short_inputs_are_errors() {
        let cipher = ChaCha20Poly1305::new(&[2; 32]);
        for len in 0..TAG_LEN {
            assert_eq!(
                cipher.open(&[0; 12], b"", &vec![0; len]),
                Err(AeadError::DecryptionFailed)
            );
        }
    }

    #[test]
    fn debug_is_opaque() {
        assert_eq!(
            format!("{:?}", ChaCha20Poly1305::new(&[7; 32])),
            "ChaCha20Poly1305 { .. }"
        );
    }
}
