//! BLAKE3 tree hashing over chunks: each chunk's chaining value, and the root from them.
//!
//! `blake3::hazmat` panics on misuse (an offset that is not a multiple of 1024, a subtree
//! longer than its offset allows, an empty subtree), so [`chunk_hash`] checks those itself and
//! returns `None` instead. [`root`] cannot misuse anything: it only merges.

use blake3::hazmat::{HasherExt as _, Mode, merge_subtrees_non_root, merge_subtrees_root};

/// A chunk's or subtree's BLAKE3 chaining value, or for a one-chunk object its root hash.
pub(crate) type Hash = [u8; 32];

/// `blake3::CHUNK_LEN` as a `u64`.
const BLAKE3_CHUNK: u64 = blake3::CHUNK_LEN as u64;

/// The hash of one chunk of an object: for a one-chunk object (`single`), the object's BLAKE3
/// hash; otherwise the chaining value of `data` as the subtree starting at `offset`.
///
/// `None` when `data` cannot be such a subtree: empty, at an offset that is not a multiple of
/// 1024, or longer than the largest subtree starting there. Chunks of a valid
/// [`StreamStart`](super::StreamStart) never are.
pub(crate) fn chunk_hash(single: bool, offset: u64, data: &[u8]) -> Option<Hash> {
    if single {
        return (offset == 0).then(|| *blake3::hash(data).as_bytes());
    }
    if data.is_empty() || !offset.is_multiple_of(BLAKE3_CHUNK) {
        return None;
    }
    // `hazmat::max_subtree_len`, without its assertion: a subtree starting at 1024-byte chunk
    // `n > 0` holds at most `1 << n.trailing_zeros()` chunks. At offset 0 there is no limit.
    let counter = offset / BLAKE3_CHUNK;
    if counter != 0 {
        let max = 1u64
            .checked_shl(counter.trailing_zeros())
            .and_then(|chunks| chunks.checked_mul(BLAKE3_CHUNK));
        if max.is_some_and(|max| data.len() as u64 > max) {
            return None;
        }
    }
    Some(
        blake3::Hasher::new()
            .set_input_offset(offset)
            .update(data)
            .finalize_non_root(),
    )
}

/// The object's BLAKE3 hash from the hashes of all its chunks, in order (`None` for none).
///
/// Every chunk but the last must have the same power-of-two length of at least 1024 bytes, and
/// the hashes must come from [`chunk_hash`]. BLAKE3's tree is left-balanced: the left subtree of
/// `n ≥ 2` chunks holds the largest power of two of them below `n`
/// (`blake3::hazmat::left_subtree_len` counted in chunks; with power-of-two chunks every split
/// falls on a chunk boundary). Recursion depth is the tree height, at most 32 for `u32` counts.
pub(crate) fn root(hashes: &[Hash]) -> Option<Hash> {
    match hashes {
        [] => None,
        [only] => Some(*only),
        _ => {
            let (left, right) = split(hashes);
            Some(*merge_subtrees_root(&subtree(left), &subtree(right), Mode::Hash).as_bytes())
        }
    }
}

/// The chaining value of a subtree of one or more chunks.
fn subtree(hashes: &[Hash]) -> Hash {
    match hashes {
        [] => [0; 32], // never called with no chunks
        [only] => *only,
        _ => {
            let (left, right) = split(hashes);
            merge_subtrees_non_root(&subtree(left), &subtree(right), Mode::Hash)
        }
    }
}

/// Splits `n ≥ 2` chunks into the left subtree (the largest power of two below `n`) and the rest.
fn split(hashes: &[Hash]) -> (&[Hash], &[Hash]) {
    let below = hashes.len().saturating_sub(1).max(1);
    let left = 1usize << (usize::BITS - 1 - below.leading_zeros());
    hashes.split_at_checked(left).unwrap_or((hashes, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked_root(data: &[u8], chunk: usize) -> Hash {
        let n = data.len().div_ceil(chunk).max(1);
        let hashes: Vec<Hash> = (0..n)
            .map(|i| {
                let end = ((i + 1) * chunk).min(data.len());
                chunk_hash(n == 1, (i * chunk) as u64, &data[i * chunk..end]).unwrap()
            })
            .collect();
        root(&hashes).unwrap()
    }

    #[test]
    fn root_matches_blake3_at_the_edges() {
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in [1024, 2048, 4096, 8192] {
            for len in [
                0,
                1,
                chunk - 1,
                chunk,
                chunk + 1,
                2 * chunk,
                3 * chunk + 7,
                40_000,
            ] {
                assert_eq!(
                    chunked_root(&data[..len], chunk),
                    *blake3::hash(&data[..len]).as_bytes(),
                    "len {len}, chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn split_is_left_subtree_len() {
        for n in 2..300usize {
            let hashes = vec![[0u8; 32]; n];
            let (left, _) = split(&hashes);
            let bytes = (n * blake3::CHUNK_LEN) as u64;
            assert_eq!(
                left.len() as u64,
                blake3::hazmat::left_subtree_len(bytes) / BLAKE3_CHUNK,
                "{n}"
            );
        }
    }

    #[test]
    fn misuse_is_none_not_a_panic() {
        assert_eq!(chunk_hash(false, 0, b""), None);
        assert_eq!(chunk_hash(false, 1000, b"x"), None);
        // Chunk 1 (offset 1024) starts a subtree of at most one 1024-byte chunk.
        assert_eq!(chunk_hash(false, 1024, &[0; 1025]), None);
        assert!(chunk_hash(false, 1024, &[0; 1024]).is_some());
        assert!(chunk_hash(false, 2048, &[0; 2048]).is_some());
        assert_eq!(chunk_hash(true, 1024, b"x"), None);
        assert_eq!(root(&[]), None);
    }
}
