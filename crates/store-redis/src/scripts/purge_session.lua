-- purge_session: deletes one session hash if it has expired at `now`,
-- with its index entry.
-- KEYS[1] session hash. ARGV[1] now, [2] index key prefix of the tag,
-- [3] index member.
-- Returns {sessions deleted, index entries deleted}.
-- A record of a newer format is left alone.
local meta = tessera_meta(KEYS[1])
if not meta or meta.newer or tonumber(ARGV[1]) < meta.exp then return {0, 0} end
redis.call('DEL', KEYS[1])
local entries = 0
if meta.sh then entries = redis.call('ZREM', ARGV[2] .. meta.sh, ARGV[3]) end
return {1, entries}
