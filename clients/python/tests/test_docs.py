"""docs/python.md's walkthrough, run as written against the embedded emulator and a real worker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, Deployment

DOC = (REPO / "docs" / "python.md").read_text()


def walkthrough() -> str:
    """The ```python blocks from "run as written" to the next section."""
    start = DOC.index("is run as written")
    end = DOC.index("\n## ", start)
    blocks = re.findall(r"```python\n(.*?)```", DOC[start:end], re.S)
    assert len(blocks) >= 5, "docs/python.md lost its walkthrough"
    return "\n".join(blocks)


def test_the_python_walkthrough_runs_as_written(deployment: Deployment, tmp_path: Path) -> None:
    env = {**deployment.env, "PYTHONPATH": str(REPO / "clients" / "python")}
    out = subprocess.run(
        [sys.executable, "-c", walkthrough()], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.fullmatch(r"\{'samples': 1000000, 'inside': \d+, 'estimate': 3\.1\d*\}", lines[0])
    assert re.fullmatch(r"b\d{8}-\d{6}-[0-9a-f]{6} 101", lines[1])
    assert "101 / 101" in lines  # progress, until every job is done
    assert lines[-6:-2] == ["True 101", "{'n': 42}", "0 101", "UnknownJobTypeError"]
    assert lines[-2] == "{'count': 4, 'sum': 10, 'mean': 2.5, 'stdev': 1.118033988749895}"
    assert lines[-1] == (
        "the command exited with code 65 (do not retry): job j000001: payload needs a non-empty 'numbers' list"
    )
