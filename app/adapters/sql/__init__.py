"""SQL (SQLAlchemy Core over SQLModel tables): engine, tables, stores, prepared statements."""
