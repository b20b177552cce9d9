"""A contract the gateway has never heard of, `novahouse.billing.v1.BillingService`, built at run time
with a google.api.http annotation, and a real gRPC server for it: proof that a new annotated service
needs no gateway change, only its BILLING_ADDR."""

from __future__ import annotations

import grpc
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.message_factory import GetMessageClass

from novahouse.api.v1 import access_pb2
from services.runtime.diagnostics import Diagnostics
from services.runtime.grpc_server import GrpcServer, ServiceDefinition, create_server

FILE_NAME = "novahouse/billing/v1/billing_test.proto"
SERVICE = "novahouse.billing.v1.BillingService"
F = descriptor_pb2.FieldDescriptorProto


def billing_file(access: int | None = access_pb2.ACCESS_PUBLIC) -> FileDescriptor:
    """Adds the contract to the default descriptor pool once and answers its file descriptor. With
    another access (None: no access option) it is a contract of its own, `novahouse.billing_<x>.v1`."""
    pool = descriptor_pool.Default()
    suffix = "" if access == access_pb2.ACCESS_PUBLIC else f"_{access or 'none'}"
    package = f"novahouse.billing{suffix}.v1"
    file_name = FILE_NAME.replace("billing_test", f"billing{suffix}_test")
    try:
        return pool.FindFileByName(file_name)
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto(
        name=file_name,
        package=package,
        syntax="proto3",
        dependency=["google/api/annotations.proto", "novahouse/api/v1/access.proto"],
    )
    request = proto.message_type.add(name="GetInvoiceRequest")
    request.field.add(name="invoice_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    request.field.add(name="currency", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    invoice = proto.message_type.add(name="Invoice")
    invoice.field.add(name="invoice_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    invoice.field.add(name="amount_cents", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    invoice.field.add(name="paid", number=3, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)
    service = proto.service.add(name="BillingService")
    method = service.method.add(
        name="GetInvoice",
        input_type=f".{package}.GetInvoiceRequest",
        output_type=f".{package}.Invoice",
    )
    method.options.Extensions[annotations_pb2.http].get = f"/api/billing{suffix}/invoices/{{invoice_id}}"
    if access is not None:
        method.options.Extensions[access_pb2.access] = access
    return pool.AddSerializedFile(proto.SerializeToString())


def message_classes() -> tuple[type, type]:
    file = billing_file()
    return (
        GetMessageClass(file.message_types_by_name["GetInvoiceRequest"]),
        GetMessageClass(file.message_types_by_name["Invoice"]),
    )


def start_billing() -> tuple[GrpcServer, Diagnostics, list]:
    """A BillingService answering every invoice as 12.50, unpaid; answers the server, its diagnostics
    and the list of requests it received."""
    request_class, invoice_class = message_classes()
    received: list = []

    def get_invoice(request, context):
        received.append(request)
        return invoice_class(invoice_id=request.invoice_id, amount_cents=1250)

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "GetInvoice": grpc.unary_unary_rpc_method_handler(
                get_invoice,
                request_deserializer=request_class.FromString,
                response_serializer=invoice_class.SerializeToString,
            )
        },
    )
    diagnostics = Diagnostics("billing")
    definition = ServiceDefinition(SERVICE, lambda server: server.add_generic_rpc_handlers((handler,)))
    server = create_server("127.0.0.1:0", [definition, diagnostics.definition()], max_workers=4)
    server.start()
    return server, diagnostics, received
