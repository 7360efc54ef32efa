-- The (provider, ts) index of the request log goes on SQLite, where every request's insert paid for
-- it (a third B-tree per row: about 1 µs of the event loop's time a request, 15 % of the insert) and
-- no query needs it: SQLite reads the log in windows of the ts index (a few thousand rows each, the
-- event loop free between them), and a provider filter is checked inside the window. Postgres, whose
-- inserts do not run on the gateway's event loop and whose log reads are single queries, keeps it.
{{sqlite_only}}DROP INDEX IF EXISTS request_log_provider_ts;
