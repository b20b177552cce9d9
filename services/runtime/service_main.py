"""The command line every gRPC service shares: `python -m services.<name> [serve|migrate|…]`.

`serve` (the default) validates the settings, applies migrations unless AUTO_MIGRATE=false, starts the
server and any background work, and on SIGTERM or SIGINT stops gracefully. `migrate` only applies
migrations. A service may add commands of its own (consent: `verify-audit`). A configuration error
prints one line naming the variable and exits with status 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from services.runtime.config import ConfigError, Environment, ServerSettings
from services.runtime.diagnostics import Diagnostics
from services.runtime.grpc_server import GrpcServer, ServiceDefinition, create_server
from services.runtime.logs import configure_logging
from services.runtime.migrations import MigrationHistory
from services.runtime.observability import start_observability
from services.runtime.scheduler import JobScheduler

log = logging.getLogger(__name__)


class ServiceSettings(Protocol):
    @property
    def server(self) -> ServerSettings: ...

    @property
    def database_url(self) -> URL: ...

    @property
    def auto_migrate(self) -> bool: ...


S = TypeVar("S", bound=ServiceSettings)


def _noop() -> None:
    return None


@dataclass
class Application:
    """A wired service, as its bootstrap hands it over: what to serve and what runs beside it."""

    services: Sequence[ServiceDefinition]
    diagnostics: Diagnostics
    scheduler: JobScheduler | None = None  # started once the server listens
    on_stop: Callable[[], None] = _noop  # after in-flight calls finished, e.g. close pools


@dataclass
class RunningService:
    """A started service: its server, and everything that stops with it."""

    server: GrpcServer
    application: Application

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self, grace: float = 0) -> None:
        """Health NOT_SERVING, in-flight calls finish within `grace`, then jobs and pools stop."""
        self.server.stop(grace)
        if self.application.scheduler is not None:
            self.application.scheduler.shutdown()
        self.application.on_stop()
        self.application.diagnostics.close()


@dataclass(frozen=True)
class ServiceEntryPoint(Generic[S]):
    """How to load, migrate and build one service."""

    name: str
    load_settings: Callable[[Environment], S]
    migrations: MigrationHistory
    build: Callable[[S], Application]
    # Further commands of the service's command line: name -> run(settings), answering the exit status.
    commands: Mapping[str, Callable[[S], int]] = field(default_factory=dict)

    def migrate(self, settings: S) -> None:
        self.migrations.upgrade(settings.database_url)

    def start(self, settings: S) -> RunningService:
        """Migrates (or, with AUTO_MIGRATE=false, checks the schema is current), builds and starts the
        service; the caller stops it. Raises RuntimeError when it cannot start."""
        if settings.auto_migrate:
            self.migrate(settings)
        else:
            current, head = self.migrations.pending(settings.database_url)
            if current != head:
                raise RuntimeError(
                    f"database schema is at {current or 'nothing'}, this release needs {head}; "
                    f"run `python -m services.{self.name} migrate` (AUTO_MIGRATE=false)"
                )
        application = self.build(settings)
        application.diagnostics.scheduler = application.scheduler
        server = create_server(
            settings.server.address,
            [*application.services, application.diagnostics.definition()],
            max_workers=settings.server.max_workers,
            security=settings.server.security,
        )
        server.start()
        if application.scheduler is not None:
            application.scheduler.start()
        log.info("%s serving on %s:%d", self.name, settings.server.host, server.port)
        return RunningService(server, application)

    def main(self, argv: Sequence[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"python -m services.{self.name}")
        parser.add_argument(
            "command", nargs="?", default="serve", choices=("serve", "migrate", *self.commands)
        )
        command = parser.parse_args(argv).command
        env = Environment()
        try:
            settings = self.load_settings(env)
        except ConfigError as error:
            print(f"{self.name}: configuration error: {error}", file=sys.stderr)
            sys.exit(2)
        server = settings.server
        if command in self.commands:
            configure_logging(server.log_level, log_format=server.log_format, service=self.name)
            try:
                sys.exit(self.commands[command](settings))
            except SQLAlchemyError as error:
                log.error("%s %s failed: %s", self.name, command, error)
                sys.exit(2)
        if command == "migrate":
            configure_logging(server.log_level, log_format=server.log_format, service=self.name)
            try:
                self.migrate(settings)
            except SQLAlchemyError as error:
                log.error("%s cannot migrate: %s", self.name, error)
                sys.exit(1)
            return
        stop_requested = threading.Event()

        def request_stop(signum: int, _frame: object) -> None:
            log.info("%s received %s, shutting down", self.name, signal.Signals(signum).name)
            stop_requested.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        try:
            # Before the service is built, so its engines, Redis clients and channels are traced.
            observability = start_observability(
                env, self.name, host=server.host, level=server.log_level, log_format=server.log_format
            )
        except ConfigError as error:
            print(f"{self.name}: configuration error: {error}", file=sys.stderr)
            sys.exit(2)
        try:
            running = self.start(settings)
        except (RuntimeError, SQLAlchemyError) as error:
            log.error("%s cannot start: %s", self.name, error)
            sys.exit(1)
        stop_requested.wait()
        running.stop(settings.server.shutdown_grace_seconds)
        observability.close()
        log.info("%s stopped", self.name)
