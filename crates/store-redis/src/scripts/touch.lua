-- touch: records a session's use at `now`, when a reader found that the
-- touch window has passed since the stored last use. The common read is a
-- plain GET; this runs only when a write is due.
-- KEYS[1] session key. ARGV[1] now (ms), ARGV[2] the version read.
-- Returns {'ok'} (touched, or already touched or changed since the read:
-- nothing to do), {'none'} when absent or expired, {'corrupt'}, {'older'}
-- for a session of format 1, or {'newer', format} (not touched).
local t = tessera_read(KEYS[1])
if t == nil then return {'none'} end
if t == false then return {'corrupt'} end
if t.older then return {'older'} end
if t.newer then return {'newer', t.newer} end
local now = tonumber(ARGV[1])
if now >= t.exp then return {'none'} end
-- An update since the read wrote its own last use; a later touch, a later
-- one. Either way last_used never moves backwards.
if t.v ~= tonumber(ARGV[2]) or now <= t.lu then return {'ok'} end
t.lu = now
tessera_write(KEYS[1], t)
return {'ok'}
