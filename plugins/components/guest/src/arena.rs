//! The components' global allocator: the platform allocator until `freeze`, a bump
//! arena after it.
//!
//! `init` runs once and is snapshotted; every later call runs on a fresh instance made
//! from the snapshot and is thrown away afterwards. Freeing memory inside a call is
//! therefore pointless, and harmful: the platform allocator would write its free-list
//! bookkeeping all over the snapshot's heap, and the host resets every page a call
//! dirtied. With the arena, a call dirties its stack and one contiguous run of fresh
//! pages, so resetting the instance for the next message is cheap.
//!
//! Single-threaded by construction (a component instance has one thread).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use std::alloc::System;

const PAGE: usize = 65536;
/// Pages reserved at freeze (part of the snapshot, so a call usually grows nothing).
const RESERVED_PAGES: usize = 16;

pub struct Arena {
    state: UnsafeCell<State>,
}

struct State {
    frozen: bool,
    /// Start of the first arena region: pointers at or above it are arena memory
    /// (after freeze only the arena grows linear memory).
    base: usize,
    next: usize,
    end: usize,
}

// SAFETY: a component instance runs on one thread; nothing shares the allocator.
unsafe impl Sync for Arena {}

impl Arena {
    pub const fn new() -> Arena {
        Arena {
            state: UnsafeCell::new(State {
                frozen: false,
                base: usize::MAX,
                next: 0,
                end: 0,
            }),
        }
    }

    #[allow(clippy::mut_from_ref)] // single-threaded; see the Sync impl
    fn state(&self) -> &mut State {
        // SAFETY: single-threaded, and no caller holds the reference across calls.
        unsafe { &mut *self.state.get() }
    }

    /// From now on, allocate from the arena and never free.
    pub fn freeze(&self) {
        let s = self.state();
        if !s.frozen && grow(s, RESERVED_PAGES) {
            s.base = s.next;
            s.frozen = true;
        }
    }
}

impl Default for Arena {
    fn default() -> Self {
        Arena::new()
    }
}

fn grow(s: &mut State, pages: usize) -> bool {
    let old = core::arch::wasm32::memory_grow(0, pages);
    if old == usize::MAX {
        return false;
    }
    let start = old * PAGE;
    if start != s.end {
        s.next = start;
    }
    s.end = start + pages * PAGE;
    true
}

fn bump(s: &mut State, layout: Layout) -> *mut u8 {
    let align = layout.align();
    let fits = |s: &State| {
        let start = (s.next + align - 1) & !(align - 1);
        (start + layout.size() <= s.end).then_some(start)
    };
    let start = match fits(s) {
        Some(start) => start,
        None => {
            let pages = (layout.size() + align).div_ceil(PAGE).max(RESERVED_PAGES);
            if !grow(s, pages) {
                return null_mut();
            }
            match fits(s) {
                Some(start) => start,
                None => return null_mut(),
            }
        }
    };
    s.next = start + layout.size();
    start as *mut u8
}

unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let s = self.state();
        if !s.frozen {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.alloc(layout) };
        }
        bump(s, layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let s = self.state();
        let at = ptr as usize;
        if !s.frozen {
            // Zeroed before it is freed: the snapshot keeps only non-zero pages, so
            // garbage left by init would otherwise weigh on every instance.
            // SAFETY: `ptr` is valid for `layout.size()` bytes until freed.
            unsafe {
                ptr.write_bytes(0, layout.size());
                System.dealloc(ptr, layout);
            }
        } else if at < s.base {
            // SAFETY: memory from before the freeze belongs to the platform allocator.
            unsafe { System.dealloc(ptr, layout) };
        } else if at + layout.size() == s.next {
            // The last allocation can be given back for free.
            s.next = at;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let s = self.state();
        let at = ptr as usize;
        if s.frozen && at >= s.base && at + layout.size() == s.next && at + new_size <= s.end {
            s.next = at + new_size;
            return ptr;
        }
        // Moving (rather than the platform's in-place realloc) lets dealloc zero the
        // old block during init, and keeps calls in the arena after it.
        // SAFETY: `layout` with `new_size` is valid per realloc's contract.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has a non-zero size per realloc's contract.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes and distinct.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated by this allocator with `layout`.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}
