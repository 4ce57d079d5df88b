-- delete: removes a session and its index entry.
-- KEYS[1] session key. ARGV[1] now, [2] index key prefix of the tag,
-- [3] index member.
-- The index key is built from the session's own subject hash: it carries
-- the same tag, so it is in the same Cluster slot as KEYS[1].
-- Returns {'ok', value} when a live session was deleted, {'older'} when a
-- session of format 1 was (a logout is never refused), {'newer', format}
-- when its value is of a newer format (left alone), else {'none'}
-- (absent, expired or damaged; deleted all the same).
local t = tessera_read(KEYS[1])
if t == nil then return {'none'} end
if t and t.newer then return {'newer', t.newer} end
if t and t.older then
  local sh = redis.call('HGET', KEYS[1], 'sh')
  redis.call('DEL', KEYS[1])
  if sh then redis.call('ZREM', ARGV[2] .. sh, ARGV[3]) end
  return {'older'}
end
redis.call('DEL', KEYS[1])
if t == false then return {'none'} end
if t.sh ~= '' then redis.call('ZREM', ARGV[2] .. t.sh, ARGV[3]) end
if tonumber(ARGV[1]) >= t.exp then return {'none'} end
return {'ok', t.raw}
