"""The durable SQLite store of probe records: schema, migrations, queries, retention."""
