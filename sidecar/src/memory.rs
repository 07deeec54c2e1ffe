//! The allocator's share of the sidecar's footprint (see docs/performance.md).
//!
//! glibc's malloc keeps freed memory in its arenas and gives one arena to each thread
//! that contends, up to eight per core. Compiling an index allocates several times the
//! size of the result (parsed manifests, CEL ASTs, reports), all on a blocking-pool
//! thread, and the garbage then stays resident in that thread's arena for the life of
//! the process. Both are tuned here; other allocators are left alone.

/// Caps glibc's arenas. Call first thing in `main`, before any thread exists: arenas
/// are created lazily by threads, and the cap only governs arenas created after it.
///
/// Two arenas for a runtime of a few worker threads: one arena per thread buys little
/// on two cores, and every extra arena holds its own high-water mark of free memory.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::set_arena_max(2);
}

/// Hands free heap memory back to the kernel. Call after a burst of short-lived
/// allocations, such as compiling and swapping in a new index; it costs about a
/// millisecond of one thread's time and nothing on the request path.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::trim();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod glibc {
    pub fn set_arena_max(arenas: libc::c_int) {
        // SAFETY: mallopt takes plain integers and only changes malloc's parameters;
        // a refused value (it returns 0) leaves glibc's defaults, which are safe.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim takes the arena locks itself and only releases pages
        // that hold no live allocation; it is safe to call from any thread at any time.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_and_trimming_leave_the_allocator_usable() {
        tune_allocator();
        let garbage: Vec<Vec<u8>> = (0..1000).map(|i| vec![0u8; 64 + i]).collect();
        drop(garbage);
        release_free_memory();
        let after: Vec<u8> = (0..=255).collect();
        assert_eq!(after.iter().map(|b| u32::from(*b)).sum::<u32>(), 255 * 128);
    }
}
