//! A fixed-size bitset: the currency of the indexes (one bit per entry or per L7 rule of a group).
//!
//! Intersections of 64 rules per machine word keep per-request work far below one step per rule.
//! Up to 256 bits live inline: a request evaluated against a policy of that size copies and
//! intersects its candidate sets without touching the allocator.

use smallvec::SmallVec;

/// Words kept inline before a set spills to the heap.
const INLINE_WORDS: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bits(SmallVec<[u64; INLINE_WORDS]>);

impl Bits {
    pub(crate) fn new(len: usize) -> Bits {
        Bits(smallvec::smallvec![0; len.div_ceil(64)])
    }

    pub(crate) fn set(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    pub(crate) fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Word `w` (bits `64*w .. 64*w+63`), zero past the end.
    pub(crate) fn word(&self, w: usize) -> u64 {
        self.0.get(w).copied().unwrap_or(0)
    }

    /// Replaces every non-zero word `x` at index `w` with `f(w, x)`.
    pub(crate) fn retain_words(&mut self, mut f: impl FnMut(usize, u64) -> u64) {
        for (w, x) in self.0.iter_mut().enumerate() {
            if *x != 0 {
                *x = f(w, *x);
            }
        }
    }

    pub(crate) fn nonzero_words(&self) -> usize {
        self.0.iter().filter(|w| **w != 0).count()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub(crate) fn and_assign(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
    }

    pub(crate) fn or_assign(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    /// The lowest index set in both `self` and `other`.
    pub(crate) fn first_and(&self, other: &Bits) -> Option<usize> {
        self.0
            .iter()
            .zip(&other.0)
            .enumerate()
            .find_map(|(i, (a, b))| {
                let w = a & b;
                (w != 0).then(|| i * 64 + w.trailing_zeros() as usize)
            })
    }

    /// The lowest index set in `self` but not in `other`.
    pub(crate) fn first_and_not(&self, other: &Bits) -> Option<usize> {
        self.0
            .iter()
            .zip(&other.0)
            .enumerate()
            .find_map(|(i, (a, b))| {
                let w = a & !b;
                (w != 0).then(|| i * 64 + w.trailing_zeros() as usize)
            })
    }

    /// Set indexes in ascending order.
    pub(crate) fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(i * 64 + bit)
            })
        })
    }
}
