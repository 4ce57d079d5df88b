-- create_anonymous: stores a new pre-login session: no quota and no subject
-- index (its subject hash is '', which every script reads as "no index").
-- KEYS[1] session key.
-- ARGV[1] now, [2] the value, encoded by the caller (value.rs), [3] its key
-- expiry in ms ('' none).
-- Returns {'ok'}, {'exists'}, {'older'} or {'newer', format} (nothing is
-- changed then).
local old = tessera_read(KEYS[1])
if old then
  if old.older then return {'older'} end
  if old.newer then return {'newer', old.newer} end
  if tonumber(ARGV[1]) < old.exp then return {'exists'} end
end
if old == false then return {'exists'} end
tessera_set(KEYS[1], ARGV[2], ARGV[3])
return {'ok'}
