"""Sharing results through DVC remotes: a collaborator's clone + pull + repro recomputes nothing.

Real DVC against real servers on 127.0.0.1 only: a shared directory, an S3 API (`moto_server`)
and an OpenSSH server, each started by the test on a free port and killed in teardown. The
pipeline is the project's download + preprocess stages on a tiny synthetic config.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from support import ROOT, isolated_env, ran_stages, run_cmd, small_synthetic_params, status_clean

STAGES = ("check", "download", "preprocess")
PARAMS = small_synthetic_params()
DVC = [sys.executable, "-m", "dvc"]
DVC_TIMEOUT = 180  # any DVC command; a remote that hangs fails the test instead of CI
ERROR_TIMEOUT = 90  # DVC commands expected to fail fast
SERVER_START_TIMEOUT = 30
BUCKET = "seginterp-test"
PREPARED = Path("data/synthetic/prepared")

Repo = tuple[Path, dict[str, str]]


# ------------------------------------------------------------------------------------ helpers


def dvc(repo: Path, env: Mapping[str, str], *args: str) -> str:
    return run_cmd([*DVC, *args], repo, env, timeout=DVC_TIMEOUT)


def dvc_fails(repo: Path, env: Mapping[str, str], *args: str) -> str:
    """Run a DVC command that must fail (bounded by ERROR_TIMEOUT); return its output."""
    r = subprocess.run(
        [*DVC, *args], cwd=repo, env=dict(env), capture_output=True, text=True,
        timeout=ERROR_TIMEOUT,
    )  # fmt: skip
    out = r.stdout + r.stderr
    if r.returncode == 0:
        raise AssertionError(f"dvc {' '.join(args)} succeeded but should fail:\n{out}")
    return out


def git(repo: Path, env: Mapping[str, str], *args: str) -> str:
    return run_cmd(["git", *args], repo, env, timeout=60)


def ran(out: str) -> list[str]:
    """Stages that a `dvc repro` output says it ran (the always-run check stage left out)."""
    return ran_stages(out)


def set_image_size(repo: Path, size: int) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["synthetic"]["preprocess"]["image_size"] = size
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def collaborator_env(tmp_path: Path, name: str = "collaborator") -> dict[str, str]:
    """A second user: own HOME, DVC site cache and config dirs."""
    base = tmp_path / name
    base.mkdir()
    return isolated_env(base)


def checkout_env(env: Mapping[str, str], checkout: Path) -> dict[str, str]:
    """``env`` as on a developer's machine: the stages import this checkout's ``src/`` (as after
    ``pip install -e .``) and Python writes ``src/seginterp/__pycache__/`` while they run."""
    real = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    real["PYTHONPATH"] = str(checkout / "src")
    return real


@pytest.fixture
def project(dvc_repo) -> Repo:
    """The tiny pipeline with the project's .dvcignore and git-ignored bytecode, committed, and
    a :func:`checkout_env` for it."""
    repo, env = dvc_repo(PARAMS, STAGES)
    shutil.copy(ROOT / ".dvcignore", repo / ".dvcignore")
    with (repo / ".gitignore").open("a") as fh:
        fh.write("__pycache__/\n")
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "project ignore rules")
    return repo, checkout_env(env, repo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], log: Path, banner: bytes = b"") -> None:
    """Wait until ``proc`` accepts connections on 127.0.0.1:``port`` (and sends ``banner``)."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if not banner or s.recv(64).startswith(banner):
                    return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    raise TimeoutError(
        f"no server on 127.0.0.1:{port} after {SERVER_START_TIMEOUT}s:\n{log.read_text()}"
    )


def start_server(args: list[str], log: Path) -> subprocess.Popen[Any]:
    """Start a server in its own process group (so teardown also reaches its children)."""
    with log.open("w") as fh:  # the child keeps its own descriptor
        return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the server's process group, SIGKILL it after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return  # the whole group is gone already
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue
    raise RuntimeError(f"server pid {proc.pid} survived SIGKILL")


