-- create: stores a new session and applies the subject's quota, atomically.
-- KEYS[1] session hash, KEYS[2] subject index.
-- ARGV[1] now, [2] quota, [3] 'deny' or 'close', [4] rec, [5] lu, [6] mi,
-- [7] hx, [8] v, [9] sh, [10] cx, [11] session key prefix of the tag,
-- [12] the new session's index member, [13] index key prefix of the tag.
-- Returns {'ok', closed members...}, {'exists'}, {'quota'} or {'corrupt'}.
local now = tonumber(ARGV[1])
local old = tessera_meta(KEYS[1])
if old == false then return {'exists'} end
if old then
  if now < old.exp then return {'exists'} end
  redis.call('DEL', KEYS[1])
  if old.sh then redis.call('ZREM', ARGV[13] .. old.sh, ARGV[12]) end
end
-- The subject's live sessions; stale and expired entries are pruned here,
-- so the index never depends on keyspace notifications.
local live = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local key = ARGV[11] .. m
  local meta = tessera_meta(key)
  if meta == nil then
    redis.call('ZREM', KEYS[2], m)
  elseif meta == false then
    return {'corrupt'}
  elseif now >= meta.exp then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], m)
  else
    live[#live + 1] = {m = m, exp = meta.exp}
  end
end
local quota = tonumber(ARGV[2])
local reply = {'ok'}
if #live >= quota then
  if ARGV[3] ~= 'close' then return {'quota'} end
  table.sort(live, tessera_before)
  for i = 1, #live + 1 - quota do
    redis.call('DEL', ARGV[11] .. live[i].m)
    redis.call('ZREM', KEYS[2], live[i].m)
    reply[#reply + 1] = live[i].m
  end
end
redis.call('HSET', KEYS[1], 'rec', ARGV[4], 'lu', ARGV[5], 'mi', ARGV[6],
  'hx', ARGV[7], 'v', ARGV[8], 'sh', ARGV[9], 'cx', ARGV[10])
tessera_expire(KEYS[1], tessera_expiry(tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])))
redis.call('ZADD', KEYS[2], tessera_score(ARGV[7]), ARGV[12])
return reply
