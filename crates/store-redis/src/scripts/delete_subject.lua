-- delete_subject: deletes a subject's sessions (optionally of one context)
-- through its index.
-- KEYS[1] subject index. ARGV[1] now, [2] session key prefix of the tag,
-- [3] context, or '' for all contexts.
-- Returns the members of the live sessions deleted. Damaged hashes go too
-- when every context is asked for.
local now = tonumber(ARGV[1])
local deleted = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[2] .. m
  local meta = tessera_meta(key)
  if meta == nil then
    redis.call('ZREM', KEYS[1], m)
  elseif ARGV[3] == '' or (meta and meta.cx == ARGV[3]) then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], m)
    if meta and now < meta.exp then deleted[#deleted + 1] = m end
  end
end
return deleted
