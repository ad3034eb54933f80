//! The command line: clap types, value parsers that refuse bad input with a
//! clear message, and their validation into the typed [`Config`] the rest of
//! the program uses. Nothing past this module sees a raw string.

use crate::audit::Policy;
use crate::fault::{Fault, Injection};
use crate::hosts::{self, DEFAULT_LAUNCHER, DEFAULT_REMOTE_WORKER, Host, LOCALHOST, Template};
use crate::sigma::MAX_SUPPORTED;
use crate::slurm::{self, Allocation};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Exit statuses, a contract with users' scripts.
pub mod exit {
    /// Complete, and Σσ verified.
    pub const OK: i32 = 0;
    /// Internal error, the Σσ self-check failed, or the summary could not
    /// be written.
    pub const FAILED: i32 = 1;
    /// Usage error.
    pub const USAGE: i32 = 2;
    /// Incomplete: some ranges could not be checked.
    pub const INCOMPLETE: i32 = 3;
    /// Restart intensity exceeded, or every host is down: the run was
    /// stopped.
    pub const RESTARTS: i32 = 4;
    /// Stopped by SIGINT (128 + 2).
    pub const SIGINT: i32 = 130;
    /// Stopped by SIGTERM (128 + 15).
    pub const SIGTERM: i32 = 143;
    /// Stopped by SIGHUP (128 + 1): the terminal or session went away.
    pub const SIGHUP: i32 = 129;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  complete, and Σσ verified against Σ d·⌊N/d⌋
  1  internal error, the Σσ self-check failed, or the summary could not be written
  2  usage error
  3  incomplete: some ranges could not be checked (quarantined)
  4  restart intensity exceeded, or every host is down: the run was stopped
  130, 143  stopped by SIGINT, SIGTERM (partial summary printed)";

/// Check every integer in [MIN, MAX] for being perfect, on worker processes.
#[derive(Debug, Parser)]
#[command(name = "supervisor", version, after_help = EXIT_CODES)]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the same job and the same faults on worker threads and on worker
    /// processes, side by side, and print what each fault did to each
    Isolation(IsolationArgs),
    /// Draw a run from its --events file as an SVG picture: a lane per
    /// worker slot, chunks as bars, stalls, kills and deaths marked
    Timeline(TimelineArgs),
    /// Serve the worker protocol on stdin/stdout (the spawn start method
    /// re-executes this program in this role).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// Where workers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Worker processes, each with its own memory (killable, limitable).
    Processes,
    /// Worker threads inside the supervisor's process, for comparison.
    Threads,
}

impl Mode {
    /// The name used in output and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Processes => "processes",
            Mode::Threads => "threads",
        }
    }
}

/// `supervisor isolation`'s arguments.
#[derive(Debug, Args)]
pub struct IsolationArgs {
    /// Check up to this number in every experiment
    #[arg(long, value_name = "M", default_value = "20000000", value_parser = parse_positive, allow_hyphen_values = true)]
    pub max: u64,
    /// Workers per experiment
    #[arg(long, value_name = "N", default_value = "2", value_parser = parse_procs, allow_hyphen_values = true)]
    pub procs: usize,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

/// `supervisor timeline`'s arguments.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The run's --events file (JSON lines)
    #[arg(value_name = "EVENTS")]
    pub events: PathBuf,
    /// Where to write the SVG [default: EVENTS with the extension .svg; - for stdout]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// How worker processes are started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StartMethod {
    /// fork(2): the child runs the worker loop in a copy of this process.
    Fork,
    /// Execute this program again in its worker role: a fresh address space.
    Spawn,
}

impl StartMethod {
    /// The name used in output and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Worker processes [default: the CPUs available] (1 to 1024)
    #[arg(long, value_name = "N", value_parser = parse_procs, allow_hyphen_values = true)]
    pub procs: Option<usize>,

    /// Check up to this number (required)
    #[arg(long, value_name = "M", required = true, value_parser = parse_positive, allow_hyphen_values = true)]
    pub max: Option<u64>,

    /// Check from this number
    #[arg(long, value_name = "A", default_value = "1", value_parser = parse_positive, allow_hyphen_values = true)]
    pub min: u64,

