-- Commit a ticker's mentions (one batch) to its risk state: idempotent by doc id, optimistic
-- on version. KEYS[1] state hash, KEYS[2] seen zset, KEYS[3] index zset, KEYS[4] counter
-- ARGV: expected_version, state_json, update_json, score, ticker, ttl_s, now,
--       seen_min_score, seen_max_size, doc_id...
-- Returns {1, new_version} committed | {0, version} a doc id was already counted (nothing
-- written) | {-1, version} the state changed since it was read (nothing written)
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
for i = 10, #ARGV do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) then return {0, version} end
end
if version ~= tonumber(ARGV[1]) then return {-1, version} end
local ttl = tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'version', version + 1, 'state', ARGV[2], 'update', ARGV[3])
redis.call('EXPIRE', KEYS[1], ttl)
for i = 10, #ARGV do
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[8])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[9]) + 1))
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
redis.call('INCRBY', KEYS[4], #ARGV - 9)
return {1, version + 1}
