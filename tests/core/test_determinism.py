import pytest
import torch

from seginterp.core import determinism


def test_cpu_threads_param() -> None:
    assert determinism.cpu_threads({}) is None
    assert determinism.cpu_threads({"scale": {"cpu_threads": None}}) is None
    assert determinism.cpu_threads({"scale": {"cpu_threads": 3}}) == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"scale.cpu_threads must be an integer >= 1 or null"):
            determinism.cpu_threads({"scale": {"cpu_threads": bad}})


def test_env_is_set_only_where_the_user_has_not() -> None:
    env = {"MKL_CBWR": "COMPATIBLE"}
    determinism.export_env(env)
    assert env == {"MKL_CBWR": "COMPATIBLE", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


def test_make_deterministic_fixes_threads_and_algorithms(monkeypatch) -> None:
    monkeypatch.delenv("MKL_CBWR", raising=False)
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    try:
        assert determinism.make_deterministic({"scale": {"cpu_threads": 1}}) == 1
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        import os

        assert os.environ["MKL_CBWR"] == "AUTO,STRICT"
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])
