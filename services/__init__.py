"""NovaHouse chat backend: the consent, notifier, chat and gateway services."""
