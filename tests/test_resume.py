"""A backbone run killed mid-training continues from its last finished epoch and prints exactly
what a run that was never stopped prints (pte.experiment.Checkpoint)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from pte.paths import outputs_root
from pte.results import load_results
from tests.conftest import ROOT, run_script

SASREC = ROOT / "base_models" / "SASRec"


def args(data: str, method: str, tag: str) -> list[str]:
    return ["--data", data, "--method", method, "--epochs", "6", "--max_steps", "8", "--fraction", "0.05",
            "--max_len", "20", "--layers", "1", "--seed", "3", "--tag", tag]


def killed_after_first_checkpoint(cmd: list[str]) -> list:
    """Start the run, SIGKILL it as soon as a checkpoint is on disk; the checkpoint files left."""
    folder = outputs_root() / cmd[cmd.index("--data") + 1] / "checkpoints"
    before = set(folder.glob("*.pt"))
    proc = subprocess.Popen([sys.executable, "Main.py", *cmd], cwd=SASREC, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.time() + 300
    while not set(folder.glob("*.pt")) - before and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be interrupted; give it more epochs"
    return sorted(set(folder.glob("*.pt")) - before)


def row(data: str, tag: str) -> dict:
    return [r for r in load_results(data) if r["tag"] == tag][-1]


# llmesr: its cached user states live across epochs outside the weights (they must resume too);
# torn: a checkpoint cut short (a full disk) is not trusted, the run starts over and says so
@pytest.mark.parametrize("method, damage", [("base", False), ("llmesr", False), ("base", True)])
def test_a_killed_run_resumes_and_prints_what_an_uninterrupted_one_prints(ml100k_name, method, damage):
    name = f"{method}-{'torn' if damage else 'killed'}"
    run_script("Main.py", *args(ml100k_name, method, f"whole-{name}"), "--resume", "false", cwd=SASREC)
    left = killed_after_first_checkpoint(args(ml100k_name, method, name))
    assert len(left) == 1 and row(ml100k_name, f"whole-{name}") == load_results(ml100k_name)[-1]
    if damage:
        left[0].write_bytes(left[0].read_bytes()[:1000])
    out = run_script("Main.py", *args(ml100k_name, method, name), cwd=SASREC)
    said = f"{left[0]}: unreadable checkpoint" if damage else f"resuming from {left[0]} after epoch"
    assert said in out.stdout and not left[0].exists()   # removed once the row is written
    whole, again = row(ml100k_name, f"whole-{name}"), row(ml100k_name, name)
    assert again["epochs_run"] == whole["epochs_run"] == 6
    for key in ("valid", "test", "best_epoch", "other"):
        assert again[key] == whole[key], key
