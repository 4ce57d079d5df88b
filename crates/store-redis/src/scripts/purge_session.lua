-- purge_session: deletes one session if it has expired at `now`, with its
-- index entry.
-- KEYS[1] session key. ARGV[1] now, [2] index key prefix of the tag,
-- [3] index member.
-- Returns {sessions deleted, index entries deleted}.
-- A value of a newer format, or a session of format 1, is left alone.
local meta = tessera_read(KEYS[1])
if not meta or meta.newer or meta.older or tonumber(ARGV[1]) < meta.exp then return {0, 0} end
redis.call('DEL', KEYS[1])
return {1, redis.call('ZREM', ARGV[2] .. meta.sh, ARGV[3])}
