//! `memory::trim` against the real allocator, alone in its process: the figure it checks is the whole
//! process's resident memory, which other tests running beside it would move.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use edge_agent::memory::{resident_anonymous, trim};

#[test]
fn freed_pages_inside_the_heap_go_back_to_the_system() {
    // Runs of small chunks freed between kept ones, as a parse tree leaves them: the free pages lie
    // inside the heap, not at its top, so the allocator keeps them resident until trimmed.
    let mut kept = Vec::new();
    let mut freed = Vec::with_capacity(200_000);
    for i in 0..200_000u32 {
        let chunk = vec![1 + (i % 200) as u8; 200];
        if i % 64 == 0 { kept.push(chunk) } else { freed.push(chunk) }
    }
    // Allocated after the rest, so the freed runs are not at the top of the heap.
    let last = Box::new([7u8; 200]);
    let filled = resident_anonymous().expect("RssAnon in /proc/self/status");
    drop(freed);
    trim();
    let trimmed = resident_anonymous().unwrap();
    // About 39 MiB of chunks freed in runs of 63; at least 16 MiB of whole pages among them.
    assert!(
        trimmed + 16 * 1024 * 1024 < filled,
        "resident anonymous {filled} bytes before the trim, {trimmed} after: the holes stayed resident"
    );
    assert_eq!((kept.len(), last[0]), (3_125, 7));
}
