-- Novelty verdict of one document, recorded once (a replay returns the same verdict).
-- KEYS[1] decision, KEYS[2] exact-hash, KEYS[3] own signature, KEYS[4..] LSH buckets
-- ARGV: doc_id, signature (64 x uint32), ttl_s, now, threshold, signature key prefix,
--       max bucket size
-- Returns "kind|similarity|original_doc_id".
local dec = redis.call('GET', KEYS[1])
if dec then return dec end
local doc, sig, ttl, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local verdict
local orig = redis.call('GET', KEYS[2])
if orig and orig ~= doc then
  verdict = 'exact|1|' .. orig
else
  local best, best_id, seen = 0, nil, {}
  for i = 4, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. tostring(now - ttl))
    for _, c in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
      if c ~= doc and not seen[c] then
        seen[c] = true
        local other = redis.call('GET', ARGV[6] .. c)
        if other and #other == #sig then
          local same = 0
          for j = 1, #sig, 4 do
            if string.sub(sig, j, j + 3) == string.sub(other, j, j + 3) then same = same + 1 end
          end
          local sim = same / (#sig / 4)
          if sim > best or (sim == best and best_id and c < best_id) then
            best, best_id = sim, c
          end
        end
      end
    end
  end
  if best_id and best >= tonumber(ARGV[5]) then
    verdict = 'near|' .. tostring(best) .. '|' .. best_id
  else
    verdict = 'fresh|0|'
  end
end
redis.call('SET', KEYS[2], doc, 'NX', 'EX', ttl)
redis.call('SET', KEYS[3], sig, 'EX', ttl)
for i = 4, #KEYS do
  redis.call('ZADD', KEYS[i], now, doc)
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[7]) + 1))
  redis.call('EXPIRE', KEYS[i], ttl)
end
redis.call('SET', KEYS[1], verdict, 'EX', ttl)
return verdict
