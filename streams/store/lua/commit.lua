-- Commit a ticker's mentions (one batch) to its risk state: idempotent by doc id, optimistic
-- on version, every key declared and in one cluster slot (the {r<shard>} hash tag).
-- KEYS[1] state hash, KEYS[2] seen zset, KEYS[3] shard index zset, KEYS[4] shard counter,
-- KEYS[5] shard volume zset (the cross-section for buzz)
-- ARGV: expected_etag ('' = no state yet), new_etag, state_json, update_json, score, ticker,
--       ttl_s, age_floor, seen_max, volume_score, volume_trim_below,
--       then per mention: doc_id, event_time
-- The caller refused mentions at or below max(floor, age_floor) before planning; the state
-- hash's etag (random per commit) covers the floor (both change only here), so an etag match
-- means the state and floor it read still hold.
-- Invariant: every counted doc id whose event time is above the floor is in the seen zset.
-- Returns {1, floor} committed (floor as text) | {0, ''} a doc id was already counted (nothing
-- written) | {-1, ''} the state changed since it was read (nothing written)
local first = 12
for i = first, #ARGV, 2 do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) then return {0, ''} end
end
if (redis.call('HGET', KEYS[1], 'etag') or '') ~= ARGV[1] then return {-1, ''} end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local ttl = tonumber(ARGV[7])
local floor = tonumber(redis.call('HGET', KEYS[1], 'floor') or '-1e300')
for i = first, #ARGV, 2 do
  redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
end
-- forget ids at or below the age floor: such mentions are refused from now on
local age_floor = tonumber(ARGV[8])
if age_floor > floor then floor = age_floor end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', floor)
-- over the count bound: drop the oldest (and their ties) and raise the floor to them
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[9])
if over > 0 then
  local last = redis.call('ZRANGE', KEYS[2], over - 1, over - 1, 'WITHSCORES')
  local cut = tonumber(last[2])
  if cut > floor then floor = cut end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', floor)
end
local floor_text = string.format('%.17g', floor)
redis.call('HSET', KEYS[1], 'version', version + 1, 'etag', ARGV[2], 'state', ARGV[3],
           'update', ARGV[4], 'floor', floor_text)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
redis.call('INCRBY', KEYS[4], math.floor((#ARGV - first + 1) / 2))
redis.call('ZADD', KEYS[5], ARGV[10], ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[11])
redis.call('EXPIRE', KEYS[5], ttl)
return {1, floor_text}
