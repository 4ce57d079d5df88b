-- create: stores a new session and applies the subject's quota, atomically.
-- KEYS[1] session key, KEYS[2] subject index.
-- ARGV[1] now, [2] quota, [3] 'deny' or 'close', [4] body, [5] lu, [6] mi,
-- [7] hx, [8] v, [9] sh, [10] cx, [11] session key prefix of the tag,
-- [12] the new session's index member, [13] index key prefix of the tag,
-- [14] the key generation that signed the new session's SID ('' unknown),
-- [15] the generations held, comma-separated ('' unknown: all count).
-- A live session signed by a generation not held does not count and is
-- never closed (tessera_core::Signers).
-- Returns {'ok', closed members...}, {'exists'}, {'quota'}, {'corrupt'},
-- {'older'} when a session of the subject is of format 1, or
-- {'newer', format} when one is of a newer format (nothing is changed
-- then).
local now = tonumber(ARGV[1])
local old = tessera_read(KEYS[1])
if old == false or (old and (old.older or old.newer or now < old.exp)) then
  return {'exists'}
end
-- The subject's live sessions; stale and expired entries are pruned here,
-- so the index never depends on keyspace notifications. Every session is
-- looked at before anything is deleted, so a refusal changes nothing.
local metas = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local meta = tessera_read(ARGV[11] .. m)
  if meta == false then return {'corrupt'} end
  if meta and meta.older then return {'older'} end
  if meta and meta.newer then return {'newer', meta.newer} end
  metas[#metas + 1] = {m = m, meta = meta}
end
-- An expired session under the new one's key gives way to it.
if old then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', ARGV[13] .. old.sh, ARGV[12])
end
local held = nil
if ARGV[15] ~= '' then
  held = {}
  for g in string.gmatch(ARGV[15], '[^,]+') do held[g] = true end
end
local live = {}
for _, entry in ipairs(metas) do
  local m, meta = entry.m, entry.meta
  local key = ARGV[11] .. m
  if meta == nil then
    redis.call('ZREM', KEYS[2], m)
  elseif now >= meta.exp then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], m)
  elseif held == nil or meta.kg == nil or held[tessera_kg(meta)] then
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
local t = tessera_fields(ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10],
  ARGV[14], ARGV[4])
tessera_write(KEYS[1], t)
redis.call('ZADD', KEYS[2], tessera_score(t.hx), ARGV[12])
return reply
