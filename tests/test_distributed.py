"""Two training processes on one CPU (gloo), launched as the guide "Training on several GPUs"
(docs/guides/multi-gpu.md) launches them: `torchrun --nproc_per_node 2` and `accelerate launch
--multi_gpu --num_processes 2`, with default TrainingArguments."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from eam_ser.models.flam.losses import supervised_contrastive_loss

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("distributed_worker.py")
pytestmark = pytest.mark.slow  # every test here starts two training processes
SUPCON_EMBEDDINGS = torch.linspace(-1.0, 1.0, 8 * 5).reshape(8, 5).sin()
SUPCON_LABELS = torch.tensor([0, 1, 0, 2, 1, 1, 2, 0])


def free_port() -> int:
    """A TCP port that no process listens on now: the kernel's pick for port 0, released.
    (A fixed port fails when another run, or a test run beside this one, holds it.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def launch(launcher: str, *worker_args: str) -> None:
    """Run the worker in 2 processes (their rendezvous on a free port); fail with their output
    if they fail."""
    bin_dir = Path(sys.executable).parent
    port = free_port()
    if launcher == "torchrun":
        command = [
            str(bin_dir / "torchrun"),
            "--nproc_per_node",
            "2",
            "--master_port",
            str(port),
        ]
    else:
        command = [
            str(bin_dir / "accelerate"),
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--main_process_port",
            str(port),
        ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [*command, str(WORKER), *worker_args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]


def reports(folder: Path) -> list[dict]:
    return [torch.load(folder / f"report_rank{rank}.pt", weights_only=False) for rank in (0, 1)]


def training_losses(report: dict) -> dict[int, float]:
    return {entry["step"]: entry["loss"] for entry in report["log_history"] if "loss" in entry}


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_two_processes_train_in_sync_draw_their_own_mixes_and_resume_exactly(tmp_path, launcher):
    full = tmp_path / "full"
    launch(launcher, str(full), "4")
    rank0, rank1 = reports(full)
    assert rank0["world_size"] == rank1["world_size"] == 2
    # DDP kept the replicas identical, the class centers included (they train inside forward).
    assert rank0["parameters"].keys() == rank1["parameters"].keys()
    for name, value in rank0["parameters"].items():
        torch.testing.assert_close(rank1["parameters"][name], value, rtol=0, atol=0)
    # p = 1: every sample was mixed; the two ranks drew from their own streams.
    assert len(rank0["drawn_snr_db"]) == len(rank1["drawn_snr_db"]) == 16
    assert set(rank0["drawn_snr_db"]).isdisjoint(rank1["drawn_snr_db"])
    # The logged terms are reduced over both ranks: loss = sum of weight x term.
    for entry in rank0["log_history"]:
        if "loss" in entry:
            weighted = (
                entry["loss_kl"]
                + entry["loss_focal"]
                + 0.01 * entry["loss_center"]
                + 0.1 * entry["loss_supcon"]
            )
            assert entry["loss"] == pytest.approx(weighted, rel=1e-4)

    # Cross-process supervised contrastive loss: 2 processes x 4 = 1 process x 8, value and
    # gradient (DDP averages the per-process gradients).
    embeddings = SUPCON_EMBEDDINGS.clone().requires_grad_(True)
    expected = supervised_contrastive_loss(embeddings, SUPCON_LABELS, 0.1)
    expected.backward()
    torch.testing.assert_close((rank0["supcon"] + rank1["supcon"]) / 2, expected.detach())
    gradient = torch.cat([rank0["supcon_gradient"], rank1["supcon_gradient"]]) / 2
    torch.testing.assert_close(gradient, embeddings.grad)

    # Resuming from the step-2 checkpoint reproduces steps 3-4 of the uninterrupted run.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(full / "checkpoint-2", resumed / "checkpoint-2")
    launch(launcher, str(resumed), "4", str(resumed / "checkpoint-2"))
    resumed0, _ = reports(resumed)
    full_losses, resumed_losses = training_losses(rank0), training_losses(resumed0)
    for step in (3, 4):
        assert resumed_losses[step] == pytest.approx(full_losses[step], rel=1e-4)
    for name, value in rank0["parameters"].items():
        torch.testing.assert_close(resumed0["parameters"][name], value, rtol=1e-4, atol=1e-5)


def test_readme_launch_commands_train_with_two_processes_again_and_again(tmp_path):
    """The two commands of the guide "Training on several GPUs", run as written,
    back to back into one output folder (each rerun clears the previous run's checkpoints
    while the other process waits: that race once crashed one run in two)."""
    section = (ROOT / "docs" / "guides" / "multi-gpu.md").read_text(encoding="utf-8")
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
    }
    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

    for attempt, launcher in enumerate(["torchrun", "accelerate launch", "torchrun"]):
        command = next(line for line in section.splitlines() if line.startswith(f"{launcher} "))
        words = shlex.split(command.replace("runs/ddp", str(tmp_path / "ddp")))
        port = str(free_port())
        words[1:1] = ["--master_port", port] if launcher == "torchrun" else []
        if launcher != "torchrun":
            words[2:2] = ["--main_process_port", port]
        result = subprocess.run(
            words, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT
        )
        assert result.returncode == 0, (
            f"run {attempt + 1} ({launcher}): " + result.stdout[-3000:] + result.stderr[-6000:]
        )
        # Only the first process reports and writes.
        assert result.stdout.count("held-out speakers 13 (21 utterances)") == 1
        # Every parameter is used: DDP is not told to search for unused ones (and warn).
        assert "find_unused_parameters=True" not in result.stderr
        assert "mismatched key_padding_mask" not in result.stderr
        results = json.loads((tmp_path / "ddp" / "results.json").read_text())
        assert results["folds"][0]["num_test"] == 21
        model = FlamForSequenceClassification.from_pretrained(tmp_path / "ddp")
        assert model.config.num_labels == 7
        assert sorted(path.name for path in (tmp_path / "ddp" / "trainer").iterdir()) == [
            "checkpoint-20"
        ]