# ----------------------------------------------------------------------------------- scenario


def share_and_reproduce(
    repo: Path,
    env: dict[str, str],
    clone: Path,
    env2: dict[str, str],
    setup_clone: Callable[[Path], None] = lambda _: None,
) -> None:
    """The first user runs and pushes; a collaborator clones, pulls and reproduces nothing.

    Then the first user changes a param, runs and pushes the run-cache without committing; the
    collaborator sets the same param and `dvc repro --pull` restores the result instead of running.
    The remote is already in the committed .dvc/config of ``repo``; ``setup_clone`` adds the
    collaborator's own credentials.
    """
    assert ran(dvc(repo, env, "repro")) == ["download@synthetic", "preprocess@synthetic"]
    # the stages wrote bytecode into the src/seginterp dependency; .dvcignore keeps it out
    assert any((repo / "src" / "seginterp" / "__pycache__").glob("*.pyc"))
    assert status_clean(dvc(repo, env, "status"))
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "results")
    dvc(repo, env, "push")

    run_cmd(["git", "clone", "-q", str(repo), str(clone)], clone.parent, env2, timeout=60)
    setup_clone(clone)
    dvc(clone, env2, "pull")
    assert ran(dvc(clone, env2, "repro")) == []
    assert status_clean(dvc(clone, env2, "status"))
    for name in ("train_images.npy", "test_masks.npy", "manifest.parquet"):
        assert (clone / PREPARED / name).read_bytes() == (repo / PREPARED / name).read_bytes()

    set_image_size(repo, 24)
    assert ran(dvc(repo, env, "repro")) == ["preprocess@synthetic"]
    dvc(repo, env, "push", "--run-cache")

    dvc(clone, env2, "pull", "--run-cache")
    set_image_size(clone, 24)
    out = dvc(clone, env2, "repro", "--pull")
    assert ran(out) == [], out
    assert "Stage 'preprocess@synthetic' is cached - skipping run" in out
    assert status_clean(dvc(clone, env2, "status"))
    assert np.load(clone / PREPARED / "train_images.npy").shape == (18, 24, 24, 3)
    assert (clone / "dvc.lock").read_text() == (repo / "dvc.lock").read_text()


def commit_remote(repo: Path, env: dict[str, str], name: str, url: str, *options: str) -> None:
    """`dvc remote add -d` + `dvc remote modify` options (pairs), committed to git."""
    dvc(repo, env, "remote", "add", "-d", name, url)
    for key, value in zip(options[::2], options[1::2], strict=True):
        dvc(repo, env, "remote", "modify", name, key, value)
    git(repo, env, "add", ".dvc/config")
    git(repo, env, "commit", "-q", "-m", f"remote {name}")


def assert_private(repo: Path, env: dict[str, str], secret: str) -> None:
    """.dvc/config.local is git-ignored and ``secret`` is in no committed file."""
    git(repo, env, "check-ignore", "-q", ".dvc/config.local")
    tracked = git(repo, env, "ls-files").split()
    assert not any(secret in (repo / f).read_text(errors="ignore") for f in tracked)


# ------------------------------------------------------------------------------ project guard


