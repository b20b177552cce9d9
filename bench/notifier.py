"""`python -m bench.notifier`: scenario 5 alone (the notifier's drain and its cost against table size),
its JSON and its goal rows on stdout. BENCH_SCALE as for `make bench`."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack

from bench.__main__ import say, scale_from_env
from bench.report import notifier_goals
from bench.scenarios import notifier_outage
from bench.stack import Backends


class _Common:
    """What scenario 5 takes from the full stack: the environment every service gets."""

    def __init__(self, backends: Backends) -> None:
        self.common = {"VAR_DIR": backends.var_dir, "LOG_LEVEL": "info"}


def main() -> None:
    scale = scale_from_env()
    with ExitStack() as exits:
        backends = Backends(exits)
        say(f"scenario 5: {scale.notifications} notifications through an outage ({backends.database_kind})")
        result = notifier_outage(exits, backends, _Common(backends), scale)  # type: ignore[arg-type]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    for goal in notifier_goals(result):
        print(f"| {goal.name} | {goal.value} | {goal.goal} | {goal.verdict} |")


if __name__ == "__main__":
    main()
