"""Storage for the consent service: SQLAlchemy tables, repositories, the unit of work, migrations."""
