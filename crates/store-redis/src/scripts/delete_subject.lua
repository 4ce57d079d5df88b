-- delete_subject: deletes a subject's sessions (optionally of one context)
-- through its index.
-- KEYS[1] subject index. ARGV[1] now, [2] session key prefix of the tag,
-- [3] context, or '' for all contexts.
-- Returns {'ok', members of the live sessions deleted...}, or {'newer',
-- format} when one of the subject's values is of a newer format (nothing
-- is deleted then). Damaged values go too when every context is asked
-- for; sessions of format 1 go as live ones.
local now = tonumber(ARGV[1])
local entries = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local meta = tessera_read(ARGV[2] .. m)
  if meta and meta.newer then return {'newer', meta.newer} end
  entries[#entries + 1] = {m = m, meta = meta}
end
local deleted = {'ok'}
for _, entry in ipairs(entries) do
  local m, meta = entry.m, entry.meta
  local key = ARGV[2] .. m
  if meta == nil then
    redis.call('ZREM', KEYS[1], m)
  elseif meta and meta.older then
    if ARGV[3] == '' or redis.call('HGET', key, 'cx') == ARGV[3] then
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[1], m)
      deleted[#deleted + 1] = m
    end
  elseif ARGV[3] == '' or (meta and (meta.cx or '') == ARGV[3]) then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], m)
    if meta and now < meta.exp then deleted[#deleted + 1] = m end
  end
end
return deleted
