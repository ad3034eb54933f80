//! The Slurm allocation a run is inside (`--hosts slurm`): its job id, its
//! nodes and the slots on each, read from the environment Slurm gives a job
//! (`SLURM_JOB_ID`, `SLURM_JOB_NODELIST`, `SLURM_JOB_CPUS_PER_NODE` or
//! `SLURM_TASKS_PER_NODE`), and the `srun` launcher that starts each worker
//! as a job step of its own. The hostlist and per-node count syntaxes are
//! expanded here, without running `scontrol`; like everything from outside,
//! they are checked, and a value that would expand to more than
//! [`MAX_SLOTS`] hosts or slots is refused before it is expanded.

use crate::hosts::{self, Host, MAX_SLOTS};
use serde::Serialize;

/// The default `--launcher` with `--hosts slurm`: one job step per worker.
/// `--overlap`: the step shares the allocation's CPUs with the other steps
/// (and with the batch step), so a new step never waits for one that was
/// just killed and still lingers in `squeue -s` for a couple of seconds.
/// `-u`: the task's stdout is passed on as it comes (without it slurmstepd
/// holds the binary Hello until a newline or 4 KiB, and no worker ever
/// connects). `--mpi=none`: no MPI plugin set-up for a program that does
/// not use MPI. No `--exact` and no `-c`: the step gets every CPU of the
/// allocation on its node, so wherever the site binds tasks, a worker is
/// never pinned to a CPU another worker is pinned to.
pub const LAUNCHER: &str = "srun --overlap -u --mpi=none -N1 -n1 -w {host} {worker}";

/// The allocation a run is inside, as the summary reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub job_id: u64,
    /// `SLURM_JOB_NODELIST` as Slurm wrote it (`node[01-04]`).
    pub nodelist: String,
    /// The nodes, expanded, in Slurm's order.
    pub nodes: Vec<String>,
    /// The variable the slots per node came from.
    pub slots_from: &'static str,
    /// The hosts the run uses: every node, with its slots.
    #[serde(skip)]
    pub hosts: Vec<Host>,
}

/// Reads the allocation from the environment through `var` (the process's
/// environment in the program, a table in the tests). The slots per node
/// are the CPUs Slurm gave the job there, or its tasks there when the user
/// asked for tasks (`-n`, which sets `SLURM_NTASKS`).
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Allocation, String> {
    let Some(job_id) = var("SLURM_JOB_ID") else {
        return Err(
            "--hosts slurm: not inside a Slurm allocation (SLURM_JOB_ID is not set); \
             run it under salloc or sbatch, or name hosts with --hosts"
                .to_string(),
        );
    };
    let job_id = job_id
        .parse::<u64>()
        .map_err(|_| format!("--hosts slurm: SLURM_JOB_ID '{job_id}' is not a job id"))?;
    let need = |name: &str| {
        var(name).ok_or_else(|| format!("--hosts slurm: {name} is not set in job {job_id}"))
    };
    let nodelist = need("SLURM_JOB_NODELIST")?;
    let nodes = expand_hostlist(&nodelist)
        .map_err(|why| format!("--hosts slurm: SLURM_JOB_NODELIST '{nodelist}': {why}"))?;
    let slots_from = if var("SLURM_NTASKS").is_some() {
        "SLURM_TASKS_PER_NODE"
    } else {
        "SLURM_JOB_CPUS_PER_NODE"
    };
    let counts_text = need(slots_from)?;
    let counts = expand_counts(&counts_text)
        .map_err(|why| format!("--hosts slurm: {slots_from} '{counts_text}': {why}"))?;
    if counts.len() != nodes.len() {
        return Err(format!(
            "--hosts slurm: {slots_from} '{counts_text}' gives {} nodes, \
             SLURM_JOB_NODELIST '{nodelist}' {}",
            counts.len(),
            nodes.len()
        ));
    }
    let hosts = nodes
        .iter()
        .zip(&counts)
        .map(|(name, &slots)| Host {
            name: name.clone(),
            slots,
        })
        .collect();
    let hosts = hosts::check_list(hosts).map_err(|why| format!("--hosts slurm: {why}"))?;
    Ok(Allocation {
        job_id,
        nodelist,
        nodes,
        slots_from,
        hosts,
    })
}

