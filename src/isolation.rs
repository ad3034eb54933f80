//! `supervisor isolation`: the reason this program uses processes, shown
//! rather than claimed. The same job and the same faults run once on worker
//! threads in one process and once on worker processes; each experiment is
//! a child process of the demo (this program run again), so the demo
//! survives the crash it demonstrates and can report the signal that ended
//! it. One table, and exit 0 when every cell behaved as the model predicts.

use crate::cli::IsolationArgs;
use crate::fault::Fault;
use crate::sigma::MAX_SUPPORTED;
use crate::stdio::{self, say};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The faults of the table, in order; `None` is the clean run.
const FAULTS: [Option<Fault>; 8] = [
    None,
    Some(Fault::Hang),
    Some(Fault::Panic),
    Some(Fault::Abort),
    Some(Fault::Segv),
    Some(Fault::Exit),
    Some(Fault::Scribble),
    Some(Fault::Leak),
];

/// The address-space limit a worker process gets in the leak experiment.
const WORKER_MEM: &str = "256MiB";

/// The address-space limit the whole thread-mode process gets from outside
/// in the leak experiment, so the demonstration cannot take the machine down.
const THREADS_MEM: u64 = 512 << 20;

/// One experiment's outcome: a JSON row, and a cell of the table.
#[derive(Debug, Serialize)]
pub struct Row {
    pub fault: &'static str,
    pub mode: &'static str,
    pub completed: bool,
    pub correct: bool,
    pub exit: Option<i32>,
    pub signal: Option<String>,
    pub lost_numbers: u64,
    pub elapsed_s: f64,
    /// When the run recovered from the fault: from the fault (the start of
    /// the silence for a stall, the death's detection otherwise) to the
    /// moment its chunk was back in the queue and a new worker held its
    /// slot, whichever worker then finished the chunk.
    pub recovery_ms: Option<f64>,
    /// Stuck threads left running (a thread cannot be killed).
    pub abandoned: u64,
    /// Workers the supervisor killed (stuck ones).
    pub killed: u64,
    pub note: String,
    /// Whether the cell behaved as the model predicts.
    pub as_predicted: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    max: u64,
    procs: usize,
    rows: &'a [Row],
    as_predicted: bool,
}

/// Runs every experiment, prints the table (or JSON); 0 when every cell
/// behaved as predicted, 1 otherwise, 2 for a bad argument.
pub fn run(args: &IsolationArgs) -> i32 {
    if args.max > MAX_SUPPORTED {
        say(&format!(
            "supervisor isolation: error: --max {} is past the supported bound \
             {MAX_SUPPORTED} (10^13); try 'supervisor isolation --help'",
            args.max
        ));
        return crate::cli::exit::USAGE;
    }
    let reference = experiment(args, "processes", None);
    let Some(reference_json) = reference.json.clone() else {
        say("supervisor isolation: the clean reference run failed");
        return 1;
    };
    let mut rows = Vec::new();
    for fault in FAULTS {
        for mode in ["threads", "processes"] {
            let run = if fault.is_none() && mode == "processes" {
                reference.clone()
            } else {
                experiment(args, mode, fault)
            };
            rows.push(judge(args, mode, fault, &run, &reference_json));
        }
    }
    let all = rows.iter().all(|r| r.as_predicted);
    let text = if args.json {
        let report = Report {
            max: args.max,
            procs: args.procs,
            rows: &rows,
            as_predicted: all,
        };
        serde_json::to_string(&report).expect("rows serialize") + "\n"
    } else {
        table(args, &rows)
    };
    if let Err(e) = stdio::print(&text) {
        say(&format!(
            "supervisor isolation: error: cannot write the table: {e}"
        ));
        return 1;
    }
    if all { 0 } else { 1 }
}

/// How an experiment's process ended: (exit code, signal).
type Status = (Option<i32>, Option<i32>);

/// What one experiment left behind.
#[derive(Clone, Debug)]
struct Experiment {
    status: Status,
    json: Option<Value>,
    elapsed_s: f64,
    /// What its `--events` file says.
    events: Seen,
}

/// What an experiment's event lines say about its fault.
#[derive(Clone, Debug, Default)]
struct Seen {
    /// Workers started before anything failed (all of them, unless the run
    /// failed for another reason than its fault).
    started_first: usize,
    /// The fault's effect was seen: a stall or a death.
    fired: bool,
    /// See [`Row::recovery_ms`].
    recovery_ms: Option<f64>,
}

/// Reads an experiment's event lines.
fn seen(events: &str) -> Seen {
    let events: Vec<Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let at = |name: &str| events.iter().position(|e| e["event"] == name);
    let t = |i: usize| events[i]["t"].as_f64().unwrap_or(0.0);
    let failure = [at("stalled"), at("died")].into_iter().flatten().min();
    let started_first = events[..failure.unwrap_or(events.len())]
        .iter()
        .filter(|e| e["event"] == "started")
        .count();
    let Some(failure) = failure else {
        return Seen {
            started_first,
            ..Seen::default()
        };
    };
    let onset = t(failure) - events[failure]["silent_s"].as_f64().unwrap_or(0.0);
    let after = |name: &str| {
        events[failure..]
            .iter()
            .find(|e| e["event"] == name)
            .and_then(|e| e["t"].as_f64())
    };
    let recovery_ms = match (after("requeued"), after("replaced")) {
        (Some(requeued), Some(replaced)) => Some((requeued.max(replaced) - onset) * 1e3),
        _ => None,
    };
    Seen {
        started_first,
        fired: true,
        recovery_ms,
    }
}

