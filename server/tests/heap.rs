//! Freed memory goes back to the operating system (`server::memory`). Alone in its own test
//! binary: it measures the whole process's resident memory.

/// The process's resident memory, in bytes.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn freed_memory_is_handed_back_and_the_heap_in_use_is_counted() {
    let Some(before) = server::memory::heap_in_use_bytes() else { return };
    // 400 MB in blocks of 16 KiB, every other one freed: holes glibc keeps for reuse.
    let mut blocks: Vec<Vec<u8>> = (0..25_000).map(|i| vec![i as u8; 16 * 1024]).collect();
    let holding = server::memory::heap_in_use_bytes().unwrap();
    assert!(holding > before + 350_000_000, "{before} → {holding} bytes in use");
    let mut n = 0;
    blocks.retain(|_| {
        n += 1;
        n % 2 == 0
    });
    let in_use = server::memory::heap_in_use_bytes().unwrap();
    assert!(in_use < holding - 150_000_000, "freed blocks are no longer in use: {holding} → {in_use}");
    let held = resident_bytes();
    server::memory::release_free_memory();
    let released = resident_bytes();
    assert!(released < held - 100_000_000, "resident {held} → {released} bytes after handing back");
    assert_eq!(blocks.len(), 12_500);
}