    /// Workers are processes, or (for comparison) threads of one process
    #[arg(long, value_enum, default_value_t = Mode::Processes)]
    pub mode: Mode,

    /// How worker processes are started
    #[arg(long, value_enum, default_value_t = StartMethod::Fork)]
    pub start_method: StartMethod,

    /// Limit each worker process's address space (e.g. 256MiB): a leak then
    /// kills only that worker (processes only)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub worker_mem: Option<u64>,

    /// Numbers per chunk [default: about 4 chunks per worker, 2^14 to 2^22]
    #[arg(long, value_name = "K", value_parser = parse_positive, allow_hyphen_values = true)]
    pub chunk: Option<u64>,

    /// Print one JSON object on stdout instead of the text summary
    #[arg(long)]
    pub json: bool,

    /// Print no event lines on stderr
    #[arg(long, short)]
    pub quiet: bool,

    /// How often a busy worker reports progress
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub heartbeat: Duration,

    /// A busy worker silent this long is stuck: it is killed and replaced
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub stall_timeout: Duration,

    /// Worker deaths a chunk may cause before it is split in halves
    #[arg(long, value_name = "N", default_value = "3", value_parser = parse_positive, allow_hyphen_values = true)]
    pub max_attempts: u64,

    /// A piece that still kills workers at this size or less is quarantined
    #[arg(long, value_name = "N", default_value = "1000", value_parser = parse_positive, allow_hyphen_values = true)]
    pub quarantine_min: u64,

    /// More restarts than this within --restart-window stops the run (exit 4)
    #[arg(long, value_name = "N", default_value = "20", value_parser = parse_count, allow_hyphen_values = true)]
    pub max_restarts: u64,

    /// The window for --max-restarts
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub restart_window: Duration,

    /// After SIGINT/SIGTERM, how long workers get before SIGKILL
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub grace: Duration,

    /// Also write every event as a JSON line to FILE
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,

    /// Inject a fault (repeatable): KIND:SLOT fires once in the next worker
    /// of that slot (KIND: hang, stop, abort, segv, exit, garbage, oversize,
    /// panic, scribble, leak, deadlock, uninterruptible);
    /// crash-at:N makes every process that reaches N abort
    #[arg(long, value_name = "SPEC")]
    pub inject: Vec<Injection>,

    /// Keep a journal of finished chunks in FILE (atomically replaced), so
    /// the run can be resumed with --resume
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// How often the journal is written (and at every stop)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub checkpoint_every: Duration,

    /// Continue the run recorded in the --checkpoint journal
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,

    /// The live view on stderr: auto (only on a terminal), always, never
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,

    /// Run workers on these hosts: host[:slots],... (slots default to 1;
    /// `localhost` runs here without a launcher; replaces --procs); or
    /// `slurm`: every CPU of the Slurm allocation this run is in, each
    /// worker a job step of its own
    #[arg(long, value_name = "LIST", value_parser = parse_hosts, conflicts_with_all = ["procs", "hostfile"])]
    pub hosts: Option<HostList>,

    /// Like --hosts, from FILE: one host[:slots] a line, # comments
    #[arg(long, value_name = "FILE", conflicts_with = "procs")]
    pub hostfile: Option<PathBuf>,

    /// How a worker is started on a remote host: {host} is the host,
    /// {worker} the worker program (a word of its own); split into words
    /// without a shell [default: ssh -o BatchMode=yes -T {host} {worker};
    /// with --hosts slurm: srun --overlap -u --mpi=none -N1 -n1 -w {host}
    /// {worker}]
    #[arg(long, value_name = "TEMPLATE", value_parser = Template::parse)]
    pub launcher: Option<Template>,

    /// The worker program on remote hosts (found on their PATH; with --hosts
    /// slurm, the one beside this program, as clusters share their file
    /// system) [default: supervisor-worker]
    #[arg(long, value_name = "PATH", value_parser = parse_remote_worker)]
    pub remote_worker: Option<String>,

    /// A remote host whose workers fail this many times in a row (no chunk
    /// finished in between) is marked down; the run goes on without it
    #[arg(long, value_name = "N", default_value = "3", value_parser = parse_positive, allow_hyphen_values = true)]
    pub host_retries: u64,

