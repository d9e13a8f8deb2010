from pathlib import Path

import numpy as np
import torch

from seginterp.model.checkpoint import Progress, fingerprint, read_checkpoint, write_checkpoint
from seginterp.model.net import ModelConfig
from seginterp.model.train import TrainConfig

CFG = ModelConfig(decoder_channels=(16, 8, 8, 4, 4))


def _parts(seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    return net, opt, torch.amp.GradScaler("cuda", enabled=False)


def test_fingerprint_follows_configs_and_data() -> None:
    x = np.zeros((4, 8, 8, 3), np.uint8)
    fp = fingerprint(CFG, TrainConfig(), x)
    assert fp == fingerprint(CFG, TrainConfig(), x.copy())
    assert fp != fingerprint(CFG, TrainConfig(lr=1e-3), x)
    assert fp != fingerprint(ModelConfig(), TrainConfig(), x)
    x[0, 0, 0, 0] = 1
    assert fp != fingerprint(CFG, TrainConfig(), x)


def test_epochs_are_in_the_fingerprint_only_when_the_schedule_uses_them() -> None:
    x = np.zeros((4, 8, 8, 3), np.uint8)
    for schedule in ("none", "plateau"):
        a, b = (TrainConfig(epochs=e, lr_schedule=schedule) for e in (5, 9))
        assert fingerprint(CFG, a, x) == fingerprint(CFG, b, x)
    a, b = (TrainConfig(epochs=e, lr_schedule="cosine") for e in (5, 9))
    assert fingerprint(CFG, a, x) != fingerprint(CFG, b, x)


def test_worker_count_and_checkpoint_interval_are_not_in_the_fingerprint() -> None:
    x = np.zeros((4, 8, 8, 3), np.uint8)
    fp = fingerprint(CFG, TrainConfig(), x)
    assert fp == fingerprint(CFG, TrainConfig(num_workers=3, checkpoint_every=5), x)


def test_best_weights_of_the_written_epoch_are_stored_once(tmp_path: Path) -> None:
    net, opt, scaler = _parts(0)
    best = {k: v.clone() for k, v in net.state_dict().items()}
    progress = Progress(best_iou=0.5, best_epoch=1, best_state=best, history=[{}, {}])
    write_checkpoint(tmp_path / "now.pt", "abc", 1, net, opt, scaler, None, progress)
    write_checkpoint(tmp_path / "before.pt", "abc", 2, net, opt, scaler, None, progress)
    assert (tmp_path / "now.pt").stat().st_size < (tmp_path / "before.pt").stat().st_size
    for name in ("now.pt", "before.pt"):
        other, opt2, scaler2 = _parts(1)
        got = read_checkpoint(tmp_path / name, "abc", torch.device("cpu"), other, opt2, scaler2)
        assert got is not None and got.best_epoch == 1
        for k, v in best.items():
            assert torch.equal(got.best_state[k], v), k


def test_roundtrip_and_foreign_checkpoint(tmp_path: Path) -> None:
    net, opt, scaler = _parts(0)
    progress = Progress(best_iou=0.5, best_epoch=1, history=[{"val/iou": 0.2}, {"val/iou": 0.5}])
    write_checkpoint(tmp_path / "last.pt", "abc", 1, net, opt, scaler, None, progress)
    other, opt2, scaler2 = _parts(1)
    before = other.weight.detach().clone()
    cpu = torch.device("cpu")
    assert read_checkpoint(tmp_path / "last.pt", "xyz", cpu, other, opt2, scaler2) is None
    assert torch.equal(other.weight, before)  # a foreign checkpoint changes nothing
    got = read_checkpoint(tmp_path / "last.pt", "abc", cpu, other, opt2, scaler2)
    assert got == Progress(2, 0.5, 1, None, progress.history, resumed_from=2)
    assert torch.equal(other.weight, net.weight)
    assert (
        read_checkpoint(tmp_path / "last.pt", "abc", cpu, other, opt2, scaler2, max_epochs=1)
        is None
    )
