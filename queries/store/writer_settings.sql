-- Settings for the writer's connection. A larger WAL before an automatic checkpoint means
-- fewer, larger checkpoints: the ingest path stalls less often.
SET checkpoint_threshold = '256MB';
