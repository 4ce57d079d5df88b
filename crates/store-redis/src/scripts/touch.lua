-- get_and_touch: reads a session and, if asked, records its use at `now`.
-- KEYS[1] session hash. ARGV[1] now (ms), ARGV[2] '1' to touch, '0' to read.
-- Returns {'ok', rec, lu, v}, {'none'} when absent or expired,
-- {'corrupt'} when the hash's metadata is damaged, or {'newer', format}
-- when its record is of a newer format (not touched).
local f = redis.call('HMGET', KEYS[1], 'rec', 'lu', 'mi', 'hx', 'v')
if not (f[1] or f[2] or f[3] or f[4] or f[5]) then return {'none'} end
local newer = tessera_newer(f[1])
if newer then return {'newer', newer} end
local lu, mi, hx = tonumber(f[2]), tonumber(f[3]), tessera_hx(f[4])
if not (f[1] and lu and mi and hx and f[5]) then return {'corrupt'} end
local now = tonumber(ARGV[1])
if now >= tessera_expiry(lu, mi, hx) then return {'none'} end
if ARGV[2] == '1' and now > lu then
  redis.call('HSET', KEYS[1], 'lu', ARGV[1])
  if mi >= 0 then tessera_expire(KEYS[1], tessera_expiry(now, mi, hx)) end
  return {'ok', f[1], ARGV[1], f[5]}
end
return {'ok', f[1], f[2], f[5]}
