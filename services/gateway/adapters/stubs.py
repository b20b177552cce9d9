"""The generated contract modules (`make protos` writes them to ./novahouse), found by walking the
package, so a new service's stubs are picked up without a list to maintain."""

from __future__ import annotations

import importlib
import pkgutil

from google.protobuf.descriptor import FileDescriptor

ROOT_PACKAGE = "novahouse"


class StubsMissing(RuntimeError):
    """The generated stubs are not there: `make protos` has not run."""


def contract_files(root: str = ROOT_PACKAGE) -> list[FileDescriptor]:
    """The file descriptor of every `*_pb2` module under `root`."""
    try:
        package = importlib.import_module(root)
    except ImportError as error:
        raise StubsMissing(f"cannot import the generated stubs ({error}); run `make protos`") from None
    files = []
    for module in pkgutil.walk_packages(package.__path__, f"{root}."):
        if module.name.endswith("_pb2"):
            files.append(importlib.import_module(module.name).DESCRIPTOR)
    if not files:
        raise StubsMissing(f"no generated *_pb2 modules under {root}; run `make protos`")
    return files
