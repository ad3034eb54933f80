//! The `supervisor` binary: parse the command line, run, report, exit with
//! the status the summary adds up to (or 1 if the summary could not be
//! written).

use clap::Parser;
use std::process::ExitCode;
use supervisor::checkpoint::{self, Journal, JournalLock};
use supervisor::cli::{Cli, Command, Config, Mode, exit, one_line};
use supervisor::events::{Event, EventLog};
use supervisor::inherited;
use supervisor::report::Summary;
use supervisor::stdio::{self, say};
use supervisor::supervisor::{Ending, Supervisor};

fn main() -> ExitCode {
    // Whatever this process inherited: descriptors 0-2 open, SIGCHLD at its
    // default (an ignored one would have the kernel reap workers for us).
    inherited::fill_standard_descriptors();
    if let Err(why) = inherited::reset_signals() {
        say(&format!("supervisor: error: {why}"));
        return ExitCode::from(exit::FAILED as u8);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        // Every clap error ends with where to look; a bare `supervisor`
        // (no --max) is the first one a newcomer meets.
        Err(e) => return usage_error(&format!("{}; try 'supervisor --help'", one_line(&e))),
    };
    match cli.command {
        Some(Command::Worker(args)) => {
            return ExitCode::from(supervisor::worker::run_role(&args) as u8);
        }
        Some(Command::Timeline(args)) => {
            let code = supervisor::timeline::run(&args.events, args.output.as_deref());
            return ExitCode::from(code as u8);
        }
        Some(Command::Isolation(args)) => {
            return ExitCode::from(supervisor::isolation::run(&args) as u8);
        }
        None => {}
    }
    let mut cfg = match Config::from_args(cli.run) {
        Ok(cfg) => cfg,
        Err(why) => return usage_error(&why),
    };
    // Threads need descriptors too (both ends of their pipes), and the
    // check is what raises a low soft limit.
    let per_local = match cfg.mode {
        Mode::Processes => inherited::LOCAL_WORKER_DESCRIPTORS,
        Mode::Threads => inherited::THREAD_WORKER_DESCRIPTORS,
    };
    let remote: u64 = cfg
        .hosts
        .iter()
        .filter(|h| !h.is_local())
        .map(|h| h.slots as u64)
        .sum();
    if let Err(why) = inherited::fit_descriptors(cfg.procs as u64 - remote, per_local, remote) {
        return usage_error(&why);
    }
    if let (Some(events), Some(journal)) = (&cfg.events, &cfg.checkpoint)
        && checkpoint::same_file(events, journal)
    {
        return usage_error(&format!(
            "--events and --checkpoint both name {}: the events would overwrite the journal",
            journal.display()
        ));
    }
    if let Some(path) = &mut cfg.checkpoint {
        *path = checkpoint::resolve(path);
    }
    // Held until the run ends: a second run on the same journal is refused.
    let _journal_lock = match &cfg.checkpoint {
        None => None,
        Some(path) => match JournalLock::acquire(path) {
            Ok(lock) => Some(lock),
            Err(why) => return usage_error(&format!("--checkpoint {}: {why}", path.display())),
        },
    };
    let journal = match open_journal(&mut cfg) {
        Ok(journal) => journal,
        Err(why) => return usage_error(&why),
    };
    let events = match &cfg.events {
        None => None,
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some(file),
            Err(e) => return usage_error(&format!("--events {}: {e}", path.display())),
        },
    };
    let mut log = EventLog::new(cfg.quiet, events).for_threads(cfg.mode == Mode::Threads);
    if let (Some(journal), Some(path)) = (&journal, &cfg.checkpoint) {
        let finished = journal.finished();
        log.emit(Event::Resumed {
            path: path.display().to_string(),
            finished,
            remaining: cfg.numbers().saturating_sub(finished),
        });
    }
    let outcome = match Supervisor::new(&cfg, &mut log, journal) {
        Ok(supervisor) => supervisor.run(),
        Err(fatal) => {
            say(&format!("supervisor: error: {fatal}"));
            return ExitCode::from(exit::FAILED as u8);
        }
    };
    let mut summary = Summary::new(&cfg, &outcome);
    summary.events_complete = log.complete();
    let text = if cfg.json {
        summary.to_json() + "\n"
    } else {
        summary.to_text()
    };
    let mut code = summary.exit_code;
    // A full disk or an I/O error lost the result: that is a failure, unless
    // the run has already failed with a code of its own. A reader that
    // stopped early (`| head`) took what it wanted.
    if let Err(e) = stdio::print(&text) {
        say(&format!("supervisor: error: cannot write the summary: {e}"));
        if code == exit::OK {
            code = exit::FAILED;
        }
    }
    if let Ending::Failed(why) = &outcome.ending {
        say(&format!("supervisor: error: {why}"));
    } else if summary.exit_code == exit::FAILED {
        say(
            "supervisor: error: the Σσ self-check failed: the counts are wrong \
             (a chunk lost or counted twice, or the tally corrupted)",
        );
    }
    // Stopped by a signal, with nothing kept: say how to keep it next time.
    let by_signal = [exit::SIGINT, exit::SIGTERM].contains(&summary.exit_code);
    if by_signal && cfg.checkpoint.is_none() {
        say(
            "supervisor: hint: nothing of this run was kept; with --checkpoint FILE the next \
             one can be stopped and continued with --resume",
        );
    }
    ExitCode::from(code as u8)
}

/// Checks `--checkpoint` and `--resume` before any work starts: the journal
/// can be written, and a journal to resume belongs to this run (a resumed
/// run without `--chunk` takes the journal's chunk size). A journal is never
/// overwritten unless the run resumes it; a refused one is left untouched.
fn open_journal(cfg: &mut Config) -> Result<Option<Journal>, String> {
    let Some(path) = cfg.checkpoint.clone() else {
        return Ok(None);
    };
    let shown = path.display();
    checkpoint::check_writable(&path).map_err(|why| format!("--checkpoint {shown}: {why}"))?;
    if !cfg.resume {
        if path.exists() {
            return Err(format!(
                "--checkpoint {shown} already exists: pass --resume to continue that run, \
                 or remove the file to start afresh"
            ));
        }
        return Ok(None);
    }
    if !path.exists() {
        return Err(format!("--resume: {shown} does not exist"));
    }
    let journal = checkpoint::load(&path)
        .map_err(|why| format!("--resume: {shown}: {why}; the file is left as it is"))?;
    if !cfg.chunk_given {
        cfg.chunk = journal.chunk;
    }
    journal
        .check_matches(cfg.min, cfg.max, cfg.chunk)
        .map_err(|why| {
            format!("--resume: {shown} does not match this run: {why}; the file is left as it is")
        })?;
    Ok(Some(journal))
}

fn usage_error(why: &str) -> ExitCode {
    say(&format!("supervisor: error: {why}"));
    ExitCode::from(exit::USAGE as u8)
}
