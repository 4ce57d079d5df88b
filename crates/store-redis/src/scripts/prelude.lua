-- Tessera session store: helpers shared by every script (prepended to each).
--
-- A session hash holds: rec (the encoded record), lu (last use, ms),
-- mi (max idle, ms, -1 unlimited), hx (hard expiry: the earlier of the
-- max_life and auth_life ends, ms, -1 never), v (version), sh (subject
-- hash: names the subject index), cx (context).
-- Every decision uses the caller's `now` (ARGV), never Redis' clock, so the
-- caller's clock is the one truth.

-- The session's expiry in ms; math.huge when it never expires.
local function tessera_expiry(lu, mi, hx)
  local e = math.huge
  if hx >= 0 then e = hx end
  if mi >= 0 and lu + mi < e then e = lu + mi end
  return e
end

-- Sets the key's expiry to the session's: PEXPIREAT, or none for never.
local function tessera_expire(key, e)
  if e == math.huge then
    redis.call('PERSIST', key)
  else
    redis.call('PEXPIREAT', key, string.format('%d', e))
  end
end

-- The index score of a session: its hard expiry, +inf for never.
local function tessera_score(hx)
  if hx == '-1' then return '+inf' end
  return hx
end

-- The expiry metadata of the session hash at `key`:
-- nil when there is no session, false when the hash is damaged,
-- else {exp = expiry, sh = subject hash, cx = context}.
local function tessera_meta(key)
  local f = redis.call('HMGET', key, 'lu', 'mi', 'hx', 'sh', 'cx', 'v')
  if not (f[1] or f[2] or f[3] or f[4] or f[5] or f[6]) then return nil end
  local lu, mi, hx = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
  if not (lu and mi and hx) then return false end
  return {exp = tessera_expiry(lu, mi, hx), sh = f[4], cx = f[5]}
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

