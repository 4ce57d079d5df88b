-- create_anonymous: stores a new pre-login session: no quota and no subject
-- index (its subject hash is '', which every script reads as "no index").
-- KEYS[1] session key.
-- ARGV[1] now, [2] body, [3] lu, [4] mi, [5] hx, [6] v, [7] cx, [8] the
-- key generation that signed its SID ('' unknown).
-- Returns {'ok'}, {'exists'}, {'older'} or {'newer', format} (nothing is
-- changed then).
local old = tessera_read(KEYS[1])
if old then
  if old.older then return {'older'} end
  if old.newer then return {'newer', old.newer} end
  if tonumber(ARGV[1]) < old.exp then return {'exists'} end
end
if old == false then return {'exists'} end
tessera_write(KEYS[1], tessera_fields(ARGV[3], ARGV[4], ARGV[5], ARGV[6], '',
  ARGV[7], ARGV[8], ARGV[2]))
return {'ok'}
