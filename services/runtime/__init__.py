"""The runtime every service stands on: settings, logging, database, migrations and the gRPC server.

Nothing here knows about a particular service; each service's bootstrap wires these pieces together.
"""
