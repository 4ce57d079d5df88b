//! `tessera`: the session store server and its administrative commands.
//!
//! Exit codes: 0 success; 1 a failure while running (backend unreachable,
//! I/O); 2 a command-line usage error; 3 an invalid configuration (including
//! a server with no API token configured).

/// mimalloc rather than the system allocator: a request allocates and
/// frees dozens of small blocks, and glibc's malloc cost a tenth of the
/// server's CPU per lookup (docs/performance.md, "The HTTP path").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tessera_server::main()
}
