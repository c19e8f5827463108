//! The memory allocator of the `plumbline` binary: mimalloc, which gives
//! freed memory back to the system (glibc's keeps a long-running
//! controller at the peak of its largest reconcile), told to do so at once.

/// The allocator; the binary installs it with `#[global_allocator]`.
pub use mimalloc::MiMalloc as Allocator;

/// `mi_option_purge_delay` of mimalloc.h (the same in its v2 and v3),
/// which `libmimalloc-sys` does not name.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the system at once rather than up to a second
/// later (mimalloc's default), so memory freed after one stage is not still
/// held while the next allocates: a reconcile's peak is the peak of what it
/// holds, not the sum of its stages.
pub fn return_freed_memory_at_once() {
    // SAFETY: setting an option is an atomic store, and 0 is a valid delay.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}
