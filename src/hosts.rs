//! Where workers run: the hosts of `--hosts` and `--hostfile` with their
//! slots, and the `--launcher` template that starts a worker on a remote
//! host. The launcher's argv is built without a local shell, and every value
//! substituted into it is checked against a strict alphabet first, because
//! ssh hands the remote command to the remote user's shell: a host name or a
//! worker path that could mean something to a shell is refused, never
//! quoted and hoped for.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The host that is this machine: its workers are started directly (fork or
/// spawn), without a launcher.
pub const LOCALHOST: &str = "localhost";

/// The default `--launcher`.
pub const DEFAULT_LAUNCHER: &str = "ssh -o BatchMode=yes -T {host} {worker}";

/// The default `--remote-worker`: the worker program, found on the remote
/// PATH.
pub const DEFAULT_REMOTE_WORKER: &str = "supervisor-worker";

/// The most slots one host may have.
pub const MAX_SLOTS: usize = 1024;

/// One host and how many workers it runs at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// As the user wrote it (`node1`, `user@node1`, `10.0.0.2`, `[fe80::1]`).
    pub name: String,
    pub slots: usize,
}

impl Host {
    /// Whether this is the local machine (no launcher).
    pub fn is_local(&self) -> bool {
        self.name == LOCALHOST
    }

    /// The name as the launcher gets it: an IPv6 address loses its
    /// brackets (`ssh ::1`, `ssh user@::1`).
    pub fn address(&self) -> String {
        self.name.replace(['[', ']'], "")
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// `--hosts`: `host[:slots]` entries separated by commas.
pub fn parse_hosts(spec: &str) -> Result<Vec<Host>, String> {
    let hosts = spec
        .split(',')
        .map(|entry| parse_entry(entry.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    check_list(hosts)
}

/// A `--hostfile`'s text: one `host[:slots]` a line; blank lines and `#`
/// comments are skipped. Errors name the line.
pub fn parse_hostfile(text: &str) -> Result<Vec<Host>, String> {
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        hosts.push(parse_entry(line).map_err(|why| format!("line {}: {why}", i + 1))?);
    }
    if hosts.is_empty() {
        return Err("no hosts in it".to_string());
    }
    check_list(hosts)
}

/// No host twice, and not too many slots in all.
pub fn check_list(hosts: Vec<Host>) -> Result<Vec<Host>, String> {
    for (i, h) in hosts.iter().enumerate() {
        if hosts[..i].iter().any(|o| o.name == h.name) {
            return Err(format!(
                "host '{}' is listed twice (give it more slots instead)",
                h.name
            ));
        }
    }
    let total: usize = hosts.iter().map(|h| h.slots).sum();
    if total > MAX_SLOTS {
        return Err(format!("{total} slots in all; at most {MAX_SLOTS}"));
    }
    Ok(hosts)
}

/// One `host[:slots]`; an IPv6 address is written in brackets.
fn parse_entry(entry: &str) -> Result<Host, String> {
    if entry.is_empty() {
        return Err("an empty host entry".to_string());
    }
    let (name, slots) = match entry.rfind(':') {
        // `[::1]` alone, or `user@[::1]`, has colons but no slots.
        Some(i) if entry[i..].contains(']') => (entry, None),
        Some(i) if !entry[..i].contains('[') && entry[..i].contains(':') => {
            return Err(format!(
                "'{entry}': write an IPv6 address in brackets, like [::1]:4"
            ));
        }
        Some(i) => (&entry[..i], Some(&entry[i + 1..])),
        None => (entry, None),
    };
    check_host(name)?;
    let slots = match slots {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_SLOTS).contains(&n) => n,
            _ => {
                return Err(format!(
                    "'{entry}': slots must be a number from 1 to {MAX_SLOTS}"
                ));
            }
        },
    };
    Ok(Host {
        name: name.to_string(),
        slots,
    })
}

/// A host as `[user@]host`: the user a login name, the host a DNS name, an
/// IPv4 address or a bracketed IPv6 address. Nothing else gets through, so
/// nothing in a host can be an option (`-oProxyCommand=...`) or mean
/// anything to a shell.
pub fn check_host(name: &str) -> Result<(), String> {
    let refuse = |why: &str| Err(format!("'{name}' is not a host name: {why}"));
    let host = match name.split_once('@') {
        Some((user, host)) => {
            let ok_first = user
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            let ok_rest = user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok_first || !ok_rest || user.len() > 32 {
                return refuse("a user name is letters, digits, _ . - and starts with a letter");
            }
            host
        }
        None => name,
    };
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(()),
            _ => refuse("not an IPv6 address in brackets"),
        };
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if host.is_empty() || host.len() > 253 {
        return refuse("a host name has 1 to 253 characters");
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return refuse("not a valid IPv4 address");
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return refuse(
                "each dot-separated part is 1 to 63 letters, digits or hyphens, \
                 not starting or ending with a hyphen",
            );
        }
    }
    Ok(())
}

