from services.chat.adapters.tables import metadata
from services.runtime.migrations import run_alembic_env

run_alembic_env(metadata)
