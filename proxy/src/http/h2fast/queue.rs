//! One stream's received request body, in order, until its future reads it.
//!
//! Small DATA frames are merged as they come: a client sending its window in one-byte frames
//! costs a few entries, not a million, and the upload writes them upstream in large pieces.
//! The queue also remembers what its reader took but has not yet returned to the client's
//! window, so that a stream that ends mid-upload gives all of it back.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Frames shorter than this are copied into the tail rather than queued as they are.
const MERGE_BELOW: usize = 1024;
/// The most a merged tail holds before it is queued.
const TAIL_MAX: usize = 16 * 1024;

#[derive(Default)]
pub struct BodyQueue {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    /// Bytes in `chunks` and `tail`.
    len: usize,
    /// Bytes handed to the reader and not yet returned.
    taken: usize,
}

impl BodyQueue {
    pub fn push(&mut self, data: Bytes) {
        self.len += data.len();
        if data.len() < MERGE_BELOW && self.tail.len() + data.len() <= TAIL_MAX {
            self.tail.extend_from_slice(&data);
            return;
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        if data.len() < MERGE_BELOW {
            self.tail.extend_from_slice(&data);
        } else {
            self.chunks.push_back(data);
        }
    }

    pub fn pop(&mut self) -> Option<Bytes> {
        let next = match self.chunks.pop_front() {
            Some(chunk) => chunk,
            None if !self.tail.is_empty() => self.tail.split().freeze(),
            None => return None,
        };
        self.len -= next.len();
        self.taken += next.len();
        Some(next)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The reader is done with `n` bytes it took; returns how many of them it had taken.
    pub fn returned(&mut self, n: usize) -> usize {
        let n = n.min(self.taken);
        self.taken -= n;
        n
    }

    /// Empties the queue; returns what was queued or taken and not returned.
    pub fn clear(&mut self) -> usize {
        let n = self.len + self.taken;
        self.chunks.clear();
        self.tail.clear();
        self.len = 0;
        self.taken = 0;
        n
    }
}
