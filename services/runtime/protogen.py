"""Generates the Python stubs and .pyi type stubs from protos/ (what `make protos` runs).

    python -m services.runtime.protogen protos .

The include path gets the well-known types shipped with grpcio-tools and google/api/*.proto shipped
with googleapis-common-protos, so nothing needs to be vendored.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc_tools
from google.api import annotations_pb2
from grpc_tools import protoc


def generate(proto_root: Path, out_dir: Path) -> list[Path]:
    """Runs protoc over every .proto under proto_root; raises RuntimeError if protoc fails."""
    protos = sorted(proto_root.rglob("*.proto"))
    if not protos:
        raise RuntimeError(f"no .proto files under {proto_root}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    googleapis = Path(annotations_pb2.__file__).parents[2]
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"-I{googleapis}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see the messages above")
    # Regular packages (not namespace packages), so tools and importers treat them like the rest.
    for proto in protos:
        package_dir = out_dir / proto.parent.relative_to(proto_root)
        for directory in [package_dir, *package_dir.parents]:
            if directory == out_dir or out_dir not in directory.parents:
                break
            (directory / "__init__.py").touch()
    return protos


def main() -> None:
    proto_root, out_dir = (Path(a) for a in sys.argv[1:3])
    try:
        protos = generate(proto_root, out_dir)
    except RuntimeError as error:
        sys.exit(f"protogen: {error}")
    print(f"generated stubs for {len(protos)} proto files into {out_dir.resolve()}")


if __name__ == "__main__":
    main()
