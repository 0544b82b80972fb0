//! The `logcrawl` command; all logic lives in the library.

/// jemalloc with the settings of `logcrawl-alloc` (one arena, prompt return of freed memory), which keep a
/// backfill's resident memory at the size of the pages in flight.
#[global_allocator]
static GLOBAL: logcrawl_alloc::Allocator = logcrawl_alloc::Allocator;

fn main() -> std::process::ExitCode {
    logcrawl::cli::main()
}
