-- create: stores a new session and applies the subject's quota, atomically.
-- KEYS[1] session key, KEYS[2] subject index.
-- ARGV[1] now, [2] quota, [3] 'deny' or 'close', [4] the value, encoded by
-- the caller (value.rs), [5] its key expiry in ms ('' none), [6] its index
-- score, [7] its index member (the end of KEYS[1]), [8] index key prefix of
-- the tag, [9] the key generations held, comma-separated ('' unknown: all
-- count).
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
-- The session keys of the tag: KEYS[1] without its member.
local sessions = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[7])
local metas = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local meta = tessera_read(sessions .. m)
  if meta == false then return {'corrupt'} end
  if meta and meta.older then return {'older'} end
  if meta and meta.newer then return {'newer', meta.newer} end
  metas[#metas + 1] = {m = m, meta = meta}
end
-- An expired session under the new one's key gives way to it.
if old then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', ARGV[8] .. old.sh, ARGV[7])
end
local held = nil
if ARGV[9] ~= '' then
  held = {}
  for g in string.gmatch(ARGV[9], '[^,]+') do held[g] = true end
end
local live = {}
for _, entry in ipairs(metas) do
  local m, meta = entry.m, entry.meta
  local key = sessions .. m
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
    redis.call('DEL', sessions .. live[i].m)
    redis.call('ZREM', KEYS[2], live[i].m)
    reply[#reply + 1] = live[i].m
  end
end
tessera_set(KEYS[1], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
return reply
