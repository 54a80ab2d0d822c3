//! Context field reads, 32 bits at a time.
//!
//! The verifier only accepts 4-byte loads of the address fields of `bpf_sock_ops`, `sk_msg_md`
//! and `bpf_sock_addr`; copying a `[u32; 4]` field as a whole can be merged into 8-byte loads
//! and rejected, so every word is read (and written) with a volatile access.

/// Reads one context word.
#[inline(always)]
pub fn rd(p: *const u32) -> u32 {
    // SAFETY: `p` points into the program's context, which the kernel guarantees is valid for
    // the duration of the program; the verifier checks the offset.
    unsafe { core::ptr::read_volatile(p) }
}

/// Reads four context words (an IPv6 address).
#[inline(always)]
pub fn rd4(p: *const [u32; 4]) -> [u32; 4] {
    let w = p.cast::<u32>();
    // `wrapping_add` keeps the pointer arithmetic free of UB claims; the verifier checks it.
    [
        rd(w),
        rd(w.wrapping_add(1)),
        rd(w.wrapping_add(2)),
        rd(w.wrapping_add(3)),
    ]
}

/// Writes one context word.
#[inline(always)]
pub fn wr(p: *mut u32, v: u32) {
    // SAFETY: as for `rd`; only writable fields are passed (user_ip4/user_ip6/user_port).
    unsafe { core::ptr::write_volatile(p, v) }
}

/// Address of a context field, without reading it.
macro_rules! field {
    ($p:expr, $f:ident) => {
        // SAFETY: only the address is computed (no read); `$p` is the program's context pointer.
        unsafe { core::ptr::addr_of!((*$p).$f) }
    };
}

/// Mutable address of a context field, without reading it.
macro_rules! field_mut {
    ($p:expr, $f:ident) => {
        // SAFETY: as for `field!`.
        unsafe { core::ptr::addr_of_mut!((*$p).$f) }
    };
}

pub(crate) use {field, field_mut};
