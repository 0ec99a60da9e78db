# SPDX-License-Identifier: Apache-2.0
import os
import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

import tuss_plugin  # noqa: E402,F401  (registers the plugin)

# intra-op threads of a test: the machine's cores shared by the pytest-xdist
# workers (2 cores, 1 worker: 2 threads; 2 workers: 1 each), at most 2
THREADS = max(1, min(2, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)
    yield


@pytest.fixture
def one_thread():
    """One intra-op thread, for tests of tiny models that only lose from threading on a shared machine
    (use with ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def bf16_runs(monkeypatch):
    """Lets explicit bf16 requests run on a CPU that would emulate bf16 (AVX2
    only: refused by default, see ``tuss_plugin.precision.check_bf16_request``);
    tests that use it keep their bf16 work tiny, as emulation is ~100x slower."""
    from tuss_plugin import precision

    monkeypatch.setenv(precision.ALLOW_EMULATED_BF16, "1")
    return bool(precision.cpu_bf16_units())


@pytest.fixture
def fixture_dir() -> Path:
    return TESTS / "fixtures" / "reference_tuss"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """The reference fixture checkpoint imported once (config.yaml + model.pth); read-only for tests."""
    from tuss_plugin.bin import import_release

    fx = TESTS / "fixtures" / "reference_tuss"
    out = tmp_path_factory.mktemp("model")
    assert (
        import_release.main(
            ["--hparams", str(fx / "hparams.yaml"), "--checkpoint", str(fx / "model.pth"), "--outdir", str(out)]
        )
        == 0
    )
    return out


def pytest_configure(config):
    # SWIG-generated modules imported by dependencies (sentencepiece) on Python 3.12+
    config.addinivalue_line("filterwarnings", "ignore:builtin type .* has no __module__ attribute")
    config.addinivalue_line("markers", "slow: end-to-end tests (recipe runs)")
