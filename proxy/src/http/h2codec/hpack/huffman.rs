//! HPACK's Huffman code (RFC 7541 appendix B), decoding only: Sockmesh sends its own fields as
//! plain literals. The code is canonical, so the 257 code lengths alone define it; a canonical
//! decoder needs no tree.

use super::HpackError;

/// Code length in bits of each symbol, 0..=255 and EOS (256), from RFC 7541 appendix B.
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];
const EOS: u16 = 256;
const MAX_LEN: usize = 30;

/// The canonical code as a decoder: for each length, the first code of that length and where its
/// symbols begin in `symbols` (sorted by length, then value).
struct Canonical {
    first: [u32; MAX_LEN + 1],
    count: [u16; MAX_LEN + 1],
    offset: [u16; MAX_LEN + 1],
    symbols: [u16; 257],
}

const fn canonical() -> Canonical {
    let mut c = Canonical {
        first: [0; MAX_LEN + 1],
        count: [0; MAX_LEN + 1],
        offset: [0; MAX_LEN + 1],
        symbols: [0; 257],
    };
    let mut s = 0;
    while s < 257 {
        c.count[LENGTHS[s] as usize] += 1;
        s += 1;
    }
    let mut code: u32 = 0;
    let mut placed: u16 = 0;
    let mut len = 1;
    while len <= MAX_LEN {
        code <<= 1;
        c.first[len] = code;
        c.offset[len] = placed;
        let mut s = 0;
        while s < 257 {
            if LENGTHS[s] as usize == len {
                c.symbols[placed as usize] = s as u16;
                placed += 1;
            }
            s += 1;
        }
        code += c.count[len] as u32;
        len += 1;
    }
    c
}

static CODE: Canonical = canonical();

/// Appends the decoded form of `src` to `out`.
///
/// Errors (RFC 7541 section 5.2): EOS inside the string, or padding longer than 7 bits or not
/// all ones.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HpackError> {
    let mut code: u32 = 0;
    let mut len: usize = 0;
    for &byte in src {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            let first = CODE.first[len];
            if code >= first && code - first < u32::from(CODE.count[len]) {
                let symbol = CODE.symbols[usize::from(CODE.offset[len]) + (code - first) as usize];
                if symbol == EOS {
                    return Err(HpackError::Huffman);
                }
                out.push(symbol as u8);
                code = 0;
                len = 0;
            } else if len == MAX_LEN {
                return Err(HpackError::Huffman);
            }
        }
    }
    // What is left must be a prefix of EOS: fewer than 8 bits, all ones.
    if len > 7 || code != (1 << len) - 1 {
        return Err(HpackError::Huffman);
    }
    Ok(())
}
