//! HPACK's tables (RFC 7541 section 2.3): the static table of appendix A, and the dynamic table
//! a decoder keeps, bounded by the size it advertised.

use std::collections::VecDeque;

use bytes::Bytes;

/// RFC 7541 appendix A; index 1 is the first entry.
pub const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Per-entry overhead counted in a table's size (RFC 7541 section 4.1).
const ENTRY_OVERHEAD: usize = 32;

/// The decoder's dynamic table: newest entry first.
pub struct Dynamic {
    entries: VecDeque<(Bytes, Bytes)>,
    size: usize,
    max: usize,
}

impl Dynamic {
    pub fn new(max: usize) -> Self {
        Dynamic {
            entries: VecDeque::new(),
            size: 0,
            max,
        }
    }

    /// The entry at HPACK index `index` (static first, then dynamic), if there is one.
    pub fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        if index == 0 {
            return None;
        }
        if let Some((n, v)) = STATIC.get(index - 1) {
            return Some((n.as_bytes(), v.as_bytes()));
        }
        self.entries
            .get(index - STATIC.len() - 1)
            .map(|(n, v)| (&n[..], &v[..]))
    }

    /// Adds an entry, evicting the oldest ones to make room; one larger than the whole table
    /// empties it (section 4.4).
    pub fn insert(&mut self, name: Bytes, value: Bytes) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max - size);
        self.size += size;
        self.entries.push_front((name, value));
    }

    /// A dynamic table size update (section 6.3); the caller checked `max` against the limit.
    pub fn resize(&mut self, max: usize) {
        self.max = max;
        self.evict_to(max);
    }

    fn evict_to(&mut self, room: usize) {
        while self.size > room {
            let Some((n, v)) = self.entries.pop_back() else {
                self.size = 0;
                return;
            };
            self.size -= n.len() + v.len() + ENTRY_OVERHEAD;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
