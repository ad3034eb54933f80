//! The `supervisor` binary: parse the command line, run, report, exit with
//! the status the summary adds up to.

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use supervisor::cli::{Cli, Command, Config, exit, one_line};
use supervisor::events::EventLog;
use supervisor::report::Summary;
use supervisor::supervisor::Supervisor;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => return usage_error(&one_line(&e)),
    };
    match cli.command {
        Some(Command::Worker(args)) => {
            return ExitCode::from(supervisor::worker::run_role(&args) as u8);
        }
        Some(Command::Isolation(args)) => {
            return ExitCode::from(supervisor::isolation::run(&args) as u8);
        }
        None => {}
    }
    let cfg = match Config::from_args(cli.run) {
        Ok(cfg) => cfg,
        Err(why) => return usage_error(&why),
    };
    let events = match &cfg.events {
        None => None,
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some(file),
            Err(e) => return usage_error(&format!("--events {}: {e}", path.display())),
        },
    };
    let mut log = EventLog::new(cfg.quiet, events);
    let outcome = Supervisor::new(&cfg, &mut log).and_then(|s| s.run());
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(fatal) => {
            eprintln!("supervisor: error: {fatal}");
            return ExitCode::from(exit::FAILED as u8);
        }
    };
    let summary = Summary::new(&cfg, &outcome);
    let text = if cfg.json {
        summary.to_json() + "\n"
    } else {
        summary.to_text()
    };
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`| head`) is not worth a panic.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if summary.exit_code == exit::FAILED {
        eprintln!(
            "supervisor: error: the Σσ self-check failed: the counts are wrong \
             (a chunk lost or counted twice, or the tally corrupted)"
        );
    }
    ExitCode::from(summary.exit_code as u8)
}

fn usage_error(why: &str) -> ExitCode {
    eprintln!("supervisor: error: {why}");
    ExitCode::from(exit::USAGE as u8)
}
