"""The chat widget NovaHouse's website embeds, and a demo page of that website at `/` (docs/widget.md)."""
