"""Credit subjects and their records: departments' batches checked and ingested, batches uploaded
as files, a record's life after ingestion (ended, revoked, shown to its subject), the person's
statement on a record, and the data-quality report."""
