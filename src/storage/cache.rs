//! Hints that bring memory into the CPU cache before it is read: the rows a distance kernel
//! will score next, whose loads would otherwise each wait the full memory latency in turn.

/// Bytes of one cache line.
const LINE: usize = 64;

/// Asks the CPU to start loading the first `bytes` bytes of `data` into its cache, without
/// waiting for them. Never faults and changes no value: a hint the CPU may ignore (and a
/// no-op on targets other than x86_64).
#[inline(always)]
pub fn prefetch<T>(data: &[T], bytes: usize) {
    let len = std::mem::size_of_val(data).min(bytes);
    let start = data.as_ptr().cast::<i8>();
    for offset in (0..len).step_by(LINE) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `start + offset` lies inside `data` (offset < its length in bytes), and
        // PREFETCHT0 reads nothing architecturally: it cannot fault or change memory. SSE,
        // which the instruction needs, is part of every x86_64 target.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(start.add(offset))
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (start, offset);
    }
}
