-- Golden compile output: each block is a predicate, then its SQL per dialect.
-- Regenerate with UPDATE_GOLDEN=1 and review the diff.

-- predicate: order_count = 1 AND days_since_last_order <= 45
-- duckdb: order_count = 1 AND days_since_last_order <= 45
-- postgres: order_count = 1 AND days_since_last_order <= 45
-- bigquery: order_count = 1 AND days_since_last_order <= 45
-- snowflake: order_count = 1 AND days_since_last_order <= 45

-- predicate: days_since_last_order BETWEEN 90 AND 180 AND avg_order_value >= 140
-- duckdb: days_since_last_order BETWEEN 90 AND 180 AND avg_order_value >= 140
-- postgres: days_since_last_order BETWEEN 90 AND 180 AND avg_order_value >= 140
-- bigquery: days_since_last_order BETWEEN 90 AND 180 AND avg_order_value >= 140
-- snowflake: days_since_last_order BETWEEN 90 AND 180 AND avg_order_value >= 140

-- predicate: tags CONTAINS 'vip' OR tier IN ('gold', 'platinum')
-- duckdb: ARRAY_CONTAINS(tags, 'vip') OR tier IN ('gold', 'platinum')
-- postgres: CASE WHEN 'vip' IS NULL THEN NULL ELSE COALESCE('vip' = ANY(tags), FALSE) END OR tier IN ('gold', 'platinum')
-- bigquery: EXISTS(SELECT 1 FROM UNNEST(tags) AS _col WHERE _col = 'vip') OR tier IN ('gold', 'platinum')
-- snowflake: ARRAY_CONTAINS(CAST('vip' AS VARIANT), tags) OR tier IN ('gold', 'platinum')

-- predicate: last_order_date < -90d AND days_to_birthday <= 3
-- duckdb: last_order_date < CAST(as_of + INTERVAL (-90) DAY AS DATE) AND days_to_birthday <= 3
-- postgres: last_order_date < CAST(as_of + INTERVAL '-90 DAY' AS DATE) AND days_to_birthday <= 3
-- bigquery: last_order_date < CAST(DATE_ADD(as_of, INTERVAL -90 DAY) AS DATE) AND days_to_birthday <= 3
-- snowflake: last_order_date < CAST(DATEADD(DAY, -90, as_of) AS DATE) AND days_to_birthday <= 3

-- predicate: dormant_high AND NOT has_unpaid_order
-- duckdb: (days_since_last_order BETWEEN 90 AND 180) AND NOT has_unpaid_order
-- postgres: (days_since_last_order BETWEEN 90 AND 180) AND NOT has_unpaid_order
-- bigquery: (days_since_last_order BETWEEN 90 AND 180) AND NOT has_unpaid_order
-- snowflake: (days_since_last_order BETWEEN 90 AND 180) AND NOT has_unpaid_order

-- predicate: NOT (tier = 'gold' OR points > 100) AND city IS NOT NULL
-- duckdb: NOT (tier = 'gold' OR points > 100) AND NOT city IS NULL
-- postgres: NOT (tier = 'gold' OR points > 100) AND NOT city IS NULL
-- bigquery: NOT (tier = 'gold' OR points > 100) AND NOT city IS NULL
-- snowflake: NOT (tier = 'gold' OR points > 100) AND NOT city IS NULL

-- predicate: last_order_date BETWEEN '2026-01-01' AND today
-- duckdb: last_order_date BETWEEN CAST('2026-01-01' AS DATE) AND CAST(as_of AS DATE)
-- postgres: last_order_date BETWEEN CAST('2026-01-01' AS DATE) AND CAST(as_of AS DATE)
-- bigquery: last_order_date BETWEEN CAST('2026-01-01' AS DATE) AND CAST(as_of AS DATE)
-- snowflake: last_order_date BETWEEN CAST('2026-01-01' AS DATE) AND CAST(as_of AS DATE)

-- predicate: last_order_date >= -4w AND first_order_date < -1y
-- duckdb: last_order_date >= CAST(as_of + INTERVAL (-4) WEEK AS DATE) AND first_order_date < CAST(as_of + INTERVAL (-1) YEAR AS DATE)
-- postgres: last_order_date >= CAST(as_of + INTERVAL '-4 WEEK' AS DATE) AND first_order_date < CAST(as_of + INTERVAL '-1 YEAR' AS DATE)
-- bigquery: last_order_date >= CAST(DATE_ADD(as_of, INTERVAL -4 WEEK) AS DATE) AND first_order_date < CAST(DATE_ADD(as_of, INTERVAL -1 YEAR) AS DATE)
-- snowflake: last_order_date >= CAST(DATEADD(WEEK, -4, as_of) AS DATE) AND first_order_date < CAST(DATEADD(YEAR, -1, as_of) AS DATE)

-- predicate: name NOT CONTAINS 'test' AND tier NOT IN ('blocked')
-- duckdb: NOT STRPOS(name, 'test') > 0 AND NOT tier IN ('blocked')
-- postgres: NOT POSITION('test' IN name) > 0 AND NOT tier IN ('blocked')
-- bigquery: NOT INSTR(name, 'test') > 0 AND NOT tier IN ('blocked')
-- snowflake: NOT CHARINDEX('test', name) > 0 AND NOT tier IN ('blocked')

-- predicate: purchase_cycle_days IS NOT NULL AND days_until_due <= 2.5
-- duckdb: NOT purchase_cycle_days IS NULL AND days_until_due <= 2.5
-- postgres: NOT purchase_cycle_days IS NULL AND days_until_due <= 2.5
-- bigquery: NOT purchase_cycle_days IS NULL AND days_until_due <= 2.5
-- snowflake: NOT purchase_cycle_days IS NULL AND days_until_due <= 2.5

-- predicate: consent_sms = true AND lifecycle != 'lost'
-- duckdb: consent_sms = TRUE AND lifecycle <> 'lost'
-- postgres: consent_sms = TRUE AND lifecycle <> 'lost'
-- bigquery: consent_sms = TRUE AND lifecycle <> 'lost'
-- snowflake: consent_sms = TRUE AND lifecycle <> 'lost'
