//! Arrays of a build's points and edges in memory mapped for the purpose, asking the kernel
//! for 2 MiB pages: a build reads rows and edge lists of random points, and with 4 KiB pages
//! nearly every such read also misses the TLB (the points of 25k x 384 as 16-bit codes span
//! 4,700 pages), a page walk that a virtual machine's nested paging makes longer still.
//! That build took 10% less CPU with them; SIFT's and MNIST's, whose codes span 160 and
//! 1,700 pages, the same.

use std::ops::{Deref, DerefMut};

use memmap2::{Advice, MmapMut, MmapOptions};

/// Element types whose every bit pattern, zero included, is a valid value.
///
/// # Safety
/// An implementor must have no invalid bit patterns: [`LargeArray`] hands out its bytes as
/// values of the type.
pub unsafe trait Plain: Copy + Send + Sync + 'static {}
// SAFETY: every bit pattern of these primitive types is a valid value.
unsafe impl Plain for u8 {}
// SAFETY: as above.
unsafe impl Plain for u16 {}
// SAFETY: as above.
unsafe impl Plain for u32 {}
// SAFETY: as above.
unsafe impl Plain for f32 {}

/// A fixed-length array of zeroes to start with, in anonymous memory advised to use huge
/// pages; an ordinary allocation where mapping fails (the advice is only a hint).
pub struct LargeArray<T: Plain> {
    memory: Memory<T>,
    len: usize,
}

enum Memory<T> {
    Mapped(MmapMut),
    Heap(Vec<T>),
}

impl<T: Plain + Default> LargeArray<T> {
    pub fn zeroed(len: usize) -> Self {
        let bytes = len.checked_mul(size_of::<T>()).expect("the array's size fits in memory");
        // The kernel backs with a huge page only a 2 MiB extent wholly inside the map, so
        // the array never holds more memory than its length asks; the partial extents at
        // its ends keep small pages.
        let mapped = (bytes > 0).then(|| MmapOptions::new().len(bytes).map_anon()).and_then(Result::ok);
        let memory = match mapped {
            Some(map) => {
                // Only advice: without it (THP disabled) the array is as fast as a Vec.
                let _ = map.advise(Advice::HugePage);
                Memory::Mapped(map)
            }
            None => Memory::Heap(vec![T::default(); len]),
        };
        LargeArray { memory, len }
    }
}

impl<T: Plain> Deref for LargeArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.memory {
            // SAFETY: the map is page-aligned (so aligned for T), holds len * size_of::<T>()
            // bytes, all initialised (zero, or written through deref_mut), and every bit
            // pattern is a valid T (`Plain`). The slice borrows the map.
            Memory::Mapped(map) => unsafe { std::slice::from_raw_parts(map.as_ptr().cast(), self.len) },
            Memory::Heap(v) => v,
        }
    }
}

impl<T: Plain> DerefMut for LargeArray<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.memory {
            // SAFETY: as in `deref`; the map is borrowed mutably, so the slice is unique.
            Memory::Mapped(map) => unsafe { std::slice::from_raw_parts_mut(map.as_mut_ptr().cast(), self.len) },
            Memory::Heap(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_zeroed_and_keeps_what_is_written() {
        for len in [0, 1, 1000, 3 << 20] {
            let mut a = LargeArray::<u32>::zeroed(len);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|&x| x == 0));
            a.iter_mut().enumerate().for_each(|(i, x)| *x = i as u32);
            assert!(a.iter().enumerate().all(|(i, &x)| x == i as u32));
        }
    }
}
