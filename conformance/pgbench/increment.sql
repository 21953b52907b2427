\set delta :client_id + 1
BEGIN;
UPDATE conf_bench SET n = n + :delta WHERE id = :client_id;
SELECT n FROM conf_bench WHERE id = :client_id;
END;
