-- Tessera session store: helpers shared by every script (prepended to each).
--
-- A session hash holds: rec (the encoded record), lu (last use, ms),
-- mi (max idle, ms, -1 unlimited), hx (hard expiry: the earlier of the
-- max_life and auth_life ends, ms, possibly before 1970; 'never' when
-- both are unlimited), v (version), sh (subject
-- hash: names the subject index), cx (context), and kg (the key
-- generation that signed the SID, when known).
-- Every decision uses the caller's `now` (ARGV), never Redis' clock, so the
-- caller's clock is the one truth.

-- The newest record format this build reads (tessera_store::record::FORMAT).
local TESSERA_FORMAT = 1

-- The format number of an encoded record: every format begins with the
-- envelope {"format":N. nil when the record does not (damaged).
local function tessera_format(rec)
  if not rec then return nil end
  return tonumber(string.match(rec, '^{"format":(%d+)'))
end

-- The format of `rec` when it is newer than this build reads, else nil.
-- A newer record is never changed or deleted here: an older server must
-- not destroy what it cannot read.
local function tessera_newer(rec)
  local f = tessera_format(rec)
  if f and f > TESSERA_FORMAT then return f end
  return nil
end

-- The hard expiry field as a number: math.huge for the explicit 'never'
-- (any number, negative ones included, is an instant); nil when damaged.
local function tessera_hx(v)
  if v == 'never' then return math.huge end
  return tonumber(v)
end

-- The session's expiry in ms; math.huge when it never expires.
local function tessera_expiry(lu, mi, hx)
  local e = hx
  if mi >= 0 and lu + mi < e then e = lu + mi end
  return e
end

-- Sets the key's expiry to the session's: PEXPIREAT, or none for never.
local function tessera_expire(key, e)
  if e == math.huge then
    redis.call('PERSIST', key)
  else
    -- An instant before 1970 has passed as surely as 1 ms after it.
    if e < 1 then e = 1 end
    redis.call('PEXPIREAT', key, string.format('%d', e))
  end
end

-- The index score of a session: its hard expiry, +inf for never.
local function tessera_score(hx)
  if hx == 'never' then return '+inf' end
  return hx
end

-- The expiry metadata of the session hash at `key`:
-- nil when there is no session, {newer = format} when its record is of a
-- newer format, false when the hash is damaged,
-- else {exp = expiry, sh = subject hash, cx = context, kg = key generation}.
local function tessera_meta(key)
  local f = redis.call('HMGET', key, 'lu', 'mi', 'hx', 'sh', 'cx', 'v', 'rec', 'kg')
  if not (f[1] or f[2] or f[3] or f[4] or f[5] or f[6] or f[7]) then return nil end
  local newer = tessera_newer(f[7])
  if newer then return {newer = newer} end
  local lu, mi, hx = tonumber(f[1]), tonumber(f[2]), tessera_hx(f[3])
  if not (lu and mi and hx) then return false end
  return {exp = tessera_expiry(lu, mi, hx), sh = f[4], cx = f[5], kg = f[8]}
end

-- Orders live sessions next-expiring first, ties by storage key bytes
-- (the same order as tessera_core::decide). Compares bytes, not strcoll,
-- so the server's locale cannot change the order.
local function tessera_before(a, b)
  if a.exp ~= b.exp then return a.exp < b.exp end
  for i = 1, math.min(#a.m, #b.m) do
    local x, y = string.byte(a.m, i), string.byte(b.m, i)
    if x ~= y then return x < y end
  end
  return #a.m < #b.m
end

