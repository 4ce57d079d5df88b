-- purge_index: removes the entries of one subject index whose session is
-- gone or expired at `now` (deleting the expired sessions too).
-- KEYS[1] subject index. ARGV[1] now, [2] session key prefix of the tag.
-- Returns {sessions deleted, index entries deleted}.
local now = tonumber(ARGV[1])
local sessions, entries = 0, 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[2] .. m
  local meta = tessera_read(key)
  -- A value of a newer format, or a session of format 1, keeps its
  -- session and its entry.
  if meta == nil or (meta and not meta.newer and not meta.older and now >= meta.exp) then
    if meta then
      redis.call('DEL', key)
      sessions = sessions + 1
    end
    entries = entries + redis.call('ZREM', KEYS[1], m)
  end
end
return {sessions, entries}
