#!/usr/bin/env python3
"""Remote workers, measured: the overhead of ssh-launched workers against
local ones, and the time to recover from a lost host.

It starts a private OpenSSH server on 127.0.0.1 (a high port, its own host
key and client key in a temporary folder, key-only), so the "remote" host
is this machine over loopback, as in the tests.

    scripts/hosts.py overhead [--max 1000000000] [--rounds 3]
    scripts/hosts.py loss [--max 1000000000] [--rounds 5]

overhead: `--procs 2` against `--hosts 127.0.0.1:2` through ssh, the runs
interleaved (local, ssh, local, ssh, ...) so the machine's noise hits both
alike; whole-process wall time of each run.

loss: `--hosts localhost:1,127.0.0.1:1`, and mid-run one of:
  session  the sshd process of the remote worker's connection is SIGKILLed
           (ssh exits): time to detect it, and until the slot works again;
  host     the whole sshd is SIGKILLed (the host is gone: connections
           refused): time to detect it and to mark the host down;
  cut      (root only) the host is a network namespace whose link is cut,
           packets vanish: time to detect it (the stall timeout).
Each run's result is checked against a clean run's.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from cargo_target import release_dir

# Set by main() once built: where cargo put the binaries.
BIN = WORKER = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """A private sshd, optionally inside a network namespace."""

    def __init__(self, address="127.0.0.1", netns=None):
        self.dir = tempfile.TemporaryDirectory(prefix="sv-sshd-")
        d = Path(self.dir.name)
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d / key],
                           check=True)
        (d / "authorized_keys").write_bytes((d / "client_key.pub").read_bytes())
        os.makedirs("/run/sshd", exist_ok=True)
        self.address, self.port, self.key = address, free_port(), d / "client_key"
        (d / "sshd_config").write_text(f"""Port {self.port}
ListenAddress {address}
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
StrictModes no
UsePAM no
PidFile {d}/sshd.pid
PermitRootLogin prohibit-password
MaxStartups 100
LogLevel ERROR
""")
        cmd = ["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.proc = subprocess.Popen(cmd, stderr=open(d / "log", "w"))
        self.launcher = (f"ssh -F /dev/null -p {self.port} -i {self.key} "
                         "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                         "-o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR "
                         "-T {host} {worker}")
        deadline = time.monotonic() + 10
        while True:
            argv = self.launcher.replace("{host}", address).replace("{worker}", "true").split()
            if subprocess.run(argv, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                sys.exit(f"sshd did not start: {(d / 'log').read_text()}")
            time.sleep(0.1)

    def sessions(self):
        """The per-connection sshd processes (children of the listener)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self):
        for pid in self.sessions():
            os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def args(self, hosts):
        return ["--hosts", hosts, "--launcher", self.launcher, "--remote-worker", str(WORKER)]


def counts(summary):
    return {k: summary[k] for k in ("perfect", "abundant", "deficient", "sigma_sum", "checked")}


def wall(t):
    """An event's RFC 3339 time as seconds since the epoch."""
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()


