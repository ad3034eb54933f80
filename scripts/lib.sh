# Sourced by the shell scripts here: find the binaries the way cargo does,
# and wait for things with a timeout and a message.

# The folder cargo builds release binaries into: `cargo metadata`'s
# target_directory, so CARGO_TARGET_DIR, .cargo/config and workspaces are
# all honoured.
release_dir() {
    local dir
    dir=$(cargo metadata --format-version 1 --no-deps \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    if [ -z "$dir" ]; then
        echo "$(basename "$0"): cargo metadata did not say where the target folder is" >&2
        return 1
    fi
    echo "$dir/release"
}

# wait_for SECONDS WHAT COMMAND...: run COMMAND every 0.1 s until it
# succeeds; after SECONDS, say what was being waited for and fail.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "$(basename "$0"): gave up after ${seconds}s waiting for $what" >&2
            return 1
        fi
        sleep 0.1
    done
}
