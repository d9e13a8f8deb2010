import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from seginterp.model import epoch as epoch_loop
from seginterp.model.augment import AugmentConfig
from seginterp.model.batches import SegmentationArrays
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
    base = dict(
        epochs=3, batch_size=4, lr=1e-3, augment=AugmentConfig(), seed=3, num_workers=0,
        device="cpu",
    )  # fmt: skip
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
    assert (tmp_path / "a" / "resume" / "last.pt").exists()  # kept: a longer run continues
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

    monkeypatch.setattr(epoch_loop, "segmentation_loss", nan_loss)
    with pytest.raises(TrainingError, match=r"epoch 1, batch 1"):
        run(tmp_path, cfg())


def test_model_learns_blobs(tmp_path):
    res = run(tmp_path, cfg(epochs=6, augment=AugmentConfig(p=0.0), lr=3e-3))
    assert res.history[-1]["train/loss"] < res.history[0]["train/loss"]


@pytest.mark.parametrize("stop_at", [2, 3])
def test_run_cut_between_checkpoints_repeats_epochs_to_the_same_model(tmp_path, stop_at):
    """Checkpoints after epochs 2 and 4 (1-based): a run cut after epoch 3 or 4 resumes from
    epoch 2 or 4 and ends with the history and weights of an uninterrupted run."""
    c = cfg(epochs=5, checkpoint_every=2, lr_schedule="plateau", lr_patience=0)
    full = run(tmp_path / "full", c)
    every = run(tmp_path / "every", cfg(epochs=5, lr_schedule="plateau", lr_patience=0))
    assert every.history == full.history  # checkpoint_every does not change the run
    _same_weights(tmp_path / "full" / "model.pt", tmp_path / "every" / "model.pt")

    def stop(epoch, metrics):
        if epoch == stop_at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", c, stop)
    seen = []
    resumed = run(tmp_path / "cut", c, lambda e, m: seen.append(e))
    assert resumed.resumed_from == (2 if stop_at == 2 else 4)
    assert seen == [0, 1, 2, 3, 4]
    assert resumed.history == full.history
    assert (resumed.best_epoch, resumed.best_val_iou) == (full.best_epoch, full.best_val_iou)
    _same_weights(tmp_path / "full" / "model.pt", tmp_path / "cut" / "model.pt")


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path)[0].state_dict()


def _same_weights(a: Path, b: Path) -> None:
    for (k, v1), v2 in zip(_weights(a).items(), _weights(b).values(), strict=True):
        assert torch.equal(v1, v2), k


@pytest.mark.parametrize("schedule", ["none", "plateau"])
def test_more_epochs_continue_from_a_finished_run(tmp_path, schedule):
    """A schedule that does not depend on ``epochs``: 2 epochs then 4 == 4 epochs at once."""
    c = dict(lr_schedule=schedule, lr_patience=0)
    full = run(tmp_path / "full", cfg(epochs=4, **c))
    short = run(tmp_path / "cont", cfg(epochs=2, **c))
    assert short.resumed_from is None and len(short.history) == 2
    longer = run(tmp_path / "cont", cfg(epochs=4, **c))
    assert longer.resumed_from == 2
    assert longer.history == full.history
    _same_weights(tmp_path / "full" / "model.pt", tmp_path / "cont" / "model.pt")
    again = run(tmp_path / "cont", cfg(epochs=4, **c))  # nothing left to train: same model
    assert again.resumed_from == 4 and again.history == full.history


def test_fewer_epochs_or_an_epoch_dependent_schedule_restart(tmp_path):
    run(tmp_path, cfg(epochs=3))
    assert run(tmp_path, cfg(epochs=2)).resumed_from is None  # cannot shorten a finished run
    run(tmp_path / "cos", cfg(epochs=2, lr_schedule="cosine"))
    res = run(tmp_path / "cos", cfg(epochs=3, lr_schedule="cosine"))
    assert res.resumed_from is None  # the cosine curve depends on epochs


