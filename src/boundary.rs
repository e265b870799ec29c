//! The typed kernel/user boundary: bytes a BPF program wrote (ring-buffer
//! records, iterator output, the mmapped counters) read as the skeleton
//! types build.rs generates from the C headers, and those types back to
//! bytes. The one place such bytes are reinterpreted: decoders call these
//! functions instead of writing their own `unsafe` copies.

/// A skeleton type that is plain old data: `repr(C)`, made of integers and
/// arrays of them, with no padding that matters and every bit pattern valid.
///
/// # Safety
///
/// Implement it only for types generated from the BPF C headers (or laid out
/// the same way): any bytes of the right length must be a valid value.
pub unsafe trait Plain: Copy + Default + 'static {}

/// Copies the first `len` bytes of `raw` over the start of `dst`, leaving the
/// rest of `dst` as it is; `len` is cut to both sizes. Returns the bytes copied.
pub fn copy_prefix<T: Plain>(raw: &[u8], len: usize, dst: &mut T) -> usize {
    let n = len.min(raw.len()).min(size_of::<T>());
    // SAFETY: T is Plain (any bytes are a valid T) and n is within both buffers.
    unsafe { std::ptr::copy_nonoverlapping(raw.as_ptr(), (dst as *mut T).cast::<u8>(), n) };
    n
}

/// A `T` from the start of `raw`; the bytes past `raw` are zero (a record
/// may be shorter than the type, e.g. one whose name is not sent whole).
pub fn read_prefix<T: Plain>(raw: &[u8]) -> T {
    let mut v = T::default();
    copy_prefix(raw, raw.len(), &mut v);
    v
}

/// The bytes of `v`, as a BPF program would write them.
pub fn as_bytes<T: Plain>(v: &T) -> &[u8] {
    // SAFETY: T is Plain: its bytes are initialized and readable for its size.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

/// A counter the BPF programs update atomically in a mapped section (.bss),
/// read as it is now rather than as the compiler last saw it.
pub fn read_counter(c: &u64) -> u64 {
    // SAFETY: a valid, aligned reference to a u64; the kernel only ever
    // stores whole values to it.
    unsafe { std::ptr::read_volatile(c) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, Default, PartialEq)]
    #[repr(C)]
    struct Rec {
        a: u32,
        b: [u8; 4],
    }
    // SAFETY: integers and a byte array, no padding.
    unsafe impl Plain for Rec {}

    #[test]
    fn prefixes_round_trip_and_short_input_stays_zero() {
        let r = Rec { a: 7, b: *b"abcd" };
        assert_eq!(read_prefix::<Rec>(as_bytes(&r)), r);
        assert_eq!(read_prefix::<Rec>(&as_bytes(&r)[..5]), Rec { a: 7, b: *b"a\0\0\0" });
        assert_eq!(read_prefix::<Rec>(&[]), Rec::default());
        let mut long = as_bytes(&r).to_vec();
        long.extend_from_slice(b"more");
        assert_eq!(read_prefix::<Rec>(&long), r);
        let mut d = Rec { a: 1, b: *b"zzzz" };
        assert_eq!(copy_prefix(as_bytes(&r), 4, &mut d), 4);
        assert_eq!(d, Rec { a: 7, b: *b"zzzz" });
        assert_eq!(read_counter(&42), 42);
    }
}
