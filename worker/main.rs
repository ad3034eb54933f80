//! `supervisor-worker`: the worker program on its own. It speaks the frame
//! protocol on stdin/stdout, exactly like `supervisor worker` (the role the
//! spawn start method re-executes the supervisor in), for running workers
//! where the supervisor binary is not, such as another host.

use clap::Parser;
use std::process::ExitCode;
use supervisor::cli::WorkerArgs;

/// Serve the supervisor's worker protocol on stdin/stdout.
#[derive(Parser)]
#[command(name = "supervisor-worker", version)]
struct Cli {
    #[command(flatten)]
    args: WorkerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(supervisor::worker::run_role(&cli.args) as u8)
}
