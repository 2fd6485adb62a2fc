-- The tables the db tests read and write, for SQLite and PostgreSQL alike (one statement per
-- line group, each ending in ';'). tests/integration/test_db_postgres.py loads it with psql.
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price TEXT, note TEXT);
INSERT INTO products VALUES (1, 'apple', '1.50', NULL), (2, 'pear', '2.00', 'ripe'),
  (3, 'fig', NULL, NULL);
CREATE TABLE numbers (n INTEGER PRIMARY KEY, sq INTEGER);
INSERT INTO numbers (n, sq)
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500)
  SELECT x, x * x FROM c;
CREATE TABLE "odd ""table""" ("key col" TEXT PRIMARY KEY, "val" TEXT);
INSERT INTO "odd ""table""" VALUES ('a', 'x');
CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT, n INTEGER);
