-- update: replaces a live session, compare-and-set on its version.
-- KEYS[1] session hash, KEYS[2] subject index.
-- ARGV[1] now, [2] expected version, [3] next version, [4] rec, [5] lu,
-- [6] mi, [7] hx, [8] sh, [9] cx, [10] index member.
-- Returns {'ok', lu}, {'none'}, {'expired'}, {'conflict', v},
-- {'subject'} or {'context'} when either would change, {'corrupt'}, or
-- {'newer', format} when the stored record is of a newer format.
local f = redis.call('HMGET', KEYS[1], 'lu', 'mi', 'hx', 'v', 'sh', 'cx', 'rec')
if not (f[1] or f[2] or f[3] or f[4] or f[5] or f[7]) then return {'none'} end
local newer = tessera_newer(f[7])
if newer then return {'newer', newer} end
local lu, mi, hx = tonumber(f[1]), tonumber(f[2]), tessera_hx(f[3])
if not (lu and mi and hx and f[4]) then return {'corrupt'} end
local now = tonumber(ARGV[1])
if now >= tessera_expiry(lu, mi, hx) then return {'expired'} end
if f[4] ~= ARGV[2] then return {'conflict', f[4]} end
if f[5] ~= ARGV[8] then return {'subject'} end
if f[6] ~= ARGV[9] then return {'context'} end
-- last_used never moves backwards.
local new_lu = ARGV[5]
if lu > tonumber(new_lu) then new_lu = f[1] end
redis.call('HSET', KEYS[1], 'rec', ARGV[4], 'lu', new_lu, 'mi', ARGV[6],
  'hx', ARGV[7], 'v', ARGV[3], 'cx', ARGV[9])
tessera_expire(KEYS[1], tessera_expiry(tonumber(new_lu), tonumber(ARGV[6]), tessera_hx(ARGV[7])))
redis.call('ZADD', KEYS[2], tessera_score(ARGV[7]), ARGV[10])
return {'ok', new_lu}
