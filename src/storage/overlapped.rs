//! Overlapped reads of node blocks into buffers of one's own, through io_uring: a search of
//! many queries keeps many blocks in flight at once, so a cold index is read at the
//! device's queue depth instead of one page fault at a time. Reads go through the page
//! cache, which stays the cache: a block it holds is copied at once, without a disk read.

use std::io;

use io_uring::{opcode, types, IoUring};

use super::IndexFile;
use crate::error::{Error, Result};
use crate::format::PAGE;

/// A fixed set of block buffers and the reads into them that are in flight.
pub struct OverlappedReads<'f> {
    file: &'f IndexFile,
    ring: IoUring,
    fd: i32,
    /// `count` blocks back to back, from `start` (page aligned) on.
    memory: Vec<u8>,
    start: usize,
    count: usize,
    in_flight: usize,
}

impl<'f> OverlappedReads<'f> {
    /// `buffers` block buffers for reads of `file`; None when the kernel refuses io_uring
    /// (too old, or forbidden by a seccomp profile) or the file has no descriptor.
    pub fn new(file: &'f IndexFile, buffers: usize) -> Option<OverlappedReads<'f>> {
        let fd = file.raw_fd()?;
        // Reads through the descriptor would otherwise read ahead of every block, as for a
        // file read in order: twice the disk reads, and pages that push useful ones out.
        // SAFETY: `fd` is the open descriptor of `file`; the call reads no memory of ours.
        // Advice is a hint: refusing it changes nothing else.
        let _ = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_RANDOM) };
        let ring = IoUring::new(buffers.next_power_of_two() as u32).ok()?;
        let bs = file.layout().block_size;
        let memory = vec![0u8; buffers * bs + PAGE];
        let start = memory.as_ptr().align_offset(PAGE);
        Some(OverlappedReads { file, ring, fd, memory, start, count: buffers, in_flight: 0 })
    }

    /// How many buffers there are.
    pub fn buffers(&self) -> usize {
        self.count
    }

    /// Starts reading `slot`'s block into `buffer` (not in use by another read). The read
    /// is handed to the kernel by the next [`OverlappedReads::wait`].
    pub fn read(&mut self, slot: u32, buffer: usize) -> Result<()> {
        let (header, bs) = (self.file.header(), self.file.layout().block_size);
        if slot as u64 >= header.slots {
            return Err(self.file.corrupted(format!("slot {slot} is beyond the {} slots", header.slots)));
        }
        debug_assert!(buffer < self.count, "buffer {buffer} of {}", self.count);
        let at = self.start + buffer * bs;
        let target = self.memory[at..at + bs].as_mut_ptr();
        let read =
            opcode::Read::new(types::Fd(self.fd), target, bs as u32).offset((slot as u64 + 1) * bs as u64).build().user_data(buffer as u64);
        // SAFETY: `target` points at `bs` bytes of `memory`, which is never resized or
        // freed while a read is in flight (`drop` waits for every read), and no other read
        // uses the same buffer. The descriptor belongs to `file`, which outlives `self`.
        // The queue has a place: it holds at least `count` entries and at most one read
        // per buffer is queued or in flight.
        unsafe { self.ring.submission().push(&read) }.map_err(|_| self.file.corrupted("overlapped read queue is full".into()))?;
        self.in_flight += 1;
        Ok(())
    }

    /// Hands the queued reads to the kernel and waits until at least one read is done;
    /// appends the buffers of every finished read to `done`.
    pub fn wait(&mut self, done: &mut Vec<usize>) -> Result<()> {
        if self.in_flight == 0 {
            return Ok(());
        }
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(self.file.path(), "cannot read index", e)),
            }
        }
        let bs = self.file.layout().block_size as i32;
        let mut failed = None;
        for entry in self.ring.completion() {
            self.in_flight -= 1;
            let buffer = entry.user_data() as usize;
            match entry.result() {
                n if n == bs => done.push(buffer),
                n if n >= 0 => failed = Some(self.file.corrupted(format!("a block of the file ends after {n} of its {bs} bytes"))),
                e => failed = Some(Error::io(self.file.path(), "cannot read index", io::Error::from_raw_os_error(-e))),
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// The bytes `buffer`'s finished read brought (not checked yet).
    pub fn bytes(&self, buffer: usize) -> &[u8] {
        let bs = self.file.layout().block_size;
        let at = self.start + buffer * bs;
        &self.memory[at..at + bs]
    }
}

impl Drop for OverlappedReads<'_> {
    fn drop(&mut self) {
        // The kernel writes into `memory` until each read completes: wait for all of them
        // before the buffers go (after an error, some may still be in flight).
        while self.in_flight > 0 {
            match self.ring.submit_and_wait(self.in_flight) {
                Ok(_) => self.in_flight -= self.ring.completion().count(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // Cannot learn when they end: leave them memory that is never freed.
                    std::mem::forget(std::mem::take(&mut self.memory));
                    return;
                }
            }
        }
    }
}