    /// How long a remote worker gets to say Hello (connecting, logging in,
    /// or waiting for a batch scheduler's allocation), if longer than
    /// --stall-timeout
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Recompute the first N chunks each host returns on another worker
    /// (another host when one is up) and compare the whole result
    /// [default: 2 for remote hosts, 0 for localhost]
    #[arg(long, value_name = "N", value_parser = parse_count, allow_hyphen_values = true)]
    pub verify_first: Option<u64>,

    /// Recompute this fraction of the other chunks, picked at random
    /// (0 to 1; 1 double-checks everything) [default: 0.05 for remote
    /// hosts, 0 for localhost]
    #[arg(long, value_name = "P", value_parser = parse_fraction, allow_hyphen_values = true)]
    pub verify_sample: Option<f64>,
}

/// `--hosts`'s value: one argument, a list of hosts, or `slurm`.
#[derive(Clone, Debug)]
pub enum HostList {
    Hosts(Vec<Host>),
    /// The nodes of the Slurm allocation this run is in (read from the
    /// environment by [`Config::from_args`]). A host named `slurm` is
    /// written `slurm:1`.
    Slurm,
}

fn parse_hosts(s: &str) -> Result<HostList, String> {
    if s == "slurm" {
        return Ok(HostList::Slurm);
    }
    hosts::parse_hosts(s).map(HostList::Hosts)
}

/// `--remote-worker`'s value parser.
fn parse_remote_worker(s: &str) -> Result<String, String> {
    hosts::check_remote_worker(s).map(|()| s.to_string())
}

/// When the live view is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// Only when stderr is a terminal.
    Auto,
    Always,
    Never,
}

/// The hidden worker role's arguments. The run's settings are not among
/// them: they come in the protocol's Setup frame, after the Hello, so a
/// worker of any version gets as far as saying which version it is.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The supervisor's pid: exit at once if it is not our parent any more
    #[arg(long)]
    pub parent: Option<i32>,
}

/// A validated run: everything the supervisor needs, typed.
#[derive(Clone, Debug)]
pub struct Config {
    pub min: u64,
    pub max: u64,
    pub procs: usize,
    pub mode: Mode,
    pub start_method: StartMethod,
    pub worker_mem: Option<u64>,
    pub chunk: u64,
    pub json: bool,
    pub quiet: bool,
    pub heartbeat: Duration,
    pub stall_timeout: Duration,
    pub max_attempts: u32,
    pub quarantine_min: u64,
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub grace: Duration,
    pub events: Option<PathBuf>,
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_every: Duration,
    pub resume: bool,
    /// Whether `--chunk` was given (a resumed run otherwise takes the
    /// journal's chunk size).
    pub chunk_given: bool,
    /// Whether to draw the live view.
    pub progress: bool,
    /// Per slot, the faults its next processes inject, in order.
    pub faults: Vec<Vec<Fault>>,
    pub crash_at: Option<u64>,
    /// Where the slots are, in slot order (without --hosts, `localhost`
    /// with every slot).
    pub hosts: Vec<Host>,
    /// The Slurm allocation the hosts are, with `--hosts slurm`.
    pub slurm: Option<Allocation>,
    pub launcher: Template,
    pub remote_worker: String,
    pub host_retries: u32,
    pub connect_timeout: Duration,
    /// Per host (in `hosts` order), how much of its work is double-checked.
    pub verify: Vec<Policy>,
}

/// The most worker processes a run may have.
pub const MAX_PROCS: usize = 1024;

