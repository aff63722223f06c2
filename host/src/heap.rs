//! The process heap. glibc's allocator keeps freed memory in its arenas and hands
//! pages back to the system only when asked: after the policies compile (tens of
//! megabytes of compiler scratch) and when the pipeline goes idle after a burst.

/// Return freed heap pages to the system (glibc only; elsewhere nothing to do).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
