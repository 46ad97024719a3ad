"""The paper venue's matching engine, pure."""