impl Config {
    /// Validates what clap parsed; the error is one line for the user.
    pub fn from_args(args: RunArgs) -> Result<Config, String> {
        let max = args.max.ok_or("--max is required")?;
        if max > MAX_SUPPORTED {
            return Err(format!(
                "--max {max} is past the supported bound {MAX_SUPPORTED} (10^13)"
            ));
        }
        if args.min > max {
            return Err(format!("--min {} is greater than --max {max}", args.min));
        }
        let slurm = match args.hosts {
            Some(HostList::Slurm) => Some(slurm::from_env(|name| std::env::var(name).ok())?),
            _ => None,
        };
        let hosts = match (args.hosts, &args.hostfile) {
            (Some(HostList::Slurm), _) => slurm.as_ref().expect("read above").hosts.clone(),
            (Some(HostList::Hosts(hosts)), _) => hosts,
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--hostfile {}: {e}", path.display()))?;
                hosts::parse_hostfile(&text)
                    .map_err(|why| format!("--hostfile {}: {why}", path.display()))?
            }
            (None, None) => vec![Host {
                name: LOCALHOST.to_string(),
                slots: match args.procs {
                    Some(n) => n,
                    None => {
                        std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PROCS))
                    }
                },
            }],
        };
        let procs: usize = hosts.iter().map(|h| h.slots).sum();
        let remote = hosts.iter().any(|h| !h.is_local());
        if remote && args.mode == Mode::Threads {
            return Err("remote hosts run worker processes; --mode threads needs \
                        --hosts localhost or no --hosts"
                .to_string());
        }
        let launcher = match args.launcher {
            Some(launcher) => launcher,
            None if slurm.is_some() => Template::parse(slurm::LAUNCHER).expect("a valid template"),
            None => Template::parse(DEFAULT_LAUNCHER).expect("a valid template"),
        };
        if remote && !on_path(launcher.program()) {
            return Err(format!(
                "--launcher: the program '{}' is not found",
                launcher.program()
            ));
        }
        let remote_worker = match args.remote_worker {
            Some(path) => path,
            None if slurm.is_some() => worker_beside_this_program()?,
            None => DEFAULT_REMOTE_WORKER.to_string(),
        };
        let numbers = max - args.min + 1;
        let chunk = args
            .chunk
            .unwrap_or_else(|| default_chunk(numbers, procs))
            .min(numbers);
        let mut faults = vec![Vec::new(); procs];
        let mut crash_at = None;
        for injection in &args.inject {
            match *injection {
                Injection::Once { fault, slot } if slot < procs => faults[slot].push(fault),
                Injection::Once { slot, .. } => {
                    return Err(format!(
                        "--inject: slot {slot} does not exist (slots are 0 to {})",
                        procs - 1
                    ));
                }
                Injection::CrashAt(n) => crash_at = Some(n),
            }
        }
        if args.start_method == StartMethod::Spawn && args.mode == Mode::Threads {
            return Err("--start-method spawn starts worker processes; threads are \
                 started inside this one, so it needs --mode processes"
                .to_string());
        }
        if args.worker_mem.is_some() && args.mode == Mode::Threads {
            return Err("--worker-mem limits each worker process's address space; \
                 threads share one, so it needs --mode processes"
                .to_string());
        }
        if args.heartbeat >= args.stall_timeout {
            return Err(format!(
                "--heartbeat {} must be shorter than --stall-timeout {}: a healthy worker \
                 says something every heartbeat",
                humantime::format_duration(args.heartbeat),
                humantime::format_duration(args.stall_timeout)
            ));
        }
        let max_attempts = u32::try_from(args.max_attempts)
            .map_err(|_| "--max-attempts is too large".to_string())?;
        let max_restarts = u32::try_from(args.max_restarts)
            .map_err(|_| "--max-restarts is too large".to_string())?;
        let host_retries = u32::try_from(args.host_retries)
            .map_err(|_| "--host-retries is too large".to_string())?;
        Ok(Config {
            min: args.min,
            max,
            procs,
            mode: args.mode,
            start_method: args.start_method,
            worker_mem: args.worker_mem,
            chunk,
            json: args.json,
            quiet: args.quiet,
            heartbeat: args.heartbeat,
            stall_timeout: args.stall_timeout,
            max_attempts,
            quarantine_min: args.quarantine_min,
            max_restarts,
            restart_window: args.restart_window,
            grace: args.grace,
            events: args.events,
            checkpoint: args.checkpoint,
            checkpoint_every: args.checkpoint_every,
            resume: args.resume,
            chunk_given: args.chunk.is_some(),
            progress: match args.progress {
                Progress::Always => true,
                Progress::Never => false,
                Progress::Auto => std::io::IsTerminal::is_terminal(&std::io::stderr()),
            },
            faults,
            crash_at,
            slurm,
            launcher,
            remote_worker,
            host_retries,
            connect_timeout: args.connect_timeout,
            verify: hosts
                .iter()
                .map(|h| {
                    let default = Policy::default_for(h.is_local());
                    Policy {
                        first: args.verify_first.unwrap_or(default.first),
                        sample: args.verify_sample.unwrap_or(default.sample),
                    }
                })
                .collect(),
            hosts,
        })
    }

    /// How many numbers the run covers.
    pub fn numbers(&self) -> u64 {
        self.max - self.min + 1
    }
}

