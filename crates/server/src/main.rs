//! `tessera`: the session store server and its administrative commands.
//!
//! Exit codes: 0 success; 1 a failure while running (backend unreachable,
//! I/O); 2 a command-line usage error; 3 an invalid configuration (including
//! a server with no API token configured).

fn main() -> std::process::ExitCode {
    tessera_server::main()
}
