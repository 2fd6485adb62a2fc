-- The quick start's database (SQLite): scripts/run.sh loads it into .run/sample.db once.
-- A product catalog (the caching guide's flash-sale example), users and application settings.
CREATE TABLE IF NOT EXISTS products (
  id       INTEGER PRIMARY KEY,
  name     TEXT NOT NULL,
  category TEXT NOT NULL,
  price    TEXT NOT NULL,   -- decimal as text: what is cached is what the database holds
  stock    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
  id    INTEGER PRIMARY KEY,
  name  TEXT NOT NULL,
  email TEXT NOT NULL,
  plan  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS app_config (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- 1,000 products with deterministic names, prices and stock.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT OR IGNORE INTO products (id, name, category, price, stock)
SELECT i,
       'Product ' || i,
       CASE i % 4 WHEN 0 THEN 'books' WHEN 1 THEN 'games' WHEN 2 THEN 'garden' ELSE 'kitchen' END,
       printf('%d.%02d', 5 + (i * 37) % 500, (i * 13) % 100),
       (i * 7) % 250
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT OR IGNORE INTO users (id, name, email, plan)
SELECT i, 'User ' || i, 'user' || i || '@example.com', CASE i % 3 WHEN 0 THEN 'pro' ELSE 'free' END
FROM n;

INSERT OR IGNORE INTO app_config (name, value) VALUES
  ('feature.flash_sale', 'on'),
  ('checkout.max_items', '50'),
  ('banner.text', 'Flash sale: 30% off games until midnight');
