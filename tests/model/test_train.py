from pathlib import Path

import numpy as np
import pytest
import torch

from seginterp.model import train as training
from seginterp.model.augment import AugmentConfig
from seginterp.model.net import ModelConfig, load_model
from seginterp.model.train import TrainConfig, TrainingError, train

TINY = ModelConfig(encoder="resnet18", decoder_channels=(16, 8, 8, 4, 4))


def blobs(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bright discs on a dark noisy background: images (n,s,s,3) uint8, masks (n,s,s)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = rng.integers(0, 60, (n, size, size, 3)).astype(np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx = rng.integers(6, size - 6, 2)
        r = rng.integers(4, 9)
        m = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        masks[i] = m
        images[i][m] += 150
    return images, masks


def cfg(**kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=4, lr=1e-3, augment=AugmentConfig(), seed=3, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def run(tmp: Path, c: TrainConfig, on_epoch=None):
    tr, va = blobs(12, seed=1), blobs(4, seed=2)
    return train(TINY, c, tr, va, tmp / "model.pt", tmp / "resume" / "last.pt", on_epoch, False)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_same_seed_same_metrics(tmp_path):
    a = run(tmp_path / "a", cfg())
    b = run(tmp_path / "b", cfg())
    assert a.history == b.history
    assert len(a.history) == 3
    assert not (tmp_path / "a" / "resume" / "last.pt").exists()  # removed after success
    c = run(tmp_path / "c", cfg(seed=4))
    assert c.history != a.history


def test_interrupted_training_resumes_to_the_same_model(tmp_path):
    full = run(tmp_path / "full", cfg())

    def stop_after_second_epoch(epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", cfg(), stop_after_second_epoch)
    assert (tmp_path / "cut" / "resume" / "last.pt").exists()
    assert not (tmp_path / "cut" / "model.pt").exists()
    seen = []
    resumed = run(tmp_path / "cut", cfg(), lambda e, m: seen.append(e))
    assert resumed.resumed_from == 2
    assert seen == [0, 1, 2]  # replayed epochs first, so curves are complete
    assert resumed.history == full.history
    m1, _, _ = load_model(tmp_path / "full" / "model.pt")
    m2, _, _ = load_model(tmp_path / "cut" / "model.pt")
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        torch.testing.assert_close(v1, v2, msg=k)


def test_checkpoint_of_another_config_is_ignored(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, cfg(), lambda e, m: (_ for _ in ()).throw(KeyboardInterrupt))
    res = run(tmp_path, cfg(lr=2e-3))
    assert res.resumed_from is None


def test_non_finite_loss_names_epoch_and_batch(tmp_path, monkeypatch):
    def nan_loss(logits, target, weights):
        return logits.sum() * float("nan"), {}

    monkeypatch.setattr(training, "segmentation_loss", nan_loss)
    with pytest.raises(TrainingError, match=r"epoch 1, batch 1"):
        run(tmp_path, cfg())


def test_model_learns_blobs(tmp_path):
    res = run(tmp_path, cfg(epochs=6, augment=AugmentConfig(p=0.0), lr=3e-3))
    assert res.history[-1]["train/loss"] < res.history[0]["train/loss"]


def test_bad_config_values_are_errors():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
