-- Run with: psql -X -q -f copy_gset_errors.sql (PG* variables point at the target). ON_ERROR_STOP is off, so
-- the script goes on after each error, as an interactive user would.
\set ON_ERROR_STOP 0
\pset pager off
SELECT 1 AS one, 'psql' AS client;
COPY conf_psql (id, note) FROM STDIN WITH (FORMAT csv);
1,first
2,"second, with comma"
3,third
\.
SELECT count(*) AS n, max(id) AS top FROM conf_psql \gset
\echo rows :n top :top
SELECT :n * 10 AS n_times_ten;
SELECT 1/0;
SELECT 'continued after an error' AS status;
SELECT 1/0 AS broken \gset
\echo broken is still :broken
COPY conf_psql (id, note) FROM STDIN WITH (FORMAT csv);
4,fourth
not-a-number,bad
\.
SELECT count(*) AS after_failed_copy FROM conf_psql;
SELECT 'one' AS a \; SELECT 'two' AS b \; SELECT 'three' AS c;
BEGIN;
INSERT INTO conf_psql VALUES (10, 'in transaction');
SELECT nosuchcolumn FROM conf_psql;
SELECT 'in an aborted transaction';
ROLLBACK;
BEGIN;
INSERT INTO conf_psql VALUES (11, 'committed');
COMMIT;
COPY (SELECT id, note FROM conf_psql ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER);
\copy conf_psql (id, note) from 'more_rows.csv' with (format csv)
SELECT id, note FROM conf_psql ORDER BY id;
SELECT current_database() AS db, current_user AS usr \gset
\echo connected to :db as :usr
