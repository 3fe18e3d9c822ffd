-- Settings for the writer's connection. A larger write-ahead log before an automatic
-- checkpoint means fewer, larger checkpoints: the ingest path stalls less often, a restart
-- after a crash replays more. {checkpoint_kib} is a number (`--checkpoint-kib`, default 256 MiB).
SET checkpoint_threshold = '{checkpoint_kib}KiB';
