-- Novelty verdicts of a batch of documents, in order (later ones see earlier ones); each
-- verdict is recorded once per doc id, so a replay returns the same verdict.
-- Key names are built here from the prefix (single Redis, or a hash-tagged prefix).
-- ARGV: prefix, ttl_s, now, threshold, max_bucket_size, bands, then per document:
--       doc_id, exact_hash, signature (n x uint32), band id x bands
-- Returns one "kind|similarity|original_doc_id" per document.
local p, ttl, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local threshold, max_bucket, bands = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {}

local function similar(sig, other)
  local same = 0
  for j = 1, #sig, 4 do
    if string.sub(sig, j, j + 3) == string.sub(other, j, j + 3) then same = same + 1 end
  end
  return same / (#sig / 4)
end

local function decide(doc, exact, sig, buckets)
  local orig = redis.call('GET', p .. 'nov:x:' .. exact)
  if orig and orig ~= doc then return 'exact|1|' .. orig end
  local best, best_id, seen = 0, nil, {}
  for _, bucket in ipairs(buckets) do
    redis.call('ZREMRANGEBYSCORE', bucket, '-inf', '(' .. tostring(now - ttl))
    for _, c in ipairs(redis.call('ZRANGE', bucket, 0, -1)) do
      if c ~= doc and not seen[c] then
        seen[c] = true
        local other = redis.call('GET', p .. 'nov:sig:' .. c)
        if other and #other == #sig then
          local sim = similar(sig, other)
          if sim > best or (sim == best and best_id and c < best_id) then
            best, best_id = sim, c
          end
        end
      end
    end
  end
  if best_id and best >= threshold then return 'near|' .. tostring(best) .. '|' .. best_id end
  return 'fresh|0|'
end

local i = 7
while i <= #ARGV do
  local doc, exact, sig = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local buckets = {}
  for b = 1, bands do buckets[b] = p .. 'nov:b:' .. ARGV[i + 2 + b] end
  i = i + 3 + bands
  local dkey = p .. 'nov:dec:' .. doc
  local verdict = redis.call('GET', dkey)
  if not verdict then
    verdict = decide(doc, exact, sig, buckets)
    redis.call('SET', p .. 'nov:x:' .. exact, doc, 'NX', 'EX', ttl)
    redis.call('SET', p .. 'nov:sig:' .. doc, sig, 'EX', ttl)
    for _, bucket in ipairs(buckets) do
      redis.call('ZADD', bucket, now, doc)
      redis.call('ZREMRANGEBYRANK', bucket, 0, -(max_bucket + 1))
      redis.call('EXPIRE', bucket, ttl)
    end
    redis.call('SET', dkey, verdict, 'EX', ttl)
  end
  out[#out + 1] = verdict
end
return out