/// Runs one experiment as a child process of the demo.
fn experiment(args: &IsolationArgs, mode: &str, fault: Option<Fault>) -> Experiment {
    // A leaking worker sends nothing while it allocates: give it time to hit
    // its limit, so the row shows the limit at work and not a stall.
    let stall_timeout = if fault == Some(Fault::Leak) {
        "30s"
    } else {
        "500ms"
    };
    let events = tempfile::NamedTempFile::new().ok();
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(events) = &events {
        cmd.arg("--events").arg(events.path());
    }
    cmd.args(["--mode", mode, "--json", "--quiet"])
        .args(["--procs", &args.procs.to_string()])
        .args(["--max", &args.max.to_string()])
        .args(["--stall-timeout", stall_timeout, "--max-restarts", "1000"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        // A panic's backtrace, symbolized on a loaded machine, can outlast
        // the stall timeout and turn the panic cell into a stall cell.
        .env("RUST_BACKTRACE", "0");
    if let Some(f) = fault {
        cmd.args(["--inject", &format!("{f}:0")]);
    }
    if fault == Some(Fault::Leak) {
        if mode == "processes" {
            cmd.args(["--worker-mem", WORKER_MEM]);
        } else {
            // SAFETY: setrlimit is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    crate::worker::limit_memory(THREADS_MEM)?;
                    Ok(())
                });
            }
        }
    }
    let start = Instant::now();
    let output = cmd.output();
    let elapsed_s = start.elapsed().as_secs_f64();
    let events = events
        .and_then(|e| std::fs::read_to_string(e.path()).ok())
        .map(|text| seen(&text))
        .unwrap_or_default();
    match output {
        Ok(out) => Experiment {
            status: (out.status.code(), out.status.signal()),
            json: serde_json::from_slice::<Value>(&out.stdout).ok(),
            elapsed_s,
            events,
        },
        Err(e) => {
            say(&format!(
                "supervisor isolation: cannot run an experiment: {e}"
            ));
            Experiment {
                status: (None, None),
                json: None,
                elapsed_s,
                events,
            }
        }
    }
}

/// Turns an experiment's ending into a row, and checks it against the model,
/// for the reason the cell demonstrates: processes survive every fault
/// exactly (a hung one killed and replaced, a dying one replaced, a
/// scribble without effect); threads survive a hang (abandoning the
/// thread) and a panic (caught), lose the whole run on abort (SIGABRT),
/// segv (SIGSEGV), exit (status 7) and leak (SIGABRT, once every worker
/// had started), and finish wrong after a scribble.
fn judge(
    args: &IsolationArgs,
    mode: &'static str,
    fault: Option<Fault>,
    run: &Experiment,
    reference: &Value,
) -> Row {
    let (exit, signal) = run.status;
    let json = run.json.as_ref();
    let same = |key: &str| json.is_some_and(|j| j[key] == reference[key]);
    let correct = ["perfect", "abundant", "deficient", "sigma_sum", "checked"]
        .iter()
        .all(|k| same(k));
    let completed = exit == Some(0) && json.is_some_and(|j| j["complete"] == true);
    let checked = json.and_then(|j| j["checked"].as_u64()).unwrap_or(0);
    let signal_name = signal.map(|s| {
        nix::sys::signal::Signal::try_from(s)
            .map(|sig| sig.as_str().to_string())
            .unwrap_or_else(|_| s.to_string())
    });
    let abandoned = json.and_then(|j| j["abandoned"].as_u64()).unwrap_or(0);
    let restarts = json.and_then(|j| j["restarts"].as_u64()).unwrap_or(0);
    let stalls = json.and_then(|j| j["stalls"].as_u64()).unwrap_or(0);
    let killed = if mode == "processes" { stalls } else { 0 };
    let note = match (&signal_name, exit) {
        (Some(sig), _) => format!("the whole process was killed by {sig}: every result lost"),
        (None, Some(1)) if json.is_some() => {
            "shared tally corrupted: finished with wrong counts; the Σσ self-check caught it"
                .to_string()
        }
        (None, Some(0)) if abandoned > 0 => format!(
            "{abandoned} stuck thread abandoned (it cannot be killed; it spun until exit); \
             its chunk redone by another thread"
        ),
        (None, Some(0)) if killed > 0 => format!(
            "the stuck worker was killed (SIGKILL) and replaced; {restarts} restart(s), \
             chunk redone"
        ),
        (None, Some(0)) if restarts > 0 && mode == "threads" => {
            "panic caught at the thread boundary; chunk redone".to_string()
        }
        (None, Some(0)) if restarts > 0 => {
            format!("only that worker died and was replaced; {restarts} restart(s), chunk redone")
        }
        (None, Some(0)) if fault == Some(Fault::Scribble) => {
            "the stray write hit only that worker's own copy of the tally: no effect".to_string()
        }
        (None, Some(0)) => "clean".to_string(),
        (None, Some(code)) if json.is_none() => {
            format!("the whole process exited with {code}: every result lost")
        }
        (None, Some(code)) => format!("exit {code}"),
        (None, None) => "could not be run".to_string(),
    };
    let started_all = run.events.started_first >= args.procs;
    let fired = run.events.fired;
    let as_predicted = match (mode, fault) {
        (_, None) => completed && correct,
        ("threads", Some(Fault::Scribble)) => !correct && exit == Some(1),
        ("processes", Some(Fault::Scribble)) => completed && correct && restarts == 0,
        ("threads", Some(Fault::Hang)) => completed && correct && abandoned >= 1,
        ("threads", Some(Fault::Panic)) => completed && correct && fired && abandoned == 0,
        ("processes", Some(Fault::Hang)) => completed && correct && killed >= 1,
        ("processes", Some(_)) => completed && correct && fired && restarts >= 1 && killed == 0,
        (_, Some(f)) => {
            let expected = match f {
                Fault::Exit => (Some(7), None),
                Fault::Segv => (None, Some("SIGSEGV")),
                _ => (None, Some("SIGABRT")),
            };
            json.is_none()
                && started_all
                && (exit, signal_name.as_deref()) == (expected.0, expected.1)
        }
    };
    Row {
        fault: fault.map_or("none", Fault::name),
        mode,
        completed,
        correct,
        exit,
        signal: signal_name,
        lost_numbers: args.max - checked.min(args.max),
        elapsed_s: run.elapsed_s,
        recovery_ms: if completed {
            run.events.recovery_ms
        } else {
            None
        },
        abandoned,
        killed,
        note,
        as_predicted,
    }
}

