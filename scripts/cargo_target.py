"""Build the release binaries and find them the way cargo does (`cargo
metadata`'s target_directory, so CARGO_TARGET_DIR and workspaces work).
Imported by the Python scripts here."""

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def release_dir(build=True):
    """The folder holding the release binaries, built first if `build`."""
    if build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return Path(json.loads(meta.stdout)["target_directory"]) / "release"
