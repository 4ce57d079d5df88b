-- delete: removes a session and its index entry.
-- KEYS[1] session hash. ARGV[1] now, [2] index key prefix of the tag,
-- [3] index member.
-- The index key is built from the hash's own subject hash: it carries the
-- same tag, so it is in the same Cluster slot as KEYS[1].
-- Returns {'ok', rec, lu, v} when a live session was deleted, {'newer',
-- format} when its record is of a newer format (left alone), else {'none'}
-- (absent, expired or damaged; deleted all the same).
local f = redis.call('HMGET', KEYS[1], 'rec', 'lu', 'mi', 'hx', 'v', 'sh')
if not (f[1] or f[2] or f[3] or f[4] or f[5] or f[6]) then return {'none'} end
local newer = tessera_newer(f[1])
if newer then return {'newer', newer} end
redis.call('DEL', KEYS[1])
if f[6] then redis.call('ZREM', ARGV[2] .. f[6], ARGV[3]) end
local lu, mi, hx = tonumber(f[2]), tonumber(f[3]), tessera_hx(f[4])
if not (f[1] and lu and mi and hx and f[5]) then return {'none'} end
if tonumber(ARGV[1]) >= tessera_expiry(lu, mi, hx) then return {'none'} end
return {'ok', f[1], f[2], f[5]}
