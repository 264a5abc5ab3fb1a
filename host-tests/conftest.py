import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "envoy"))

import pytest


@pytest.fixture(scope="module")
def mock():
    """The mock LLM/MCP upstream, one per test module."""
    import harness

    m = harness.Mock()
    yield m
    m.stop()
