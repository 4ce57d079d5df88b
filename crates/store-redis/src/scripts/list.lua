-- list: the live sessions of a subject, read through its index.
-- KEYS[1] subject index. ARGV[1] now, [2] session key prefix of the tag.
-- Returns {member, value, member, value, ...}, or {'older'} when one is
-- a session of format 1. A value of a newer format is returned as it is,
-- for the reader to refuse. Read-only: stale entries are left for create
-- and purge to prune.
local now = tonumber(ARGV[1])
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local t = tessera_read(ARGV[2] .. m)
  if t and t.older then return {'older'} end
  if t and (t.newer or now < t.exp) then
    out[#out + 1] = m
    out[#out + 1] = t.raw
  end
end
return out
