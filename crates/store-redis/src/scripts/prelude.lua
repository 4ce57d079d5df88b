-- Tessera session store: helpers shared by every script (prepended to each).
--
-- A session is one string value: 'TS', a format byte, then a MessagePack
-- map (cmsgpack) of one-letter keys: l (last use, ms), m (max idle, ms, -1
-- unlimited), h (hard expiry: the earlier of the max_life and auth_life
-- ends, ms, possibly before 1970; 'never' when both are unlimited),
-- v (version), s (subject hash: names the subject index), c (context),
-- k (the key generation that signed the SID, absent when unknown) and b
-- (the rest of the session, which the scripts carry but never open). See
-- value.rs. The scripts work on tables with the long names lu, mi, hx, v,
-- sh, cx, kg, b; tessera_read and tessera_write translate.
-- Every decision uses the caller's `now` (ARGV), never Redis' clock, so the
-- caller's clock is the one truth.

-- The value format this build writes and the newest it reads
-- (value::FORMAT). Format 1 was a hash of separate fields.
local TESSERA_FORMAT = 2

-- The largest value read as a session (record::MAX_RECORD_BYTES).
local TESSERA_MAX_BYTES = 1048576

-- The hard expiry field as a number: math.huge for the explicit 'never'
-- (any number, negative ones included, is an instant); nil when damaged.
local function tessera_hx(v)
  if v == 'never' then return math.huge end
  if type(v) ~= 'number' then return nil end
  return v
end

-- The session's expiry in ms; math.huge when it never expires.
local function tessera_expiry(lu, mi, hx)
  local e = hx
  if mi >= 0 and lu + mi < e then e = lu + mi end
  return e
end

-- The session value at `key`:
--   nil               no session;
--   {older = true}    the key holds a hash: a session of format 1;
--   {newer = format, raw = value}  a value of a newer format (never
--                     changed here: an older server must not destroy what
--                     it cannot read);
--   false             a damaged value;
--   else the map, with `exp` (its expiry, math.huge for never) added.
local function tessera_read(key)
  local raw = redis.pcall('GET', key)
  if type(raw) == 'table' and raw.err then
    if string.find(raw.err, 'WRONGTYPE', 1, true) then return {older = true} end
    error(raw)
  end
  if not raw then return nil end
  -- Over tessera_store::record::MAX_RECORD_BYTES: damaged, whatever it is.
  if #raw > TESSERA_MAX_BYTES then return false end
  if #raw < 3 or string.sub(raw, 1, 2) ~= 'TS' then return false end
  local format = string.byte(raw, 3)
  if format > TESSERA_FORMAT then return {newer = format, raw = raw} end
  if format < TESSERA_FORMAT then return false end
  local ok, m = pcall(cmsgpack.unpack, string.sub(raw, 4))
  if not ok or type(m) ~= 'table' then return false end
  local t = {lu = m.l, mi = m.m, hx = m.h, v = m.v, sh = m.s, cx = m.c,
    kg = m.k, b = m.b}
  local hx = tessera_hx(t.hx)
  if not (type(t.lu) == 'number' and type(t.mi) == 'number' and hx
      and type(t.v) == 'number' and type(t.sh) == 'string'
      and type(t.b) == 'string') then
    return false
  end
  t.exp = tessera_expiry(t.lu, t.mi, hx)
  t.raw = raw
  return t
end

-- Writes the session value at `key` from `t` (lu, mi, hx, v, sh, cx, kg,
-- b) with the key's expiry at the session's: PXAT, or none for never.
local function tessera_write(key, t)
  local value = {l = t.lu, m = t.mi, h = t.hx, v = t.v, s = t.sh,
    c = t.cx, k = t.kg, b = t.b}
  local raw = 'TS' .. string.char(TESSERA_FORMAT) .. cmsgpack.pack(value)
  local e = tessera_expiry(t.lu, t.mi, tessera_hx(t.hx))
  if e == math.huge then
    redis.call('SET', key, raw)
  else
    -- An instant before 1970 has passed as surely as 1 ms after it.
    if e < 1 then e = 1 end
    redis.call('SET', key, raw, 'PXAT', string.format('%d', e))
  end
end

-- Stores `raw`, a value the caller encoded, at `key`, expiring at `px`
-- (ms; '' for never).
local function tessera_set(key, raw, px)
  if px == '' then
    redis.call('SET', key, raw)
  else
    redis.call('SET', key, raw, 'PXAT', px)
  end
end

-- A session's fields from script arguments (all strings): lu, mi, hx
-- ('never' or ms), v, sh, cx, kg ('' unknown), b.
local function tessera_fields(lu, mi, hx, v, sh, cx, kg, b)
  local h = 'never'
  if hx ~= 'never' then h = tonumber(hx) end
  local g = nil
  if kg ~= '' then g = tonumber(kg) end
  return {lu = tonumber(lu), mi = tonumber(mi), hx = h, v = tonumber(v),
    sh = sh, cx = cx, kg = g, b = b}
end

-- The index score of a session: its hard expiry, +inf for never.
local function tessera_score(hx)
  if hx == 'never' then return '+inf' end
  return string.format('%d', hx)
end

-- The key generation of a read session as text ('' unknown).
local function tessera_kg(t)
  if t.kg == nil then return nil end
  return string.format('%d', t.kg)
end

-- The value of a base64url digit, from its byte: members are storage keys
-- in unpadded base64url, whose digits in order spell the key's bits.
local function tessera_digit(c)
  if c >= 97 then return c - 71 end -- a-z: 26..51
  if c >= 65 then
    if c == 95 then return 63 end -- _
    return c - 65 -- A-Z: 0..25
  end
  if c >= 48 then return c + 4 end -- 0-9: 52..61
  return 62 -- -
end

-- Orders live sessions next-expiring first, ties by storage key bytes
-- (the same order as tessera_core::decide): digit by digit, by the digits'
-- values, never by strcoll, so neither the alphabet's ASCII order nor the
-- server's locale can change the order.
local function tessera_before(a, b)
  if a.exp ~= b.exp then return a.exp < b.exp end
  for i = 1, math.min(#a.m, #b.m) do
    local x = tessera_digit(string.byte(a.m, i))
    local y = tessera_digit(string.byte(b.m, i))
    if x ~= y then return x < y end
  end
  return #a.m < #b.m
end