/// `--remote-worker`: a path that means the same to `execve` and to a
/// remote shell: letters, digits and `_ . / + - , : @ % =`, optionally
/// starting with `~/` (the remote home), and not starting with `-`.
pub fn check_remote_worker(path: &str) -> Result<(), String> {
    let body = path.strip_prefix("~/").unwrap_or(path);
    let ok = !body.is_empty()
        && path.len() <= 4096
        && !path.starts_with('-')
        && body.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '.' | '/' | '+' | '-' | ',' | ':' | '@' | '%' | '=')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{path}' is not allowed: the path passes through the remote shell, so only \
             letters, digits, _ . / + - , : @ % = and a leading ~/ are accepted"
        ))
    }
}

/// A parsed `--launcher`: its words, with `{host}` anywhere and `{worker}`
/// as a word of its own (the worker takes no arguments from us: its
/// settings come in a frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    words: Vec<String>,
}

impl Template {
    /// Splits `text` into words the way a shell would (spaces separate;
    /// `'...'`, `"..."` and `\` quote) without running one, and checks the
    /// placeholders.
    pub fn parse(text: &str) -> Result<Template, String> {
        let words = split_words(text)?;
        if words.is_empty() {
            return Err("the launcher is empty".to_string());
        }
        let workers = words.iter().filter(|w| *w == "{worker}").count();
        if workers != 1 {
            return Err(format!(
                "'{text}' must have {{worker}} once, as a word of its own"
            ));
        }
        if words[0].contains('{') {
            return Err(format!("'{text}': the first word must be a program"));
        }
        for w in &words {
            let rest = w.replace("{host}", "").replace("{worker}", "");
            if let Some(i) = rest.find('{')
                && let Some(j) = rest[i..].find('}')
            {
                return Err(format!(
                    "'{text}': unknown placeholder {} (there are {{host}} and {{worker}})",
                    &rest[i..i + j + 1]
                ));
            }
        }
        Ok(Template { words })
    }

    /// The program the launcher runs (its first word).
    pub fn program(&self) -> &str {
        &self.words[0]
    }

    /// The argv that starts `worker` on `host`. Both values must have
    /// passed [`check_host`] and [`check_remote_worker`].
    pub fn argv(&self, host: &Host, worker: &str) -> Vec<String> {
        let mut argv = Vec::with_capacity(self.words.len());
        for w in &self.words {
            if w == "{worker}" {
                argv.push(worker.to_string());
            } else {
                argv.push(w.replace("{host}", &host.address()));
            }
        }
        argv
    }
}

