//! Freed heap goes back to the system after a burst, once (glibc).
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use jules::heap::{Trimmer, release_freed};

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_burst_freed_is_given_back_once() {
    let mut trimmer = Trimmer::new(32 << 20);
    assert!(!trimmer.due(), "nothing was freed yet");

    // 64 MiB in small chunks, then one more so the freed ones are not the heap's top
    // (which free() would hand back by itself).
    let burst: Vec<Vec<u8>> = (0..16_384).map(|i| vec![i as u8; 4096]).collect();
    let pin = vec![1u8; 4096];
    drop(burst);
    let before = rss_bytes();
    assert!(trimmer.due(), "64 MiB freed is over the threshold");
    release_freed();
    let after = rss_bytes();
    assert!(
        before - after > 32 << 20,
        "RSS {before} → {after}: the freed pages went back"
    );
    assert!(!trimmer.due(), "nothing new was freed since");
    drop(pin);
}
