-- Settings for the writer's connection. A larger write-ahead log before an automatic
-- checkpoint means fewer, larger checkpoints: the ingest path stalls less often, a restart
-- after a crash replays more. {checkpoint_kib} is a number (`--checkpoint-kib`, default 256 MiB).
SET checkpoint_threshold = '{checkpoint_kib}KiB';
-- The buffer pool's ceiling, for the whole database (`--duckdb-memory-mib`, default 2 GiB):
-- past it DuckDB evicts and spills to a temporary directory instead of growing.
SET memory_limit = '{duckdb_memory_mib}MiB';