/// Expands a Slurm hostlist: names separated by commas, each with any
/// number of bracket groups of numbers and ranges, every combination in
/// order (`rack[1-2]-n[01,03]` is rack1-n01, rack1-n03, rack2-n01,
/// rack2-n03). A range keeps the width of its first number (`[08-10]` is
/// 08, 09, 10).
pub fn expand_hostlist(list: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for entry in split_top_level(list)? {
        if entry.is_empty() {
            return Err("an empty name".to_string());
        }
        let mut expanded = vec![String::new()];
        let mut rest = entry;
        while !rest.is_empty() {
            let (literal, group, after) = match rest.find('[') {
                None => (rest, None, ""),
                Some(open) => {
                    let close = rest[open..]
                        .find(']')
                        .map(|i| open + i)
                        .ok_or_else(|| format!("'{entry}': a [ is not closed"))?;
                    (
                        &rest[..open],
                        Some(&rest[open + 1..close]),
                        &rest[close + 1..],
                    )
                }
            };
            if literal.contains(']') {
                return Err(format!("'{entry}': a ] without its ["));
            }
            for name in &mut expanded {
                name.push_str(literal);
            }
            if let Some(group) = group {
                let numbers = expand_group(group).map_err(|why| format!("'{entry}': {why}"))?;
                if expanded.len().saturating_mul(numbers.len()) + names.len() > MAX_SLOTS {
                    return Err(format!("more than {MAX_SLOTS} nodes"));
                }
                expanded = expanded
                    .iter()
                    .flat_map(|name| numbers.iter().map(move |n| format!("{name}{n}")))
                    .collect();
            }
            rest = after;
        }
        names.extend(expanded);
        if names.len() > MAX_SLOTS {
            return Err(format!("more than {MAX_SLOTS} nodes"));
        }
    }
    for name in &names {
        check_node(name)?;
    }
    Ok(names)
}

/// Splits at the commas that are not inside brackets.
fn split_top_level(list: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in list.char_indices() {
        match c {
            '[' if depth > 0 => return Err("brackets inside brackets".to_string()),
            '[' => depth += 1,
            ']' if depth == 0 => return Err("a ] without its [".to_string()),
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err("a [ is not closed".to_string());
    }
    parts.push(list[start..].trim());
    Ok(parts)
}

/// The numbers of one bracket group (`01-03,7`), as text with their width.
fn expand_group(group: &str) -> Result<Vec<String>, String> {
    let mut numbers = Vec::new();
    for part in group.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(lo) || !digits(hi) {
            return Err(format!("'[{group}]': '{part}' is not a number or a range"));
        }
        let width = lo.len();
        let (a, b): (u64, u64) = (lo.parse().expect("digits"), hi.parse().expect("digits"));
        if a > b {
            return Err(format!("'[{group}]': the range {part} goes down"));
        }
        if b - a >= MAX_SLOTS as u64 || numbers.len() + (b - a) as usize >= MAX_SLOTS {
            return Err(format!("more than {MAX_SLOTS} nodes"));
        }
        numbers.extend((a..=b).map(|n| format!("{n:0width$}")));
    }
    Ok(numbers)
}

/// A node name goes to `srun -w` as one word (no shell): letters, digits
/// and `- . _`, not starting with `-` (which would make it an option).
fn check_node(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a node name (letters, digits, - . _, not starting with -)"
        ))
    }
}

