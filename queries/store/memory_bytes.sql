-- The memory DuckDB holds for this database (its buffer pool: cached blocks, data not yet
-- checkpointed, query state), in bytes: the part of the server's memory that is DuckDB's.
SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT FROM duckdb_memory();
