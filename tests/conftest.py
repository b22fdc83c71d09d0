"""Shared test configuration.

Under CI (the CI environment variable is set) hypothesis draws the same examples on every
run, so a landing is never refused by a lucky draw; on developers' machines it draws new
examples each run and keeps finding new cases.
"""

import os

import pytest
from hypothesis import settings

from autograd import OPS

settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def fresh_ops():
    """Forget primitives a test registers, so later tests see only the built-in table."""
    before = set(OPS)
    yield
    for name in set(OPS) - before:
        del OPS[name]
