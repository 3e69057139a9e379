"""What every benchmark driver records with its numbers: the machine, CPU and commit it ran on,
and an atomic write of the result JSON (never a half-written file)."""

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def commit():
    """HEAD of this checkout, marked +dirty when the tree has uncommitted changes (other than
    benchmark/results/, which the drivers themselves rewrite one after another); $TTTMEM_COMMIT
    where the tree has no git history (scripts/gpu_check.sh gives its bundle's)."""
    if os.environ.get("TTTMEM_COMMIT"):
        return os.environ["TTTMEM_COMMIT"]
    try:
        git = ["git", "-C", str(ROOT)]
        rev = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--", ".", ":!benchmark/results"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_description():
    return {
        "machine": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "commit": commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_result(path, result):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    print(text, end="")