/// The `supervisor-worker` program in the folder of the running program
/// (with `--hosts slurm`, whose nodes share the file system).
fn worker_beside_this_program() -> Result<String, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("--hosts slurm: cannot tell where this program is ({e})"))?;
    let worker = exe.with_file_name("supervisor-worker");
    let shown = worker.display();
    if !is_executable(&worker) {
        return Err(format!(
            "--hosts slurm: the worker program {shown} is not there (build it, \
             or name one with --remote-worker)"
        ));
    }
    let path = worker
        .to_str()
        .ok_or_else(|| format!("--hosts slurm: the path {shown} is not UTF-8"))?;
    hosts::check_remote_worker(path).map_err(|why| {
        format!("--hosts slurm: the worker program beside this one: {why}; use --remote-worker")
    })?;
    Ok(path.to_string())
}

/// Whether `path` is an executable file.
fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `program` can be executed: a path to an executable file, or a
/// name found in one of the `PATH` directories.
fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return is_executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
    })
}

/// The default chunk: about four chunks per worker so fast workers can take
/// more, at most 2^22 numbers (tens of milliseconds for the kernel at about
/// 10^8 numbers/s) and at least 2^14 (so frames stay rare).
pub fn default_chunk(numbers: u64, procs: usize) -> u64 {
    numbers.div_ceil(4 * procs as u64).clamp(1 << 14, 1 << 22)
}

/// How a count may be written, for error messages.
const COUNT_FORMS: &str = "e.g. 30000000, 30_000_000, 3e7 or 10^13";

/// A count as a user may write it: digits (`30000000`, with `_` between
/// them as in Rust: `30_000_000`), scientific notation with an exact value
/// (`3e7`, `2.5e6`), or a power (`10^13`). Anything that is not a whole
/// number (`1.5e0`) is refused.
pub fn parse_number(s: &str) -> Result<u64, String> {
    let not_a_count = || format!("'{s}' is not a whole number ({COUNT_FORMS})");
    let too_large = || format!("'{s}' is too large");
    let t = s.trim();
    let digits = |part: &str| -> Option<String> {
        let cleaned: String = part.chars().filter(|&c| c != '_').collect();
        let ok = !cleaned.is_empty()
            && cleaned.bytes().all(|b| b.is_ascii_digit())
            && !part.starts_with('_')
            && !part.ends_with('_');
        ok.then_some(cleaned)
    };
    // u128 holds any u64 times any power of ten we accept before checking.
    let to_u64 = |n: u128| u64::try_from(n).map_err(|_| too_large());
    if let Some((base, power)) = t.split_once('^') {
        let (Some(base), Some(power)) = (digits(base), digits(power)) else {
            return Err(not_a_count());
        };
        let base: u64 = base.parse().map_err(|_| too_large())?;
        let power: u32 = power.parse().map_err(|_| too_large())?;
        return base.checked_pow(power).ok_or_else(too_large);
    }
    let (mantissa, exponent) = match t.split_once(['e', 'E']) {
        Some((m, e)) => {
            let e = e.strip_prefix('+').unwrap_or(e);
            let e = digits(e).ok_or_else(not_a_count)?;
            (m, e.parse::<u32>().map_err(|_| too_large())?)
        }
        None => (t, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let whole = digits(whole).ok_or_else(not_a_count)?;
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        digits(fraction).ok_or_else(not_a_count)?
    };
    // The value is (whole.fraction) × 10^exponent: a whole number only if
    // the fraction's digits past the exponent are zeros.
    let shift = fraction.len() as u32;
    let scaled: u128 = format!("{whole}{fraction}")
        .parse()
        .map_err(|_| too_large())?;
    if exponent >= shift {
        let ten = 10u128.checked_pow(exponent - shift).ok_or_else(too_large)?;
        to_u64(scaled.checked_mul(ten).ok_or_else(too_large)?)
    } else {
        let ten = 10u128.checked_pow(shift - exponent).ok_or_else(too_large)?;
        if !scaled.is_multiple_of(ten) {
            return Err(format!("'{s}' is not a whole number"));
        }
        to_u64(scaled / ten)
    }
}

/// A positive count ([`parse_number`]), at least 1.
pub fn parse_positive(s: &str) -> Result<u64, String> {
    if s.trim_start().starts_with('-') {
        return Err(format!("'{s}' is not a positive integer ({COUNT_FORMS})"));
    }
    match parse_number(s)? {
        0 => Err("must be at least 1".to_string()),
        n => Ok(n),
    }
}

/// A count that may be zero ([`parse_number`]).
fn parse_count(s: &str) -> Result<u64, String> {
    if s.trim_start().starts_with('-') {
        return Err(format!("'{s}' is not a count ({COUNT_FORMS})"));
    }
    parse_number(s)
}

/// `--verify-sample`: a fraction from 0 to 1.
fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "'{s}' is not a fraction from 0 to 1 (such as 0.05)"
        )),
    }
}

