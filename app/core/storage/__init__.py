"""SQLite storage: schema, migrations, full-text index, repositories."""
