"""What every benchmark writes: its markdown report and raw JSON (each whole or not at all), the
source commit it ran at, and a W&B table."""
import json
import os
import subprocess
from pathlib import Path

from grn.io import atomic_write


def write_results(report: str, raw: dict, markdown_path=None, json_path=None):
    """The markdown report and the raw JSON, each written atomically where a path is given."""
    for path, text in ((markdown_path, report), (json_path, json.dumps(raw, indent=1))):
        if path:
            atomic_write(path, lambda temporary, text=text: Path(temporary).write_text(text))


def source_commit():
    """The source tree's commit: GIT_COMMIT when the tree travelled without .git, else git's answer, with
    "-dirty" when tracked files differ from it (a copied tree can carry an older .git than its files)."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty", "--exclude=*", "--abbrev=7"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def log_table_to_wandb(job_type: str, rows, env, summary: dict | None = None):
    """One W&B run holding a benchmark's rows as a table named after `job_type`, plus summary values.
    Offline unless WANDB_MODE says otherwise, passed explicitly: wandb caches its settings per process."""
    try:
        import wandb
    except ImportError:
        print("wandb is not installed: results not logged to W&B")
        return
    columns = sorted({key for row in rows for key in row})
    run = wandb.init(project="flashsign-grn", job_type=job_type, config=env,
                     mode=os.environ.get("WANDB_MODE", "offline"))
    table = wandb.Table(columns=columns, data=[[str(r.get(c, "")) for c in columns] for r in rows])
    run.log({job_type.replace("-", "_"): table})
    run.summary.update(summary or {})
    run.finish()
