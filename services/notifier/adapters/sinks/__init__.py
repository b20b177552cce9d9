"""Sinks: each delivers one message to its service or raises a DeliveryFailure saying why not."""