def run(args):
    """Runs the supervisor to its end: (wall seconds, summary)."""
    start = time.monotonic()
    out = subprocess.run([str(BIN), *args, "--json", "--quiet"], capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if out.returncode != 0:
        sys.exit(f"{args}: exit {out.returncode}: {out.stderr}")
    return elapsed, json.loads(out.stdout)


def overhead(opts):
    sshd = Sshd()
    try:
        m = str(opts.max)
        local = ["--procs", "2", "--max", m]
        remote = sshd.args("127.0.0.1:2") + ["--max", m]
        times = {"local": [], "ssh": []}
        reference = None
        for r in range(opts.rounds):
            for name, args in (("local", local), ("ssh", remote)):
                t, summary = run(args)
                assert summary["sigma_sum_verified"], summary
                if reference is None:
                    reference = counts(summary)
                assert counts(summary) == reference, f"{name}: {summary}"
                times[name].append(t)
                print(f"round {r + 1}: {name:5} {t:.3f} s", flush=True)
        print()
        print(f"--max {opts.max}, 2 workers, {opts.rounds} interleaved rounds (wall time)")
        print("| workers | best | mean | best ÷ local best |")
        print("|---|---|---|---|")
        best_local = min(times["local"])
        for name, label in (("local", "`--procs 2` (fork)"),
                            ("ssh", "`--hosts 127.0.0.1:2` (ssh over loopback)")):
            ts = times[name]
            print(f"| {label} | {min(ts):.3f} s | {statistics.mean(ts):.3f} s "
                  f"| {min(ts) / best_local:.3f} |")
    finally:
        sshd.stop()


def events_of(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def loss_once(kind, opts, reference):
    netns = None
    if kind == "cut":
        netns = Netns()
        sshd = Sshd(address=netns.inside, netns=netns.name)
    else:
        sshd = Sshd()
    far = sshd.address
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        args = [str(BIN), *sshd.args(f"localhost:1,{far}:1"), "--max", str(opts.max),
                "--json", "--quiet", "--events", str(events)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Let the remote worker get going, then lose it.
            deadline = time.monotonic() + 30
            while not (events.exists() and any(
                    e["event"] == "connected" for e in events_of(events))):
                if proc.poll() is not None:
                    sys.exit(f"the run ended before its remote worker connected: "
                             f"--max {opts.max} is too small to lose a host in")
                if time.monotonic() > deadline:
                    sys.exit("gave up after 30 s waiting for the remote worker to connect")
                time.sleep(0.01)
            time.sleep(1.0)
            if proc.poll() is not None:
                sys.exit(f"the run ended within 1 s of its remote worker connecting: "
                         f"--max {opts.max} is too small to lose a host in")
            lost_at = time.time()
            if kind == "session":
                os.kill(sshd.sessions()[0], signal.SIGKILL)
            elif kind == "host":
                sshd.stop()
            else:
                netns.cut()
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
            sshd.stop()
            if netns:
                netns.delete()
        if proc.returncode != 0:
            sys.exit(f"{kind}: exit {proc.returncode}: {err}")
        summary = json.loads(out)
        assert counts(summary) == reference, f"{kind}: {summary}"
        evs = events_of(events)

        def first(name, **match):
            for e in evs:
                if e["event"] == name and all(e.get(k) == v for k, v in match.items()) \
                        and wall(e["time"]) >= lost_at:
                    return (wall(e["time"]) - lost_at) * 1e3
            return None
        return {
            "detected_ms": first("died", host=far),
            "working_again_ms": first("recovered", slot=1),
            "host_down_ms": first("host_down", host=far),
            "elapsed_s": summary["elapsed_s"],
        }


class Netns:
    """A network namespace joined by a veth pair; cut() drops its packets."""

    def __init__(self):
        self.name = f"sv-bench-{os.getpid()}"
        host_end, peer = f"svb{os.getpid() % 100000}h", f"svb{os.getpid() % 100000}p"
        self.inside, outside = "10.214.0.2", "10.214.0.1"
        self.peer = peer
        for cmd in (["ip", "netns", "add", self.name],
                    ["ip", "link", "add", host_end, "type", "veth", "peer", "name", peer],
                    ["ip", "link", "set", peer, "netns", self.name],
                    ["ip", "addr", "add", f"{outside}/30", "dev", host_end],
                    ["ip", "link", "set", host_end, "up"],
                    ["ip", "netns", "exec", self.name, "ip", "addr", "add",
                     f"{self.inside}/30", "dev", peer],
                    ["ip", "netns", "exec", self.name, "ip", "link", "set", peer, "up"],
                    ["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True)
        self.host_end = host_end

    def cut(self):
        # The link goes down inside: the host keeps its route, so packets
        # vanish instead of being refused.
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", self.peer,
                        "down"], check=True)

    def delete(self):
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "link", "del", self.host_end], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", self.name], check=True)


def loss(opts):
    sshd = Sshd()
    try:
        cleans = [run(sshd.args("localhost:1,127.0.0.1:1") + ["--max", str(opts.max)])[1]
                  for _ in range(3)]
    finally:
        sshd.stop()
    reference = counts(cleans[0])
    clean_s = statistics.median(c["elapsed_s"] for c in cleans)
    kinds = ["session", "host"] + (["cut"] if os.geteuid() == 0 else [])
    for kind in kinds:
        rows = [loss_once(kind, opts, reference) for _ in range(opts.rounds)]
        print(f"{kind}: {opts.rounds} runs, each exact")
        for key in ("detected_ms", "working_again_ms", "host_down_ms"):
            values = [r[key] for r in rows if r[key] is not None]
            if values:
                print(f"  {key:17} median {statistics.median(values):8.1f}  "
                      f"min {min(values):8.1f}  max {max(values):8.1f}  ({len(values)} runs)")
        print(f"  elapsed_s         median {statistics.median(r['elapsed_s'] for r in rows):8.3f}"
              f"  (the same hosts, nothing lost: {clean_s:.3f})", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["overhead", "loss"])
    p.add_argument("--max", type=int)
    p.add_argument("--rounds", type=int)
    opts = p.parse_args()
    global BIN, WORKER
    release = release_dir()
    BIN, WORKER = release / "supervisor", release / "supervisor-worker"
    if opts.what == "overhead":
        opts.max = opts.max or 1_000_000_000
        opts.rounds = opts.rounds or 3
        overhead(opts)
    else:
        opts.max = opts.max or 1_000_000_000
        opts.rounds = opts.rounds or 5
        loss(opts)


if __name__ == "__main__":
    main()
