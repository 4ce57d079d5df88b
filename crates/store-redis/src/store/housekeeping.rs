//! Walks over the store's keys (count, purge, revoke-all), the ping, and
//! the legacy SID aliases.

use super::*;

impl RedisStore {
    /// Streams the keys matching `pattern` (on every primary under
    /// Cluster). Each page must arrive within the command timeout.
    pub(super) fn scan(
        &self,
        what: &'static str,
        pattern: String,
    ) -> Result<BoxStream<'static, Result<Key, StoreError>>, StoreError> {
        let client = self.one_client(what)?.clone();
        let keys = if self.clustered {
            client
                .scan_cluster_buffered(pattern, Some(SCAN_PAGE), None)
                .boxed()
        } else {
            client.scan_buffered(pattern, Some(SCAN_PAGE), None).boxed()
        };
        let timeout = self.command_timeout;
        let bounded = futures::stream::unfold(Some(keys), move |state| async move {
            let mut keys = state?;
            match tokio::time::timeout(timeout, keys.next()).await {
                Ok(Some(Ok(key))) => Some((Ok(key), Some(keys))),
                Ok(Some(Err(e))) => Some((Err(store_error(what, e)), None)),
                Ok(None) => None,
                Err(elapsed) => Some((Err(StoreError::unavailable(what, elapsed)), None)),
            }
        });
        Ok(bounded.boxed())
    }

    /// Runs `script` on every session hash of the store (found by `SCAN`,
    /// on every primary of a Cluster), a bounded number at a time, with the
    /// arguments each per-session script takes: `now`, the index key prefix
    /// of the session's tag and its index member. Yields the replies.
    pub(super) fn on_every_session<'a>(
        &'a self,
        what: &'static str,
        script: &'a Script,
        now: Timestamp,
    ) -> Result<impl futures::Stream<Item = Result<Value, StoreError>> + 'a, StoreError> {
        let now_arg = now.as_millis().to_string();
        Ok(self
            .scan(what, self.keys.session_pattern())?
            .try_filter_map(|k| {
                futures::future::ready(Ok(k.as_str().and_then(|s| self.keys.parse_session(s))))
            })
            .map_ok(move |id| {
                let args = vec![
                    arg(now_arg.clone()),
                    arg(self.keys.index_prefix(id.tag())),
                    arg(keys::member(&id.storage_key())),
                ];
                let keys = vec![key(self.keys.session(&id))];
                self.run(script, what, keys, args)
            })
            .try_buffer_unordered(HOUSEKEEPING_CONCURRENCY))
    }

    /// One `SET` with `PXAT` at the alias's expiry, so Redis forgets it on
    /// its own; in a Cluster the alias lives in whatever slot its key
    /// hashes to, apart from the session (which stays in its subject's slot).
    pub(super) async fn put_alias(
        &self,
        legacy: &StorageKey,
        alias: &LegacyAlias,
    ) -> Result<(), StoreError> {
        const WHAT: &str = "writing a legacy SID alias";
        let expire = alias.expires.map(|t| Expiration::PXAT(t.as_millis()));
        self.bounded(
            WHAT,
            self.client(WHAT)?.set::<Value, _, _>(
                self.keys.legacy_alias(legacy),
                alias.encode(),
                expire,
                None,
                false,
            ),
        )
        .await
        .map(drop)
    }

    pub(super) async fn read_alias(
        &self,
        legacy: &StorageKey,
        now: Timestamp,
    ) -> Result<Option<SessionRef>, StoreError> {
        const WHAT: &str = "reading a legacy SID alias";
        let stored: Option<String> = self
            .bounded(WHAT, self.client(WHAT)?.get(self.keys.legacy_alias(legacy)))
            .await?;
        let Some(text) = stored else {
            return Ok(None);
        };
        let alias = LegacyAlias::decode(text.as_bytes())?;
        Ok((!alias.is_expired(now)).then_some(alias.id))
    }

    pub(super) async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        const WHAT: &str = "counting sessions";
        self.scan(WHAT, self.keys.session_pattern())?
            .map_ok(|key| async move {
                let stored: Value = match self.bounded_raw(self.client(WHAT)?.get(key)).await {
                    Ok(stored) => stored,
                    // A session of format 1 (a hash) is not counted.
                    Err(e) if is_wrong_type(&e) => return Ok(0),
                    Err(e) => return Err(store_error(WHAT, e)),
                };
                // Damaged values and values of newer formats are not counted.
                let live = reply::bytes(stored, WHAT)
                    .ok()
                    .and_then(|bytes| value::decode(&bytes).ok())
                    .is_some_and(|session| !session.is_expired(now));
                Ok(u64::from(live))
            })
            .try_buffer_unordered(HOUSEKEEPING_CONCURRENCY)
            .try_fold(0, |total, live| async move { Ok(total + live) })
            .await
    }

    /// Every session hash found by `SCAN` (on every primary of a Cluster)
    /// goes through the delete script, which removes its index entry too
    /// and leaves a record of a newer format alone.
    pub(super) async fn delete_everything(
        &self,
        now: Timestamp,
    ) -> Result<RevokeReport, StoreError> {
        const WHAT: &str = "ending every session";
        self.on_every_session(WHAT, &self.scripts.delete, now)?
            .and_then(|value| async move {
                match Reply::parse(value, WHAT)?.status() {
                    "ok" | "older" => Ok(RevokeReport { ended: 1, left: 0 }),
                    "none" => Ok(RevokeReport::default()),
                    "newer" => Ok(RevokeReport { ended: 0, left: 1 }),
                    _ => Err(unexpected_reply(WHAT)),
                }
            })
            .try_fold(RevokeReport::default(), |total, one| async move {
                Ok(total + one)
            })
            .await
    }

    pub(super) async fn purge_all(&self, now: Timestamp) -> Result<PurgeReport, StoreError> {
        const WHAT: &str = "purging sessions";
        let now_arg = now.as_millis().to_string();
        // Expired sessions first, each with its own index entry.
        let sessions = self
            .on_every_session(WHAT, &self.scripts.purge_session, now)?
            .and_then(|reply| async move { counts(&reply, WHAT) })
            .try_fold(PurgeReport::default(), |a, b| async move { Ok(add(a, b)) })
            .await?;
        // Then index entries whose session is gone (Redis expired it, or a
        // crash between writes) or expired since.
        let indexes = self
            .scan(WHAT, self.keys.index_pattern())?
            .try_filter_map(|k| {
                futures::future::ready(Ok(k
                    .as_str()
                    .and_then(|s| Some((s.to_owned(), self.keys.parse_index_tag(s)?)))))
            })
            .map_ok(|(index, tag)| {
                let args = vec![arg(now_arg.clone()), arg(self.keys.session_prefix(tag))];
                async move {
                    let reply = self
                        .run(&self.scripts.purge_index, WHAT, vec![key(index)], args)
                        .await?;
                    counts(&reply, WHAT)
                }
            })
            .try_buffer_unordered(HOUSEKEEPING_CONCURRENCY)
            .try_fold(PurgeReport::default(), |a, b| async move { Ok(add(a, b)) })
            .await?;
        let report = add(sessions, indexes);
        if report != PurgeReport::default() {
            tracing::debug!(
                sessions = report.sessions,
                index_entries = report.index_entries,
                "purged expired sessions and stale index entries"
            );
        }
        Ok(report)
    }

    pub(super) async fn ping_backend(&self) -> Result<(), StoreError> {
        const WHAT: &str = "pinging Redis";
        self.bounded(WHAT, self.client(WHAT)?.ping::<Value>(None))
            .await
            .map(drop)
    }
}

fn counts(reply: &Value, what: &'static str) -> Result<PurgeReport, StoreError> {
    let Value::Array(values) = reply else {
        return Err(unexpected_reply(what));
    };
    let [sessions, entries] = values.as_slice() else {
        return Err(unexpected_reply(what));
    };
    let count = |v: &Value| {
        reply::integer(v, what).and_then(|n| u64::try_from(n).map_err(|_| unexpected_reply(what)))
    };
    Ok(PurgeReport {
        sessions: count(sessions)?,
        index_entries: count(entries)?,
    })
}

fn add(a: PurgeReport, b: PurgeReport) -> PurgeReport {
    PurgeReport {
        sessions: a.sessions + b.sessions,
        index_entries: a.index_entries + b.index_entries,
    }
}
