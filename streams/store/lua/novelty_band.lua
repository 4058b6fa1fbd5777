-- One LSH band for a batch's new documents, in batch order (every key tagged with the band,
-- so one cluster slot): each document first sees its bucket (entries older than the window
-- dropped), then joins it; the bucket keeps its newest max_bucket and the window as TTL.
-- Bucket entries do not depend on verdicts, so a batch's later documents see the earlier ones
-- exactly as when each document was decided alone.
-- KEYS: one bucket zset per new document (repeats allowed), in batch order.
-- ARGV: oldest score kept (exclusive, text), now, ttl_s, max_bucket, then per key: doc_id,
--       want (1: return the members it saw; 0: an exact duplicate, no candidates needed).
-- Returns one JSON text: per key, the members seen (other than the document), oldest first.
local oldest, now, ttl, max_bucket = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local trimmed, out = {}, {}
for i, key in ipairs(KEYS) do
  local doc, want = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
  if not trimmed[key] then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. oldest)
    trimmed[key] = true
  end
  local seen = {}
  if want == '1' then
    for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
      if m ~= doc then seen[#seen + 1] = m end
    end
  end
  out[i] = seen
  redis.call('ZADD', key, now, doc)
  redis.call('ZREMRANGEBYRANK', key, 0, -(max_bucket + 1))
  redis.call('EXPIRE', key, ttl)
end
return cjson.encode(out)
