//! Hands the memory freed after a start or a reload back to the system.
//!
//! Checking a config of thousands of tags allocates a parse tree with spans for every value and frees it
//! once the plant is built; the freed chunks sit between the ones the plant keeps, so glibc's allocator,
//! which gives back only the free top of its heap, keeps them resident. `malloc_trim(0)` releases every
//! whole free page (`MADV_DONTNEED`) wherever it lies. Measured with `benches/nodered.sh` at 100 devices
//! of 50 tags: the agent's anonymous memory went from 24.4 to 16.5 MiB, and stayed there.

use std::time::Duration;

/// Long enough after a start for the first scans and the uplink's first batches to have allocated the
/// buffers they keep, so what is trimmed is what the start threw away.
pub const SETTLE: Duration = Duration::from_secs(10);

/// One allocator arena for the whole process, unless `MALLOC_ARENA_MAX` says otherwise. glibc gives each
/// thread that allocates an arena of its own, and each keeps what it freed; the agent allocates little
/// once running, so the lock they would spare is seldom contended. Measured: `benches/energy.sh` (1000
/// meters) 67 MiB RSS with the default, 50 MiB with one arena, CPU the same; `benches/nodered.sh` at 100
/// devices 16.1 MiB anonymous with two arenas, 14.8 MiB with one. Call before any thread starts.
pub fn one_arena() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        glibc::one_arena();
    }
}

/// Trims once `SETTLE` has passed, on its own task; logs what went back.
pub fn trim_after_settling(why: &'static str) {
    tokio::spawn(async move {
        tokio::time::sleep(SETTLE).await;
        // /proc is read only for the debug line.
        if !tracing::enabled!(tracing::Level::DEBUG) {
            trim();
            return;
        }
        let before = resident_anonymous();
        let trimmed = trim();
        let after = resident_anonymous();
        if let (true, Some(before), Some(after)) = (trimmed, before, after) {
            tracing::debug!(
                after = why,
                returned_kib = before.saturating_sub(after) / 1024,
                resident_anonymous_kib = after / 1024,
                "freed memory handed back to the system"
            );
        }
    });
}

/// Returns the allocator's whole free pages to the system; true when some went back.
pub fn trim() -> bool {
    glibc::trim()
}

/// The process's resident anonymous memory in bytes (`RssAnon` of /proc/self/status), on Linux.
pub fn resident_anonymous() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod glibc {
    unsafe extern "C" {
        /// malloc_trim(3): takes the allocator's own locks, so it may run beside other threads' allocations.
        safe fn malloc_trim(pad: usize) -> std::ffi::c_int;
        /// mallopt(3): sets one allocator parameter; an unknown one is refused (returns 0), never unsafe.
        safe fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }

    pub fn trim() -> bool {
        malloc_trim(0) == 1
    }

    /// mallopt(3)'s M_ARENA_MAX.
    const M_ARENA_MAX: std::ffi::c_int = -8;

    pub fn one_arena() {
        mallopt(M_ARENA_MAX, 1);
    }
}

/// Other C libraries (musl) either return freed pages themselves or offer no such call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    pub fn trim() -> bool {
        false
    }

    pub fn one_arena() {}
}
