-- list: the live sessions of a subject, read through its index.
-- KEYS[1] subject index. ARGV[1] now, [2] session key prefix of the tag.
-- Returns {member, rec, lu, v, member, rec, lu, v, ...}. Read-only: stale
-- entries are left for create and purge to prune.
local now = tonumber(ARGV[1])
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', ARGV[2] .. m, 'rec', 'lu', 'mi', 'hx', 'v')
  local lu, mi, hx = tonumber(f[2]), tonumber(f[3]), tessera_hx(f[4])
  if f[1] and lu and mi and hx and f[5] and now < tessera_expiry(lu, mi, hx) then
    out[#out + 1] = m
    out[#out + 1] = f[1]
    out[#out + 1] = f[2]
    out[#out + 1] = f[5]
  end
end
return out
