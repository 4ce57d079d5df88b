//! Hiding the password inside a Redis URL.

/// `url` with the password of its userinfo part (`scheme://user:PASSWORD@host`)
/// replaced by `<redacted>`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:<redacted>"),
        // `redis://secret@host` is a password without a user name.
        None if scheme.starts_with("redis") => "<redacted>".to_owned(),
        None => userinfo.to_owned(),
    };
    format!("{scheme}://{user}@{host}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact_url("rediss://app:s3cret@cache:6380/2"),
            "rediss://app:<redacted>@cache:6380/2"
        );
        assert_eq!(
            redact_url("redis://s3cret@cache"),
            "redis://<redacted>@cache"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(
            redact_url("redis://:p@ss@cache/0"),
            "redis://:<redacted>@cache/0"
        );
    }
}