/// Expands a per-node count list (`2(x3),4` is 2, 2, 2, 4), each count from
/// 1 to [`MAX_SLOTS`].
pub fn expand_counts(text: &str) -> Result<Vec<usize>, String> {
    let mut counts = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let (count, times) = match part.split_once('(') {
            None => (part, 1),
            Some((count, repeat)) => {
                let times = repeat
                    .strip_prefix('x')
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| format!("'{part}' is not like 2(x3)"))?;
                (count, times)
            }
        };
        let count = count
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_SLOTS).contains(n))
            .ok_or_else(|| format!("'{part}': a count is a number from 1 to {MAX_SLOTS}"))?;
        if counts.len().saturating_add(times) > MAX_SLOTS {
            return Err(format!("more than {MAX_SLOTS} nodes"));
        }
        counts.extend(std::iter::repeat_n(count, times));
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn hostlists_expand_in_slurms_order() {
        assert_eq!(expand_hostlist("vm").unwrap(), ["vm"]);
        assert_eq!(
            expand_hostlist("node[01-04,07],gpu-[1-2]").unwrap(),
            [
                "node01", "node02", "node03", "node04", "node07", "gpu-1", "gpu-2"
            ]
        );
        assert_eq!(
            expand_hostlist("n[098-101]").unwrap(),
            ["n098", "n099", "n100", "n101"],
            "the first number's width"
        );
        assert_eq!(
            expand_hostlist("rack[1-2]-n[01,03].ib,login_1").unwrap(),
            [
                "rack1-n01.ib",
                "rack1-n03.ib",
                "rack2-n01.ib",
                "rack2-n03.ib",
                "login_1"
            ]
        );
        assert_eq!(expand_hostlist("[7-8]x").unwrap(), ["7x", "8x"]);
        assert_eq!(expand_hostlist("a[0]").unwrap(), ["a0"]);
    }

    #[test]
    fn bad_hostlists_are_refused() {
        for (list, needle) in [
            ("", "empty"),
            ("a,,b", "empty"),
            ("n[1-3", "not closed"),
            ("n1-3]", "without"),
            ("n[[1]]", "inside"),
            ("n[3-1]", "goes down"),
            ("n[a-b]", "not a number"),
            ("n[1-]", "not a number"),
            ("n[]", "not a number"),
            ("n[0-99999999]", "more than 1024"),
            ("a[0-99]b[0-99]", "more than 1024"),
            ("-n1", "not a node name"),
            ("n;reboot", "not a node name"),
            ("n 1", "not a node name"),
        ] {
            let err = expand_hostlist(list).unwrap_err();
            assert!(err.contains(needle), "{list:?}: {err}");
        }
    }

    #[test]
    fn counts_expand_with_repeats() {
        assert_eq!(expand_counts("2").unwrap(), [2]);
        assert_eq!(expand_counts("2(x3),4").unwrap(), [2, 2, 2, 4]);
        assert_eq!(expand_counts("36(x2),1,8(x1)").unwrap(), [36, 36, 1, 8]);
        for (text, needle) in [
            ("", "a count"),
            ("0", "a count"),
            ("2(x0)", "like 2(x3)"),
            ("2(3)", "like 2(x3)"),
            ("2(x3", "like 2(x3)"),
            ("x", "a count"),
            ("99999", "a count"),
            ("1(x99999999999)", "more than 1024"),
        ] {
            let err = expand_counts(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_allocation_comes_from_the_environment() {
        // salloc -N3 (no -n): the CPUs on each node.
        let a = from_env(env(&[
            ("SLURM_JOB_ID", "4711"),
            ("SLURM_JOB_NODELIST", "node[01-02],gpu7"),
            ("SLURM_JOB_CPUS_PER_NODE", "8(x2),4"),
            ("SLURM_TASKS_PER_NODE", "1(x3)"),
        ]))
        .unwrap();
        assert_eq!(a.job_id, 4711);
        assert_eq!(a.nodes, ["node01", "node02", "gpu7"]);
        assert_eq!(a.slots_from, "SLURM_JOB_CPUS_PER_NODE");
        let slots: Vec<usize> = a.hosts.iter().map(|h| h.slots).collect();
        assert_eq!(slots, [8, 8, 4]);
        assert!(a.hosts.iter().all(|h| !h.is_local()));
        // salloc -n3: the tasks on each node.
        let a = from_env(env(&[
            ("SLURM_JOB_ID", "4712"),
            ("SLURM_JOB_NODELIST", "node[01-02]"),
            ("SLURM_JOB_CPUS_PER_NODE", "8(x2)"),
            ("SLURM_NTASKS", "3"),
            ("SLURM_TASKS_PER_NODE", "2,1"),
        ]))
        .unwrap();
        assert_eq!(a.slots_from, "SLURM_TASKS_PER_NODE");
        assert_eq!(a.hosts[1].slots, 1);
    }

    #[test]
    fn a_bad_allocation_is_one_clear_line() {
        for (pairs, needle) in [
            (&[][..], "not inside a Slurm allocation"),
            (&[("SLURM_JOB_ID", "x1")], "not a job id"),
            (&[("SLURM_JOB_ID", "1")], "SLURM_JOB_NODELIST is not set"),
            (
                &[("SLURM_JOB_ID", "1"), ("SLURM_JOB_NODELIST", "n1")],
                "SLURM_JOB_CPUS_PER_NODE is not set",
            ),
            (
                &[
                    ("SLURM_JOB_ID", "1"),
                    ("SLURM_JOB_NODELIST", "n[1-2]"),
                    ("SLURM_JOB_CPUS_PER_NODE", "2"),
                ],
                "gives 1 nodes",
            ),
            (
                &[
                    ("SLURM_JOB_ID", "1"),
                    ("SLURM_JOB_NODELIST", "n[1-2]"),
                    ("SLURM_JOB_CPUS_PER_NODE", "600(x2)"),
                ],
                "at most 1024",
            ),
            (
                &[
                    ("SLURM_JOB_ID", "1"),
                    ("SLURM_JOB_NODELIST", "n1,n1"),
                    ("SLURM_JOB_CPUS_PER_NODE", "1(x2)"),
                ],
                "listed twice",
            ),
        ] {
            let err = from_env(env(pairs)).unwrap_err();
            assert!(!err.contains('\n'), "{pairs:?}: {err}");
            assert!(err.contains(needle), "{pairs:?}: {err}");
        }
    }
}
