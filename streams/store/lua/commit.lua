-- Commit one mention to a ticker's risk state: idempotent by doc id, optimistic on version.
-- KEYS[1] state hash, KEYS[2] seen zset, KEYS[3] index zset, KEYS[4] mentions counter
-- ARGV: doc_id, expected_version, state_json, update_json, score, ticker, ttl_s, now,
--       seen_min_score, seen_max_size
-- Returns {1, new_version} committed | {0, version} already counted | {-1, version} conflict
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {0, version} end
if version ~= tonumber(ARGV[2]) then return {-1, version} end
local ttl = tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 'version', version + 1, 'state', ARGV[3], 'update', ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], ARGV[8], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[9])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[10]) + 1))
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
redis.call('INCR', KEYS[4])
return {1, version + 1}
