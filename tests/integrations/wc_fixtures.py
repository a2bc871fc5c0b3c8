"""WooCommerce's published REST v3 examples, shared by the WooCommerce tests."""

import json
from pathlib import Path

import pytest

# Copies of WooCommerce's published examples (tests/fixtures/README.md says where each came from).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce"


def load(name):
    """The parsed fixture; a missing file fails the test (never skips it): they are a precondition."""
    path = FIXTURES / name
    if not path.is_file():
        pytest.fail(f"missing WooCommerce fixture {path}")
    return json.loads(path.read_text(encoding="utf-8"))
