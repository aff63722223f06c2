//! The process heap. glibc's allocator keeps freed memory in its arenas and hands
//! pages back to the system only when asked: after the policies compile (tens of
//! megabytes of compiler scratch) and when a burst of conversations has freed more
//! than a threshold since the last time (checked at most once a second).

/// Return freed heap pages to the system (glibc only; elsewhere nothing to do).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes the allocator holds in free chunks (glibc); None where it cannot tell.
pub fn held_free() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    return Some(unsafe { libc::mallinfo2() }.fordblks);
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// Gives back what was freed since it last did, once that exceeds `threshold` bytes.
pub struct Trimmer {
    threshold: usize,
    baseline: usize,
}

impl Trimmer {
    pub fn new(threshold: usize) -> Trimmer {
        Trimmer {
            threshold,
            baseline: held_free().unwrap_or(0),
        }
    }

    /// True when enough was freed since the last trim that one is worth it; the
    /// caller then runs `release_freed` (off the async runtime: a large heap takes
    /// some milliseconds to walk).
    pub fn due(&mut self) -> bool {
        let Some(free) = held_free() else {
            return false;
        };
        // Freed memory that was reused since does not count.
        self.baseline = self.baseline.min(free);
        if free - self.baseline < self.threshold {
            return false;
        }
        self.baseline = free;
        true
    }
}
