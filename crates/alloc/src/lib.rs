//! # logcrawl-alloc
//!
//! The global allocator of the `logcrawl` and `logcrawl-bench` binaries: jemalloc, with settings chosen
//! by measurement (see `docs/benchmarks.md`). A binary opts in with one line:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: logcrawl_alloc::Allocator = logcrawl_alloc::Allocator;
//! ```
//!
//! # Why jemalloc, and why these settings
//!
//! A crawl allocates on one thread and frees on another: a page's body and records are allocated by the
//! task that fetched and parsed it, and freed by the sink's encoder on the blocking pool once the batch
//! is delivered. That is on the order of 500 MB/s of memory turned over at 150 000 events/s.
//!
//! * glibc's malloc spends a third of the CPU on it with a DOM per event, and 8.8 µs/event without.
//! * mimalloc is fast, but each thread keeps the pages it freed for a while, and the resident set of a
//!   1 000 000-event backfill swung between 44 and 83 MiB from run to run; the Datadog backfill reached
//!   95–100 MiB.
//! * jemalloc with **one arena** (`narenas:1`) returns every free to one pool that every thread allocates
//!   from again, so memory turned over is reused at once: the backfill stays at 27–31 MiB at the same
//!   or lower CPU per event. The thread caches in front of the arena keep its lock off the fast path.
//!
//! The other settings: dirty pages go back to the kernel after a second (`dirty_decay_ms:1000`,
//! `muzzy_decay_ms:0`), from a background thread so that no crawl stalls on it
//! (`background_thread:true`); transparent huge pages are off (`thp:never`), because with them the idle
//! state of 10 000 streams took gigabytes.
//!
//! Operators can override any of these at start-up with jemalloc's own variable, for example
//! `_RJEM_MALLOC_CONF=narenas:4` on a machine with many cores where the one arena's lock shows up.

/// The allocator type to name in a binary's `#[global_allocator]` static.
pub use tikv_jemallocator::Jemalloc as Allocator;

/// The settings compiled into the binaries (jemalloc's `malloc_conf`, NUL-terminated). The environment
/// variable `_RJEM_MALLOC_CONF` is read after it and wins.
pub const SETTINGS: &[u8] = b"narenas:1,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,thp:never\0";

// jemalloc reads its `malloc_conf` global as a C string before `main` runs; a slice reference starts with
// its data pointer, which is what it finds at this symbol.
// SAFETY: the symbol name is the one tikv-jemalloc-sys's prefixed jemalloc looks up; nothing else
// defines it; the bytes are 'static, immutable and NUL-terminated.
#[allow(unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8] = SETTINGS;

/// One line on the allocator in use and its effective settings, for `logcrawl --version` and the
/// benchmark report. It reads jemalloc's live options, so it also proves the compiled settings took.
pub fn describe() -> String {
    use tikv_jemalloc_ctl::{opt, version};
    let read = |result: Result<String, tikv_jemalloc_ctl::Error>| result.unwrap_or_else(|err| format!("? ({err})"));
    format!(
        "jemalloc {} (arenas: {}, background thread: {})",
        read(version::read().map(|v| v.split('-').next().unwrap_or(v).to_owned())),
        read(opt::narenas::read().map(|n| n.to_string())),
        read(opt::background_thread::read().map(|on| if on { "on" } else { "off" }.to_owned())),
    )
}

#[cfg(test)]
mod tests {
    #[global_allocator]
    static GLOBAL: super::Allocator = super::Allocator;

    #[test]
    fn the_compiled_settings_are_in_effect() {
        // `cargo test` may run with the variable set by a user; only check when it is not.
        if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
            return;
        }
        let line = super::describe();
        assert!(line.starts_with("jemalloc 5."), "{line}");
        assert!(line.contains("arenas: 1,") && line.contains("background thread: on"), "{line}");
        assert!(super::SETTINGS.ends_with(b"\0") && !super::SETTINGS[..super::SETTINGS.len() - 1].contains(&0));
    }
}
