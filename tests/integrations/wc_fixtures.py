"""WooCommerce's published REST v3 examples, shared by the WooCommerce tests."""

import json
from pathlib import Path

import pytest

# tests/integrations/ → tests/ → the repo → its parent, where ../shared lives.
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "woocommerce"


def load(name):
    """The parsed fixture; a missing file fails the test (never skips it): they are a precondition."""
    path = FIXTURES / name
    if not path.is_file():
        pytest.fail(f"missing WooCommerce fixture {path} (expected ../shared next to the repo)")
    return json.loads(path.read_text(encoding="utf-8"))
