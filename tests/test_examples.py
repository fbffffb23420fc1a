"""The examples run and say what they promise (those that need no optional package)."""

import os
import subprocess
import sys

import pytest

import fastnn

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def run_example(name, *args):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(fastnn.__file__)))
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_xor_example(tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "xor.png"
    result = run_example("xor.py", "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    single, hidden = result.stdout.splitlines()[:2]
    assert "4/4 right" not in single and "4/4 right" in hidden
    assert plot.stat().st_size > 1000
