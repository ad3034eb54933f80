#!/usr/bin/env bash
# A live demonstration of supervision: start a long run, show its worker
# processes, SIGSTOP one from outside (the supervisor finds it stalled, kills
# and replaces it), SIGKILL another by hand (detected at once, replaced), and
# end with the exact, verified result.
#
#   scripts/demo-kill.sh [MAX] [PROCS]
set -euo pipefail
cd "$(dirname "$0")/.."
max=${1:-3000000000}
procs=${2:-4}

cargo build --release --quiet
bin=target/release/supervisor
events=$(mktemp)
out=$(mktemp)
trap 'rm -f "$events" "$out"' EXIT

echo "== supervisor --procs $procs --max $max (events on stderr)"
"$bin" --procs "$procs" --max "$max" --events "$events" >"$out" &
sup=$!

workers() { pgrep -P "$sup" | sort -n; }
until [ "$(workers | wc -l)" -ge "$procs" ]; do sleep 0.1; done
sleep 1
echo
echo "== the workers are real processes, children of $sup:"
ps -o pid,ppid,stat,etime,rss,args --ppid "$sup"

stopped=$(workers | sed -n 1p)
echo
echo "== kill -STOP $stopped   (it goes silent; the supervisor will find it stalled)"
kill -STOP "$stopped"
until grep -q "\"pid\":$stopped" "$events" && grep -q '"event":"stalled"' "$events"; do sleep 0.1; done
sleep 0.5

victim=$(workers | sed -n 2p)
echo
echo "== kill -9 $victim   (detected at once by end of file and waitpid)"
kill -9 "$victim"
sleep 1
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