def _outputs(stage: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    body = stage.get("do", stage)
    for kind in ("outs", "metrics", "plots"):
        for entry in body.get(kind) or []:
            if isinstance(entry, str):
                yield entry, {}
            else:
                for path, opts in entry.items():
                    yield path, opts or {}


def test_project_outputs_are_cached_so_collaborators_skip_recomputation() -> None:
    """A `cache: false` or `persist: true` output is never pushed / keeps its stage out of the
    run-cache (DVC 3.67): a collaborator would have to recompute that stage."""
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    bad = [
        f"{name}: {path}"
        for name, stage in pipeline["stages"].items()
        for path, opts in _outputs(stage)
        if opts.get("cache", True) is False or opts.get("persist", False) is True
    ]
    assert bad == [], "outputs that collaborators cannot pull or restore from the run-cache"


# ------------------------------------------------------------------------------ local remote


@pytest.mark.slow
def test_directory_remote_collaborator_recomputes_nothing(project: Repo, tmp_path: Path) -> None:
    repo, env = project
    store = tmp_path / "shared-remote"
    commit_remote(repo, env, "shared", str(store))
    clone = tmp_path / "clone"
    share_and_reproduce(repo, env, clone, checkout_env(collaborator_env(tmp_path), clone))
    assert any((store / "files" / "md5").iterdir())
    assert any((store / "runs").iterdir())


# --------------------------------------------------------------------------------- S3 (moto)


def s3_env(env: Mapping[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    """``env`` without any AWS credential or profile, instance metadata lookups or proxies."""
    clean = {k: v for k, v in env.items() if not k.startswith("AWS_") and "proxy" not in k.lower()}
    clean.update(
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
    )
    clean.update(extra)
    return clean


@pytest.fixture
def moto_s3(tmp_path: Path) -> Iterator[str]:
    """A moto S3 server on a free 127.0.0.1 port holding bucket BUCKET; yields its endpoint."""
    import boto3
    from botocore.config import Config

    port = free_port()
    log = tmp_path / "moto.log"
    proc = start_server(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log
    )
    try:
        wait_for_port(port, proc, log)
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
        )  # fmt: skip
        s3.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        stop_server(proc)


def _s3_keys(endpoint: str, prefix: str) -> list[str]:
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.mark.slow
def test_s3_remote_collaborator_recomputes_nothing(
    project: Repo, tmp_path: Path, moto_s3: str
) -> None:
    repo, env = project
    env = s3_env(env, tmp_path)
    commit_remote(repo, env, "s3", f"s3://{BUCKET}/dvcstore", "endpointurl", moto_s3)
    # first user: credentials in .dvc/config.local (git-ignored)
    dvc(repo, env, "remote", "modify", "--local", "s3", "access_key_id", "alice-key-id")
    dvc(repo, env, "remote", "modify", "--local", "s3", "secret_access_key", "alice-secret-1")
    assert_private(repo, env, "alice-secret-1")
    # collaborator: credentials in the environment
    clone = tmp_path / "clone"
    env2 = s3_env(
        checkout_env(collaborator_env(tmp_path), clone), tmp_path,
        AWS_ACCESS_KEY_ID="bob-key-id", AWS_SECRET_ACCESS_KEY="bob-secret-2",
    )  # fmt: skip
    share_and_reproduce(repo, env, clone, env2)
    assert not (clone / ".dvc" / "config.local").exists()
    assert _s3_keys(moto_s3, "dvcstore/files/md5/") and _s3_keys(moto_s3, "dvcstore/runs/")


@pytest.mark.slow
def test_s3_missing_credentials_or_bucket_is_a_clear_error(
    dvc_repo, tmp_path: Path, moto_s3: str
) -> None:
    repo, env = dvc_repo(PARAMS, STAGES)
    env = s3_env(env, tmp_path)
    (repo / "hello.txt").write_text("hello\n")
    dvc(repo, env, "add", "hello.txt")
    commit_remote(repo, env, "s3", f"s3://{BUCKET}/dvcstore", "endpointurl", moto_s3)
    out = dvc_fails(repo, env, "push")
    assert "ERROR" in out and "Unable to locate credentials" in out, out

    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    dvc(repo, env, "remote", "add", "missing", "s3://no-such-bucket/dvcstore")
    dvc(repo, env, "remote", "modify", "missing", "endpointurl", moto_s3)
    out = dvc_fails(repo, {**env, **creds}, "push", "-r", "missing")
    assert "ERROR" in out and "The specified bucket does not exist" in out, out
    assert "1 file pushed" in dvc(repo, {**env, **creds}, "push")  # the real bucket works


# ------------------------------------------------------------------------------ SSH (OpenSSH)


@dataclass(frozen=True)
class SshServer:
    port: int
    user: str
    key: Path  # private key whose public half is authorized
    root: Path  # a directory the tests may use as remote storage


def _sshd_binary() -> Path | None:
    found = shutil.which("sshd") or "/usr/sbin/sshd"
    return Path(found).resolve() if Path(found).is_file() else None


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    """A real OpenSSH server on a free 127.0.0.1 port: temporary host key, one generated
    authorized key for the current user, public-key auth only, SFTP."""
    binary = _sshd_binary()
    if binary is None:
        pytest.skip("OpenSSH server not installed (apt-get install openssh-server; .ci/run does)")
    privsep = Path("/run/sshd")  # compiled-in; Debian's service creates it, a bare container not
    if not privsep.is_dir() and os.geteuid() == 0:
        privsep.mkdir(mode=0o755, parents=True)
    d = tmp_path / "sshd"
    d.mkdir()
    for name in ("host_key", "client_key"):
        cmd = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(d / name)]
        run_cmd(cmd, d, os.environ, timeout=30)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    port = free_port()
    config = d / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
        "StrictModes no\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\nLogLevel VERBOSE\n"
    )
    # sshd re-executes itself, so it needs its absolute path; -t checks the config first
    run_cmd([str(binary), "-t", "-f", str(config)], d, os.environ, timeout=30)
    log = d / "sshd.log"
    proc = start_server([str(binary), "-D", "-e", "-f", str(config)], log)
    try:
        wait_for_port(port, proc, log, banner=b"SSH-2.0")
        (d / "storage").mkdir()
        yield SshServer(port=port, user=getpass.getuser(), key=d / "client_key", root=d / "storage")
    finally:
        stop_server(proc)