/// `--procs`: 1 to [`MAX_PROCS`].
fn parse_procs(s: &str) -> Result<usize, String> {
    let n = parse_positive(s)?;
    if n > MAX_PROCS as u64 {
        return Err(format!("at most {MAX_PROCS} worker processes"));
    }
    Ok(n as usize)
}

/// A size in bytes: `268435456`, `256MiB`, `1GiB`, `512M`, `64k`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 256MiB or 1GiB"))?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("'{s}' is not a size like 256MiB or 1GiB")),
    };
    match n.checked_mul(scale) {
        Some(0) => Err("must be more than zero".to_string()),
        Some(bytes) if bytes < 16 << 20 => {
            Err(format!("'{s}' is too small for a worker (at least 16MiB)"))
        }
        Some(bytes) => Ok(bytes),
        None => Err(format!("'{s}' is too large")),
    }
}

/// The longest duration any flag takes: 30 days. Every deadline the run
/// computes from a flag then fits in a clock with room to spare.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A duration in humantime style (`500ms`, `2s`, `1m`), more than zero and
/// at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 500ms, 2s or 1m ({e})"))?;
    if d.is_zero() {
        return Err("must be more than zero".to_string());
    }
    if d > MAX_DURATION {
        return Err(format!("'{s}' is longer than the most allowed, 30days"));
    }
    Ok(d)
}