/// The table for a person, and what it shows.
fn table(args: &IsolationArgs, rows: &[Row]) -> String {
    let cell = |r: &Row| {
        let verdict = if r.completed && r.correct {
            "completed, exact".to_string()
        } else if r.completed || (r.exit == Some(1) && r.lost_numbers == 0) {
            "finished WRONG (exit 1)".to_string()
        } else if let Some(sig) = &r.signal {
            format!("DIED ({sig}), {} numbers lost", r.lost_numbers)
        } else {
            let code = r.exit.map_or("?".to_string(), |c| c.to_string());
            format!("DIED (exit {code}), {} numbers lost", r.lost_numbers)
        };
        let mut cell = verdict;
        if r.abandoned > 0 {
            let _ = write!(
                cell,
                ", {} thread{} abandoned",
                r.abandoned,
                if r.abandoned == 1 { "" } else { "s" }
            );
        }
        if r.killed > 0 {
            cell.push_str(", killed and replaced");
        }
        if let Some(ms) = r.recovery_ms {
            let _ = write!(cell, ", recovered in {ms:.1} ms");
        }
        let _ = write!(cell, ", {:.2} s", r.elapsed_s);
        cell
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "The same job ([1, {}] on {} workers) and the same faults, on threads and on processes:\n",
        args.max, args.procs
    );
    let _ = writeln!(out, "| fault | threads | processes |");
    let _ = writeln!(out, "|---|---|---|");
    for pair in rows.chunks(2) {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            pair[0].fault,
            cell(&pair[0]),
            cell(&pair[1])
        );
    }
    let _ = writeln!(
        out,
        "\n\"recovered in\": from the fault (the start of a stuck worker's silence, or a \
         death's detection) until its chunk was back in the queue and a new worker held its \
         slot."
    );
    let _ = writeln!(out, "\nWhat happened:");
    for r in rows {
        let mark = if r.as_predicted { " " } else { "!" };
        let _ = writeln!(out, "{mark} {:8} {:9}: {}", r.fault, r.mode, r.note);
    }
    let none_threads = rows[0].elapsed_s;
    let none_processes = rows[1].elapsed_s;
    let _ = writeln!(
        out,
        "\nSeparate address spaces: a segfault, an abort or an exit in a thread ends the \
         whole process and every result in it, and a stray write from one thread corrupts \
         the tally all threads share (only the Σσ self-check notices); in a process the \
         same faults end or touch only that worker's own memory.\n\
         Killability: a stuck process is SIGKILLed and its slot gets a new one; a stuck \
         thread cannot be killed, only abandoned, spinning on a core until the process \
         exits.\n\
         Per-process limits: --worker-mem caps each worker process's address space, so a \
         leak kills one worker; threads have no per-thread limit, and the leak took the \
         whole process down.\n\
         The cost: the clean run took {none_processes:.2} s on processes against \
         {none_threads:.2} s on threads ({:+.1}%): process start-up and the pipes, measured \
         in one run here (whole-process wall time, including start-up).",
        (none_processes / none_threads - 1.0) * 100.0
    );
    let verdict = if rows.iter().all(|r| r.as_predicted) {
        "Every cell behaved as predicted."
    } else {
        "Cells marked ! did NOT behave as predicted."
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}
