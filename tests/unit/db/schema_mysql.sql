-- schema.sql's tables for MySQL / MariaDB (TEXT keys need a length there), and the typed
-- columns of the json mapping. tests/integration/test_db_mysql.py loads it with the mariadb
-- client into the database `sidecache_test`.
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price TEXT, note TEXT);
INSERT INTO products VALUES (1, 'apple', '1.50', NULL), (2, 'pear', '2.00', 'ripe'),
  (3, 'fig', NULL, NULL);
CREATE TABLE numbers (n INTEGER PRIMARY KEY, sq INTEGER);
SET SESSION max_recursive_iterations = 10000;
INSERT INTO numbers (n, sq)
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500)
  SELECT x, x * x FROM c;
CREATE TABLE `odd "table"` (`key col` VARCHAR(64) PRIMARY KEY, `val` TEXT);
INSERT INTO `odd "table"` VALUES ('a', 'x');
CREATE TABLE kv (k VARCHAR(191) PRIMARY KEY, v TEXT, n INTEGER);
CREATE TABLE typed (
  id BIGINT PRIMARY KEY, i INT, u BIGINT UNSIGNED, d DECIMAL(30, 10), f DOUBLE, flag BOOLEAN,
  b1 BIT(1), b8 BIT(12), doc JSON, raw VARBINARY(16), blob_col BLOB, t TEXT, at DATETIME(3),
  ts TIMESTAMP NULL, day DATE, y YEAR, e ENUM('red', 'green'), big_text LONGTEXT);
INSERT INTO typed VALUES
  (1, -7, 18446744073709551615, 12345678901234567890.0123456789, 0.1, TRUE, b'1', b'101',
   '{"a": [1, 2.5, null], "b": "x"}', X'00FF10', X'DEADBEEF', 'café', '2024-05-01 10:00:00.250',
   '2024-05-01 10:00:00', '2024-05-01', 2024, 'green', REPEAT('x', 1000)),
  (2, NULL, 0, -0.5, -1e300, 2, b'0', b'0', 'null', '', '', '', NULL, NULL, NULL, NULL, NULL, '');