def _ssh_url(server: SshServer, name: str) -> str:
    return f"ssh://127.0.0.1:{server.port}{server.root / name}"


@pytest.mark.slow
def test_ssh_remote_collaborator_recomputes_nothing(
    project: Repo, tmp_path: Path, sshd: SshServer
) -> None:
    repo, env = project
    url = _ssh_url(sshd, "dvcstore")
    # one account on this server for both users; per-person accounts go to --local (README)
    commit_remote(repo, env, "cluster", url, "user", sshd.user, "timeout", "30")
    # the key file is per user: .dvc/config.local, never committed
    dvc(repo, env, "remote", "modify", "--local", "cluster", "keyfile", str(sshd.key))
    assert_private(repo, env, str(sshd.key))

    def setup_clone(clone: Path) -> None:
        dvc(clone, env2, "remote", "modify", "--local", "cluster", "keyfile", str(sshd.key))

    clone = tmp_path / "clone"
    env2 = checkout_env(collaborator_env(tmp_path), clone)
    share_and_reproduce(repo, env, clone, env2, setup_clone)
    assert any((sshd.root / "dvcstore" / "files" / "md5").iterdir())
    assert any((sshd.root / "dvcstore" / "runs").iterdir())


@pytest.mark.slow
def test_ssh_missing_key_is_a_clear_error(dvc_repo, tmp_path: Path, sshd: SshServer) -> None:
    repo, env = dvc_repo(PARAMS, STAGES)
    env = {k: v for k, v in env.items() if k != "SSH_AUTH_SOCK"}  # no agent keys either
    (repo / "hello.txt").write_text("hello\n")
    dvc(repo, env, "add", "hello.txt")
    commit_remote(
        repo, env, "cluster", _ssh_url(sshd, "dvcstore"), "user", sshd.user, "timeout", "20"
    )
    out = dvc_fails(repo, env, "push")
    assert "ERROR" in out and f"Permission denied for user {sshd.user} on host 127.0.0.1" in out
    dvc(repo, env, "remote", "modify", "--local", "cluster", "keyfile", str(sshd.key))
    assert "1 file pushed" in dvc(repo, env, "push")
