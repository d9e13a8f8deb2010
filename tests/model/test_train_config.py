import pytest
import torch

from seginterp.model.train_config import TrainConfig, auto_workers, build_scheduler


def test_bad_config_values_are_errors():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=-1)
    for bad in (-1, "many"):
        with pytest.raises(ValueError, match="num_workers must be >= 0 or auto"):
            TrainConfig(num_workers=bad)
    with pytest.raises(ValueError, match="checkpoint_every must be >= 1"):
        TrainConfig(checkpoint_every=0)


def test_auto_workers_leave_a_core_to_training():
    assert [auto_workers(c) for c in (1, 2, 3, 5, 64)] == [0, 1, 2, 4, 4]
    assert TrainConfig(num_workers="auto").workers == auto_workers()
    assert TrainConfig(num_workers=3).workers == 3


def test_checkpoint_every_n_epochs_and_after_the_last():
    c = TrainConfig(epochs=5, checkpoint_every=2)
    assert [e for e in range(5) if c.checkpoint_due(e)] == [1, 3, 4]
    assert all(TrainConfig(epochs=5).checkpoint_due(e) for e in range(5))


def test_plateau_halves_the_rate_after_patience_epochs_without_gain():
    opt = torch.optim.Adam(torch.nn.Linear(2, 1).parameters(), lr=1e-3)
    sched = build_scheduler(TrainConfig(lr_schedule="plateau", lr_patience=1), opt)
    lrs = []
    for val_iou in (0.5, 0.6, 0.6, 0.55, 0.7, 0.7):
        sched.step(val_iou)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4]


def test_bad_schedule_is_refused():
    with pytest.raises(ValueError, match="lr_schedule must be one of none, plateau, cosine"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="lr_factor must be in"):
        TrainConfig(lr_factor=1.5)
