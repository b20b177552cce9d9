"""Generates the Python stubs and .pyi type stubs from protos/ (what `make protos` runs).

    python -m services.runtime.protogen protos .

The include path gets the well-known types shipped with grpcio-tools and google/api/*.proto shipped
with googleapis-common-protos, so nothing needs to be vendored. buf/validate/validate.proto (the rules
protovalidate checks) is published on PyPI only as the descriptor compiled into the protovalidate wheel:
protoc reads it from a descriptor set written from that, and its Python module is generated next to
ours (`buf/validate/validate_pb2.py`), which our generated modules import.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import grpc_tools
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, duration_pb2, field_mask_pb2, timestamp_pb2
from grpc_tools import protoc
from protovalidate._gen.buf.validate import validate_pb

VALIDATE_PROTO = "buf/validate/validate.proto"


def validate_descriptor_set() -> bytes:
    """A FileDescriptorSet of buf/validate/validate.proto and the well-known types it imports."""
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        for module in (descriptor_pb2, duration_pb2, field_mask_pb2, timestamp_pb2)
    ]
    files.append(descriptor_pb2.FileDescriptorProto.FromString(validate_pb.desc().proto.to_binary()))
    return descriptor_pb2.FileDescriptorSet(file=files).SerializeToString()


def generate(proto_root: Path, out_dir: Path) -> list[Path]:
    """Runs protoc over every .proto under proto_root; raises RuntimeError if protoc fails."""
    protos = sorted(proto_root.rglob("*.proto"))
    if not protos:
        raise RuntimeError(f"no .proto files under {proto_root}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    googleapis = Path(annotations_pb2.__file__).parents[2]
    with tempfile.TemporaryDirectory() as scratch:
        rules = Path(scratch) / "validate.binpb"
        rules.write_bytes(validate_descriptor_set())
        common = [f"--descriptor_set_in={rules}", f"--python_out={out_dir}", f"--pyi_out={out_dir}"]
        if protoc.main(["grpc_tools.protoc", *common, VALIDATE_PROTO]) != 0:
            raise RuntimeError(f"protoc failed on {VALIDATE_PROTO}; see the messages above")
        args = [
            "grpc_tools.protoc",
            *common,
            f"-I{proto_root}",
            f"-I{well_known}",
            f"-I{googleapis}",
            f"--grpc_python_out={out_dir}",
            *(str(p) for p in protos),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed; see the messages above")
    # Regular packages (not namespace packages), so tools and importers treat them like the rest.
    for package_dir in [out_dir / Path(VALIDATE_PROTO).parent] + [
        out_dir / proto.parent.relative_to(proto_root) for proto in protos
    ]:
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
