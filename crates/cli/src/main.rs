//! The `logcrawl` command; all logic lives in the library.

/// mimalloc, without transparent huge pages: records are allocated by the task parsing a page and freed
/// by the sink's encoder on another thread, a pattern glibc's malloc handles poorly (a third of the CPU in
/// the backfill benchmark); huge pages would multiply the resident memory of many idle streams.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    logcrawl::cli::main()
}
