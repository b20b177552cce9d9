"""A client of gRPC server reflection, as grpcurl uses it: list services, describe them, and call a
method knowing only its name, with message classes built from the descriptors the server sends."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


class ReflectionClient:
    def __init__(self, channel: grpc.Channel) -> None:
        self._channel = channel
        self._database = ProtoReflectionDescriptorDatabase(channel)
        self._pool = DescriptorPool(self._database)

    def list_services(self) -> list[str]:
        return sorted(self._database.get_services())

    def describe(self, service: str) -> dict[str, tuple[str, str]]:
        """Method name -> (input type, output type), as `grpcurl describe` shows them."""
        descriptor = self._pool.FindServiceByName(service)
        return {m.name: (m.input_type.full_name, m.output_type.full_name) for m in descriptor.methods}

    def call(
        self, method: str, request: dict[str, Any], *, timeout: float = 10.0, metadata: Any = ()
    ) -> dict:
        """Calls '<package.Service>/<Method>' with a JSON-like request, as `grpcurl -d` does."""
        service_name, method_name = method.rsplit("/", 1)
        descriptor = self._pool.FindServiceByName(service_name).FindMethodByName(method_name)
        request_class = GetMessageClass(descriptor.input_type)
        response_class = GetMessageClass(descriptor.output_type)
        stub = self._channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        response = stub(json_format.ParseDict(request, request_class()), timeout=timeout, metadata=metadata)
        return json_format.MessageToDict(
            response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
