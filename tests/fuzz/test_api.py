"""schemathesis against the running gateway with every check on (`--checks all`): every route of
/api/openapi.json, with generated valid and invalid requests (admin routes with the admin key), must
answer without a 5xx and only with responses the document describes (status, content type, headers,
body schema), accept every request the document allows and refuse every one it forbids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gateway import ADMIN_KEY

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The CLI from this virtualenv: one seeded, bounded run with the checks of schemathesis.toml, whose
# report is printed when it fails.
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.timeout(300)
def test_every_route_answers_only_what_the_document_describes(gateway_url, tmp_path):
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{gateway_url}/api/openapi.json",
            "--checks",
            "all",
            "--no-color",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        env={**os.environ, "FUZZ_ADMIN_API_KEY": ADMIN_KEY},
        cwd=tmp_path,  # whatever the CLI writes stays out of the repository
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert run.returncode == 0, f"schemathesis found problems:\n{run.stdout}\n{run.stderr}"