def test_schedules_change_the_rate(tmp_path):
    cosine = run(tmp_path / "c", cfg(epochs=3, lr_schedule="cosine"))
    lrs = [h["lr"] for h in cosine.history]
    assert lrs[0] == 1e-3 and lrs[0] > lrs[1] > lrs[2] > 0
    constant = run(tmp_path / "n", cfg(epochs=2))
    assert [h["lr"] for h in constant.history] == [1e-3, 1e-3]


@pytest.mark.parametrize("schedule", ["plateau", "cosine"])
def test_interrupted_scheduled_run_resumes_exactly(tmp_path, schedule):
    c = cfg(epochs=3, lr_schedule=schedule, lr_patience=0)
    full = run(tmp_path / "full", c)

    def stop(epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", c, stop)
    resumed = run(tmp_path / "cut", c)
    assert resumed.resumed_from == 2 and resumed.history == full.history
    _same_weights(tmp_path / "full" / "model.pt", tmp_path / "cut" / "model.pt")


def test_worker_count_does_not_change_the_run(tmp_path, monkeypatch):
    """Augmentation is seeded per item, so DataLoader workers draw what the main process would;
    the same workers serve every epoch, and each epoch's seed reaches them."""
    log = tmp_path / "loads.txt"
    get = SegmentationArrays.__getitem__

    def logged(self, key):
        with log.open("a") as fh:  # one short append per item: whole lines from any process
            fh.write(f"{os.getpid()} {key[0]}\n")
        return get(self, key)

    monkeypatch.setattr(SegmentationArrays, "__getitem__", logged)
    aug = AugmentConfig(p=0.9)
    a = run(tmp_path / "w0", cfg(epochs=3, num_workers=0, augment=aug))
    log.unlink()
    b = run(tmp_path / "w2", cfg(epochs=3, num_workers=2, augment=aug))
    assert a.history == b.history
    _same_weights(tmp_path / "w0" / "model.pt", tmp_path / "w2" / "model.pt")
    loads = [line.split() for line in log.read_text().splitlines()]
    pids, seeds = {p for p, _ in loads}, sorted({int(s) for _, s in loads})
    assert len(pids) == 2 and str(os.getpid()) not in pids  # two workers for the whole run
    assert seeds == [3 * 100_003 + e for e in range(3)]
    c = run(tmp_path / "auto", cfg(epochs=3, num_workers="auto", augment=aug))
    assert c.history == a.history


def test_imported_weights_are_kept_with_zero_epochs_and_fine_tuned_otherwise(tmp_path):
    from seginterp.model.external import import_pretrained
    from seginterp.model.net import build_model, save_model

    torch.manual_seed(7)
    theirs = build_model(TINY).eval()
    save_model(tmp_path / "theirs.pt", theirs, TINY)
    init = import_pretrained(dataclasses.replace(TINY, pretrained=str(tmp_path / "theirs.pt")), 32)
    seen = []
    kept = train(TINY, cfg(epochs=0), blobs(12, seed=1), blobs(4, seed=2), tmp_path / "k.pt",
                 tmp_path / "resume" / "k.pt", lambda e, m: seen.append((e, sorted(m))), False,
                 init=init)  # fmt: skip
    model, _, extra = load_model(tmp_path / "k.pt")
    for k, v in theirs.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k  # no training step: the same weights
    assert seen == [(-1, ["val/dice", "val/iou", "val/loss"])] and extra["epochs"] == 0
    assert kept.best_epoch == 0 and kept.best_val_iou == kept.history[0]["val/iou"]
    assert not (tmp_path / "resume" / "k.pt").exists()
    tuned = train(TINY, cfg(epochs=1), blobs(12, seed=1), blobs(4, seed=2), tmp_path / "t.pt",
                  tmp_path / "resume" / "t.pt", None, False, init=init)  # fmt: skip
    scratch = run(tmp_path / "s", cfg(epochs=1))
    assert tuned.history != scratch.history  # fine-tuned from the import, not from random
    with pytest.raises(TrainingError, match="epochs 0 keeps an imported model"):
        run(tmp_path / "z", cfg(epochs=0))