/// Shell-like word splitting: whitespace separates words; single quotes
/// keep everything literally; double quotes keep everything but `\"` and
/// `\\`; a backslash outside quotes keeps the next character.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("'{text}': a ' is not closed")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(format!("'{text}': a \" is not closed")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(format!("'{text}': a \" is not closed")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(format!("'{text}' ends with a lone backslash")),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, slots: usize) -> Host {
        Host {
            name: name.into(),
            slots,
        }
    }

    #[test]
    fn host_lists() {
        assert_eq!(
            parse_hosts("localhost:2,node1:8, node2").unwrap(),
            vec![host("localhost", 2), host("node1", 8), host("node2", 1)]
        );
        assert_eq!(
            parse_hosts("[::1]:4,user@[fe80::1],ann@10.0.0.2:3").unwrap(),
            vec![
                host("[::1]", 4),
                host("user@[fe80::1]", 1),
                host("ann@10.0.0.2", 3)
            ]
        );
        assert_eq!(host("user@[::1]", 1).address(), "user@::1");
        let text = "# the cluster\nlocalhost:2\n\n  node1:8   # big one\nnode2\n";
        assert_eq!(
            parse_hostfile(text).unwrap(),
            vec![host("localhost", 2), host("node1", 8), host("node2", 1)]
        );
    }

    #[test]
    fn bad_host_lists_are_refused() {
        for (spec, needle) in [
            ("", "empty"),
            ("a,,b", "empty"),
            ("node1:0", "slots must be"),
            ("node1:x", "slots must be"),
            ("node1:99999", "slots must be"),
            ("node1,node1:2", "listed twice"),
            ("::1:2", "brackets"),
            ("-oProxyCommand=sh", "not a host name"),
            ("node1;reboot", "not a host name"),
            ("$(reboot)", "not a host name"),
            ("a b", "not a host name"),
            ("node-.x", "not a host name"),
            ("999.1.1.1", "IPv4"),
            ("-user@node1", "user name"),
            ("us`er@node1", "user name"),
            ("[::g]", "IPv6"),
            ("node1:600,node2:600", "at most 1024"),
        ] {
            let err = parse_hosts(spec).unwrap_err();
            assert!(err.contains(needle), "{spec:?}: {err}");
        }
        assert!(
            parse_hostfile("# nothing\n\n")
                .unwrap_err()
                .contains("no hosts")
        );
        assert!(
            parse_hostfile("node1\nnode 2\n")
                .unwrap_err()
                .starts_with("line 2:")
        );
    }

    #[test]
    fn remote_worker_paths() {
        for ok in [
            "supervisor-worker",
            "/opt/sv/bin/supervisor-worker",
            "~/bin/supervisor-worker",
            "./w",
        ] {
            assert!(check_remote_worker(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-x", "a b", "w;reboot", "$(x)", "`x`", "w|x", "a~b", "~", "w'",
        ] {
            assert!(check_remote_worker(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_build_argv_without_a_shell() {
        let t = Template::parse(DEFAULT_LAUNCHER).unwrap();
        assert_eq!(t.program(), "ssh");
        assert_eq!(
            t.argv(&host("node1", 8), "supervisor-worker"),
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-T",
                "node1",
                "supervisor-worker"
            ]
        );
        let t = Template::parse(r#"srun -w {host} --job-name "sv run" {worker} --x"#).unwrap();
        assert_eq!(
            t.argv(&host("[::1]", 1), "/w"),
            ["srun", "-w", "::1", "--job-name", "sv run", "/w", "--x"]
        );
        let t = Template::parse(r"ssh -o 'ProxyJump=gw' me@{host} {worker}").unwrap();
        assert_eq!(t.argv(&host("n", 1), "w")[3], "me@n");
        assert_eq!(
            split_words(r#"a\ b "c\"d" 'e\f'"#).unwrap(),
            ["a b", "c\"d", r"e\f"]
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        for (text, needle) in [
            ("", "empty"),
            ("ssh {host}", "{worker} once"),
            ("ssh {host} {worker} {worker}", "{worker} once"),
            ("ssh {host} run-{worker}", "{worker} once"),
            ("ssh {hostname} {worker}", "unknown placeholder {hostname}"),
            ("{worker}", "first word"),
            ("ssh '{host} {worker}", "not closed"),
            ("ssh \"{host} {worker}", "not closed"),
            ("ssh {host} {worker} \\", "lone backslash"),
        ] {
            let err = Template::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
