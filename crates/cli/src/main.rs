//! The `logcrawl` command; all logic lives in the library.

fn main() -> std::process::ExitCode {
    logcrawl::cli::main()
}
