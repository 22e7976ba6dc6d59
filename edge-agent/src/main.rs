use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    edge_agent::memory::one_arena();
    edge_agent::cli::main(Instant::now())
}
