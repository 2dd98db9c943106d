"""hub-stripe installs alone next to the hub and needs nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.testing import assert_installs_alone


@pytest.mark.installs_packages
def test_plugin_installs_alone_and_loads(tmp_path):
    assert_installs_alone(Path(__file__).resolve().parents[1], tmp_path, connector="stripe", distribution="hub-stripe")
