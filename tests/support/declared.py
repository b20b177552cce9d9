"""Access declarations for the tiny generic services the runtime tests build: the services refuse any
RPC whose contract declares no access, so a test service is declared PUBLIC in the descriptor pool."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2

from novahouse.api.v1 import access_pb2


def declare_public(service: str, *methods: str) -> None:
    """Adds `service` (e.g. 'test.Probe') with `methods` to the default pool as PUBLIC RPCs, once."""
    pool = descriptor_pool.Default()
    name = f"tests/declared/{service}.proto"
    try:
        pool.FindFileByName(name)
        return
    except KeyError:
        pass
    package, _, short = service.rpartition(".")
    proto = descriptor_pb2.FileDescriptorProto(
        name=name,
        package=package,
        syntax="proto3",
        dependency=[empty_pb2.DESCRIPTOR.name, access_pb2.DESCRIPTOR.name],
    )
    declared = proto.service.add(name=short)
    for method in methods:
        rpc = declared.method.add(
            name=method, input_type=".google.protobuf.Empty", output_type=".google.protobuf.Empty"
        )
        rpc.options.Extensions[access_pb2.access] = access_pb2.ACCESS_PUBLIC
    pool.AddSerializedFile(proto.SerializeToString())
