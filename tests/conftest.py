"""Hypothesis profiles: "ci" (default) keeps CI fast; HYPOTHESIS_PROFILE=thorough for local runs."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_sessionstart(session):
    """Compile (or load from numba's cache) the entropy coder once, up front: the first call
    in a fresh install takes seconds, which per-example deadlines would blame on a test."""
    import numpy as np

    from vqcodec import entropy

    coded = entropy.encode_labels(np.zeros(64, np.uint8), 8, 8, 1, limit=64)
    entropy.decode_labels(coded, 8, 8, 1)
