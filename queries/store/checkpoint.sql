-- Folds the write-ahead log into the database file; run on clean shutdown.
CHECKPOINT;