/// Turns a clap error into the one line a usage error prints.
pub fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let body = text
        .split("\n\nUsage:")
        .next()
        .unwrap_or(&text)
        .split("\n\nFor more information")
        .next()
        .unwrap_or(&text);
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("supervisor").chain(args.iter().copied()))
            .map_err(|e| one_line(&e))?;
        Config::from_args(cli.run)
    }

    #[test]
    fn good_arguments() {
        let c = config(&["--procs", "8", "--max", "30000000"]).unwrap();
        assert_eq!((c.procs, c.min, c.max), (8, 1, 30_000_000));
        assert_eq!(c.start_method, StartMethod::Fork);
        let c = config(&["--max", "100", "--min", "100", "--start-method", "spawn"]).unwrap();
        assert_eq!(
            (c.min, c.max, c.start_method),
            (100, 100, StartMethod::Spawn)
        );
        assert!(config(&["--max", "10000000000000"]).is_ok());
        let c = config(&[
            "--max",
            "100",
            "--procs",
            "2",
            "--inject",
            "abort:1",
            "--inject",
            "hang:1",
            "--inject",
            "crash-at:50",
            "--stall-timeout",
            "500ms",
        ])
        .unwrap();
        assert_eq!(c.faults, vec![vec![], vec![Fault::Abort, Fault::Hang]]);
        assert_eq!(c.crash_at, Some(50));
        assert_eq!(c.stall_timeout, Duration::from_millis(500));
    }

    #[test]
    fn double_checks_default_per_host_and_flags_apply_to_every_host() {
        let c = config(&["--max", "5", "--hosts", "localhost:1,node1:2"]).unwrap();
        assert_eq!(
            c.verify,
            [Policy::default_for(true), Policy::default_for(false)]
        );
        assert_eq!(c.verify[1].first, 2);
        assert_eq!(c.verify[1].sample, 0.05);
        let c = config(&[
            "--max",
            "5",
            "--hosts",
            "localhost:1,node1:2",
            "--verify-sample",
            "1",
            "--verify-first",
            "0",
        ])
        .unwrap();
        let all = Policy {
            first: 0,
            sample: 1.0,
        };
        assert_eq!(c.verify, [all, all]);
        assert_eq!(config(&["--max", "5"]).unwrap().verify.len(), 1);
    }

    #[test]
    fn bad_arguments_are_one_clear_line() {
        for (args, needle) in [
            (&["--procs", "0", "--max", "5"][..], "at least 1"),
            (&["--procs", "abc", "--max", "5"], "not a whole number"),
            (&["--procs", "100000", "--max", "5"], "at most 1024"),
            (&["--max", "0"], "at least 1"),
            (&["--max", "-5"], "not a positive integer"),
            (&["--max", "1.5e0"], "not a whole number"),
            (&["--max", "3e"], "not a whole number"),
            (&["--max", "abc"], "not a whole number"),
            (&["--max", "10^30"], "too large"),
            (&["--max", "1e30"], "too large"),
            (&["--procs", "1e9", "--max", "5"], "at most 1024"),
            (&["--min", "10", "--max", "5"], "greater than"),
            (
                &["--max", "10000000000001"],
                "supported bound 10000000000000",
            ),
            (&["--max", "5", "--start-method", "vfork"], "vfork"),
            (&["--max", "5", "--chunk", "0"], "at least 1"),
            (&["--max", "5", "--bogus"], "--bogus"),
            (&[], "--max"),
            (&["--max", "5", "--heartbeat", "soon"], "not a duration"),
            (&["--max", "5", "--stall-timeout", "soon"], "not a duration"),
            (&["--max", "5", "--stall-timeout", "0s"], "more than zero"),
            (&["--max", "5", "--max-attempts", "0"], "at least 1"),
            (
                &["--max", "5", "--mode", "threads", "--start-method", "spawn"],
                "needs --mode processes",
            ),
            (
                &["--max", "5", "--mode", "threads", "--worker-mem", "64MiB"],
                "needs --mode processes",
            ),
            (&["--max", "5", "--inject", "nonsense"], "nonsense"),
            (&["--max", "5", "--inject", "hang"], "KIND:SLOT"),
            (&["--max", "5", "--inject", "boom:0"], "unknown fault"),
            (
                &["--max", "5", "--verify-sample", "1.5"],
                "fraction from 0 to 1",
            ),
            (
                &["--max", "5", "--verify-sample", "-0.1"],
                "fraction from 0 to 1",
            ),
            (
                &["--max", "5", "--verify-sample", "nan"],
                "fraction from 0 to 1",
            ),
            (
                &["--max", "5", "--verify-sample", "5%"],
                "fraction from 0 to 1",
            ),
            (&["--max", "5", "--verify-first", "-1"], "not a count"),
            (
                &["--max", "5", "--verify-first", "many"],
                "not a whole number",
            ),
            (
                &["--max", "5", "--procs", "2", "--inject", "hang:2"],
                "slot 2 does not exist",
            ),
        ] {
            let err = config(args).unwrap_err();
            assert!(!err.contains('\n'), "{args:?}: {err}");
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn hosts_and_launchers() {
        let c = config(&["--max", "100"]).unwrap();
        assert_eq!(c.hosts.len(), 1);
        assert!(c.hosts[0].is_local() && c.hosts[0].slots == c.procs);
        let c = config(&["--max", "100", "--hosts", "localhost:2,127.0.0.1:3"]).unwrap();
        assert_eq!((c.procs, c.hosts.len(), c.host_retries), (5, 2, 3));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts");
        std::fs::write(&file, "# two\nlocalhost:1\n10.0.0.2:4\n").unwrap();
        let c = config(&["--max", "100", "--hostfile", file.to_str().unwrap()]).unwrap();
        assert_eq!(c.procs, 5);
        let c = config(&[
            "--max",
            "100",
            "--hosts",
            "n1",
            "--launcher",
            "ssh -p 2222 {host} {worker}",
            "--remote-worker",
            "~/bin/supervisor-worker",
            "--host-retries",
            "5",
            "--connect-timeout",
            "2m",
        ])
        .unwrap();
        assert_eq!(c.remote_worker, "~/bin/supervisor-worker");
        assert_eq!(c.host_retries, 5);
        assert_eq!(c.connect_timeout, Duration::from_secs(120));
        assert_eq!(c.launcher.program(), "ssh");
        // A host named slurm, not the allocation (`--hosts slurm` reads the
        // environment: tested in tests/slurm.rs with one of its own).
        let c = config(&["--max", "100", "--hosts", "slurm:2"]).unwrap();
        assert_eq!((c.hosts[0].name.as_str(), c.procs), ("slurm", 2));
        assert!(c.slurm.is_none());
        assert_eq!(c.remote_worker, DEFAULT_REMOTE_WORKER);
    }

    #[test]
    fn bad_hosts_and_launchers_are_one_clear_line() {
        let missing = "/nonexistent/hostfile";
        for (args, needle) in [
            (&["--max", "5", "--hosts", "a;b"][..], "not a host name"),
            (
                &["--max", "5", "--hosts", "n1", "--procs", "2"],
                "cannot be used with",
            ),
            (
                &["--max", "5", "--hosts", "n1", "--hostfile", "f"],
                "cannot be used with",
            ),
            (
                &["--max", "5", "--hostfile", missing],
                "--hostfile /nonexistent/hostfile",
            ),
            (
                &["--max", "5", "--hosts", "n1", "--launcher", "ssh {host}"],
                "{worker}",
            ),
            (
                &[
                    "--max",
                    "5",
                    "--hosts",
                    "n1",
                    "--launcher",
                    "no-such-program-x {worker}",
                ],
                "'no-such-program-x' is not found",
            ),
            (
                &["--max", "5", "--hosts", "n1", "--remote-worker", "w;x"],
                "not allowed",
            ),
            (
                &["--max", "5", "--hosts", "n1", "--host-retries", "0"],
                "at least 1",
            ),
            (
                &["--max", "5", "--hosts", "n1", "--mode", "threads"],
                "worker processes",
            ),
            (
                &["--max", "5", "--hosts", "n1:2", "--inject", "hang:2"],
                "slot 2",
            ),
        ] {
            let err = config(args).unwrap_err();
            assert!(!err.contains('\n'), "{args:?}: {err}");
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn counts_are_written_as_people_write_them() {
        for (text, n) in [
            ("30000000", 30_000_000),
            ("30_000_000", 30_000_000),
            ("3e7", 30_000_000),
            ("3E7", 30_000_000),
            ("3e+7", 30_000_000),
            ("2.5e6", 2_500_000),
            ("10^13", 10_000_000_000_000),
            ("2^10", 1024),
            ("1e0", 1),
            ("1.0", 1),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_number(text), Ok(n), "{text}");
        }
        for (text, needle) in [
            ("1.5e0", "not a whole number"),
            ("1.5", "not a whole number"),
            ("", "not a whole number"),
            ("_1", "not a whole number"),
            ("1_", "not a whole number"),
            ("e7", "not a whole number"),
            ("1e", "not a whole number"),
            ("^2", "not a whole number"),
            ("0x10", "not a whole number"),
            ("1e-3", "not a whole number"),
            ("18446744073709551616", "too large"),
            ("2^64", "too large"),
            ("1e20", "too large"),
        ] {
            let err = parse_number(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        for flag in ["--max", "--min", "--chunk", "--quarantine-min"] {
            let mut args = vec!["--max", "3e7", flag, "1e3"];
            if flag == "--max" {
                args = vec!["--max", "10^13"];
            }
            assert!(config(&args).is_ok(), "{args:?}");
        }
        let c = config(&["--max", "3e7", "--procs", "2^3", "--max-restarts", "0"]).unwrap();
        assert_eq!((c.max, c.procs, c.max_restarts), (30_000_000, 8, 0));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("33554432"), Ok(32 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    #[test]
    fn default_chunk_is_bounded() {
        assert_eq!(default_chunk(30_000_000, 8), 937_500);
        assert_eq!(default_chunk(100, 8), 1 << 14);
        assert_eq!(default_chunk(1_000_000_000_000, 2), 1 << 22);
    }
}
