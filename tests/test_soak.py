"""The soak at a small size (3 simulated days, 20 connections, a few seconds):
the same code as bench/soak.py, which runs 30 days by hand."""
import importlib.util
import os

from tests.conftest import TEST_TOKEN_KEY
from tests.sidecar_helpers import fake, service_config  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_soak():
    spec = importlib.util.spec_from_file_location("bench_soak", os.path.join(ROOT, "bench",
                                                                             "soak.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_three_simulated_days_against_a_flaky_exact(app, fake):  # noqa: F811
    soak = load_soak()
    config = service_config(fake.url, TOKEN_ENCRYPTION_KEYS=TEST_TOKEN_KEY, SIDECAR_WORKERS=4)
    report = soak.run_soak(config, fake, days=3, connections=20, seed=14)
    assert report["problems"] == []
    assert report["cycles"] == 3 * 288
    assert report["leases_held"] == 0 and report["job_errors"] == 0
    assert sum(report["states"].values()) == 20
    # The scripted connections ended where the state machine says they must ...
    assert report["states"].get("refresh_failed", 0) >= 2
    # ... and the run really was flaky and really refreshed.
    outcomes = report["refresh_attempts_by_outcome"]
    assert outcomes.get("transient", 0) >= 6 and outcomes.get("permanent", 0) >= 2
    assert outcomes.get("success", 0) >= 40  # about one keep-alive a day per connection
    assert report["ladder_steps_checked"] >= 5
    # Housekeeping removed the 90-day-old history planted at the start.
    assert report["oldest_row_days"]["refresh_attempts"] <= 60
    assert report["oldest_row_days"]["login_attempts"] is None
    assert report["memory_growth"] is not None
