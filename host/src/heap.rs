//! The process heap. Loading the policies compiles WebAssembly, which frees tens of
//! megabytes that glibc's allocator keeps in its per-thread arenas; it hands freed
//! pages back to the system only when asked.

/// Return freed heap pages to the system (glibc only; elsewhere nothing to do).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
