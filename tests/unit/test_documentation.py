"""The documentation stands on its own: the README stays a short entry point, and nothing in the
repository refers to a file outside it."""

from __future__ import annotations

import re
import subprocess

from tests.support.processes import REPO_ROOT

# Assembled, so that this file does not match itself.
_OUTSIDE = re.compile("|".join([r"\.\./" + "shared", "SPEC" + r"\.md", "SPEC" + " §"]))


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


def test_the_readme_is_an_entry_point_of_at_most_300_lines():
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    for page in (
        "docs/design.md",
        "docs/api.md",
        "docs/configuration.md",
        "docs/operations.md",
        "docs/testing.md",
    ):
        assert f"]({page})" in readme, f"the README does not link {page}"
        assert (REPO_ROOT / page).is_file()


def test_nothing_refers_to_a_file_outside_the_repository():
    offenders = []
    for name in tracked_files():
        path = REPO_ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if _OUTSIDE.search(line)]
    assert offenders == []
