#!/usr/bin/env bash
# A live demonstration of supervision: start a long run, show its worker
# processes, SIGSTOP one from outside (the supervisor finds it stalled, kills
# and replaces it), SIGKILL another by hand (detected at once, replaced), and
# end with the exact, verified result, and a picture of the run
# (`supervisor timeline`) in cargo's target folder.
#
#   scripts/demo-kill.sh [MAX] [PROCS]     # default 10000000000 on 4 workers
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
max=${1:-10000000000}
procs=${2:-4}
if [ "$procs" -lt 2 ]; then
    echo "demo-kill.sh: needs at least 2 workers (one to stop, one to kill)" >&2
    exit 2
fi

cargo build --release --quiet --bins
release=$(release_dir)
bin=$release/supervisor
# The run's events and its picture are kept beside the build.
events=$(dirname "$release")/demo-kill.jsonl
picture=$(dirname "$release")/demo-kill.svg
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# The run must outlive the demonstration: about 5 s of it.
too_short() {
    echo >&2
    echo "demo-kill.sh: the run ended before $1, so there is nothing to show." >&2
    echo "Give it more to do: scripts/demo-kill.sh 30000000000 (about 20 s here)." >&2
    wait "$sup" || true
    exit 1
}
running() { kill -0 "$sup" 2>/dev/null; }

echo "== supervisor --procs $procs --max $max (events on stderr)"
"$bin" --procs "$procs" --max "$max" --events "$events" >"$out" &
sup=$!

workers() { pgrep -P "$sup" | sort -n; }
all_started() { ! running || [ "$(workers | wc -l)" -ge "$procs" ]; }
wait_for 30 "the $procs workers to start" all_started
sleep 1
running || too_short "its workers could be shown"
echo
echo "== the workers are real processes, children of $sup:"
ps -o pid,ppid,stat,etime,rss,args --ppid "$sup"

stopped=$(workers | sed -n 1p)
[ -n "$stopped" ] || too_short "a worker could be stopped"
echo
echo "== kill -STOP $stopped   (it goes silent; the supervisor will find it stalled)"
kill -STOP "$stopped"
found_stalled() { ! running || grep -q "\"event\":\"stalled\".*\"pid\":$stopped\b" "$events"; }
wait_for 30 "the supervisor to find worker $stopped stalled" found_stalled
running || too_short "the stopped worker was found stalled"
sleep 0.5

victim=$(workers | grep -vx "$stopped" | sed -n 1p)
[ -n "$victim" ] && running || too_short "a worker could be killed"
echo
echo "== kill -9 $victim   (detected at once by end of file and waitpid)"
kill -9 "$victim"
sleep 1
running || too_short "the replacements could be shown"
echo
echo "== the workers now:"
ps -o pid,ppid,stat,etime,rss,args --ppid "$sup"
if kill -0 "$stopped" 2>/dev/null; then
    echo "the stopped worker $stopped is still there: that would be a bug" >&2
else
    echo "the stopped worker $stopped is gone (killed and reaped)"
fi

echo
echo "== waiting for the run to finish ..."
status=0
wait "$sup" || status=$?
echo
cat "$out"
echo "exit status: $status"
echo
echo "== the run as a picture"
"$bin" timeline "$events" -o "$picture"
