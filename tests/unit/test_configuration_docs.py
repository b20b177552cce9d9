"""docs/configuration.md and .env.example against the code: every environment variable the code reads
is documented in both, and neither names a variable nothing reads."""

from __future__ import annotations

import re

from tests.support.processes import REPO_ROOT
from tests.support.variables import all_variables, variables_by_service

# Read by docker-compose.yml itself, not by the code.
COMPOSE_ONLY = {"GATEWAY_PUBLISH_PORT"}
_READ = re.compile(r"""(?:os\.environ(?:\.get)?[\[(]|os\.getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_NAME = re.compile(r"`([A-Z][A-Z0-9_]*)`")
# The operating system's, passed on to child processes: not settings of this project.
_NOT_OURS = {"PATH", "HOME"}


def variables_read_by_tests_and_bench() -> set[str]:
    """What the test suite and the benchmark read from the environment (the services read theirs
    through services.runtime.config.Environment, which tests.support.variables records)."""
    found: set[str] = set()
    for folder in ("tests", "bench"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            found |= set(_READ.findall(path.read_text()))
        for path in (REPO_ROOT / folder).rglob("*.toml"):
            found |= set(_PLACEHOLDER.findall(path.read_text()))
    return found - _NOT_OURS


def documented_by_section() -> dict[str, set[str]]:
    """The variables named in the first column of each `## ` section's tables."""
    sections: dict[str, set[str]] = {}
    current = ""
    for line in (REPO_ROOT / "docs" / "configuration.md").read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = set()
        elif line.startswith("|") and current:
            first_column = line.split("|")[1]
            sections[current] |= set(_NAME.findall(first_column))
    return sections


def env_example() -> set[str]:
    names = set()
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            names.add(line.partition("=")[0].strip())
    return names


def test_the_services_table_lists_every_variable_the_services_read_and_nothing_else():
    documented = documented_by_section()["The services"]
    assert all_variables() - documented == set(), "read by a service but not documented"
    assert documented - all_variables() == set(), "documented but read by no service"


def test_the_used_by_column_names_the_services_that_read_each_variable():
    every_grpc_service = {"consent", "notifier", "chat"}
    aliases = {"every gRPC service": every_grpc_service, "every service": every_grpc_service | {"gateway"}}
    read_by = variables_by_service()
    wrong = []
    for line in (REPO_ROOT / "docs" / "configuration.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        names = _NAME.findall(cells[0]) if len(cells) == 4 else []
        if not names:
            continue
        used_by = aliases.get(cells[2]) or {part.strip() for part in cells[2].split(",")}
        readers = {service for service, variables in read_by.items() if set(names) & variables}
        if used_by != readers:
            wrong.append(f"{', '.join(names)}: documented {sorted(used_by)}, read by {sorted(readers)}")
    assert wrong == []


def test_the_compose_and_test_tables_list_what_compose_tests_and_bench_read():
    sections = documented_by_section()
    assert sections["docker-compose only"] == COMPOSE_ONLY
    assert sections["Tests and benchmarks"] == variables_read_by_tests_and_bench()


def test_env_example_lists_every_variable_the_services_read_and_nothing_else():
    listed = env_example()
    assert all_variables() - listed == set(), "read by a service but missing from .env.example"
    assert listed - all_variables() == COMPOSE_ONLY


def test_the_recogniser_finds_the_variables_tests_and_bench_read():
    # The scan above must see each way the code reads a variable, or the table could go stale silently.
    assert {"TEST_DATABASE_URL", "TEST_REQUIRE_SERVICES", "BENCH_SCALE", "BASELINE_DATABASE_URL"} <= (
        variables_read_by_tests_and_bench()
    )
