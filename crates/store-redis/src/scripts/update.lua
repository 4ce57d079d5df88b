-- update: replaces a live session, compare-and-set on its version.
-- KEYS[1] session key, KEYS[2] subject index.
-- ARGV[1] now, [2] expected version, [3] next version, [4] body, [5] lu,
-- [6] mi, [7] hx, [8] sh, [9] cx, [10] index member.
-- Returns {'ok', lu}, {'none'}, {'expired'}, {'conflict', v},
-- {'subject'} or {'context'} when either would change, {'corrupt'},
-- {'older'} for a session of format 1, or {'newer', format} when the
-- stored value is of a newer format.
local t = tessera_read(KEYS[1])
if t == nil then return {'none'} end
if t == false then return {'corrupt'} end
if t.older then return {'older'} end
if t.newer then return {'newer', t.newer} end
local now = tonumber(ARGV[1])
if now >= t.exp then return {'expired'} end
if t.v ~= tonumber(ARGV[2]) then return {'conflict', string.format('%d', t.v)} end
if t.sh ~= ARGV[8] then return {'subject'} end
if (t.cx or '') ~= ARGV[9] then return {'context'} end
local next = tessera_fields(ARGV[5], ARGV[6], ARGV[7], ARGV[3], t.sh, ARGV[9],
  '', ARGV[4])
-- The signer does not change; last_used never moves backwards.
next.kg = t.kg
if t.lu > next.lu then next.lu = t.lu end
tessera_write(KEYS[1], next)
-- A pre-login session (subject hash '') has no index entry.
if t.sh ~= '' then
  redis.call('ZADD', KEYS[2], tessera_score(next.hx), ARGV[10])
end
return {'ok', string.format('%d', next.lu)}
