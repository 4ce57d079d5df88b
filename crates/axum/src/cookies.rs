//! The session cookie: its attributes, reading it from a request and the
//! `Set-Cookie` that sets or clears it.

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::time::Duration as CookieDuration;
use cookie::{Cookie, SameSite};
use zeroize::Zeroizing;

use crate::backend::SidText;

/// The default cookie name. The `__Host-` prefix makes browsers accept the
/// cookie only if it is `Secure`, has `Path=/` and no `Domain`, so no other
/// host or path can plant or shadow it.
pub const DEFAULT_COOKIE_NAME: &str = "__Host-tessera";

/// The prefix that binds a cookie to its host.
const HOST_PREFIX: &str = "__Host-";

/// The session cookie's attributes. The defaults are the safe ones:
/// `__Host-tessera`, `Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/`, no
/// `Domain`, and `Max-Age` counted to the session's hard expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// The cookie's name.
    pub name: String,
    /// `Secure`: sent over HTTPS only. Turn off only for plain-HTTP
    /// development on localhost.
    pub secure: bool,
    /// `HttpOnly`: not readable by page scripts.
    pub http_only: bool,
    /// `SameSite`.
    pub same_site: SameSite,
    /// `Path`.
    pub path: String,
    /// `Domain`, if any (none: this host only).
    pub domain: Option<String>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: DEFAULT_COOKIE_NAME.to_owned(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            path: "/".to_owned(),
            domain: None,
        }
    }
}

impl CookieConfig {
    /// The name the cookie is sent under: the configured one, without its
    /// `__Host-` prefix when the other attributes break the prefix's rules
    /// (browsers would drop such a cookie).
    pub fn effective_name(&self) -> &str {
        let host_bound = self.secure && self.path == "/" && self.domain.is_none();
        match self.name.strip_prefix(HOST_PREFIX) {
            Some(bare) if !host_bound => bare,
            _ => &self.name,
        }
    }

    /// The SID in the request's `Cookie` headers, if any. With several
    /// cookies of the name, the first.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Option<SidText> {
        let name = self.effective_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name && !c.value().is_empty())
            .map(|c| SidText::new(c.value()))
    }

    /// `Set-Cookie` for `sid`, kept for `max_age` seconds (a browser-session
    /// cookie when `None`).
    pub(crate) fn set(&self, sid: &str, max_age: Option<i64>) -> Option<HeaderValue> {
        let mut cookie = self.base(sid);
        if let Some(secs) = max_age {
            cookie.set_max_age(CookieDuration::seconds(secs.max(0)));
        }
        sensitive(&cookie)
    }

    /// `Set-Cookie` that makes the browser forget the cookie.
    pub(crate) fn clear(&self) -> Option<HeaderValue> {
        let mut cookie = self.base("");
        cookie.set_max_age(CookieDuration::ZERO);
        sensitive(&cookie)
    }

    fn base<'c>(&'c self, value: &'c str) -> Cookie<'c> {
        let mut cookie = Cookie::new(self.effective_name(), value);
        cookie.set_secure(self.secure);
        cookie.set_http_only(self.http_only);
        cookie.set_same_site(self.same_site);
        cookie.set_path(self.path.as_str());
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.as_str());
        }
        cookie
    }
}

fn sensitive(cookie: &Cookie<'_>) -> Option<HeaderValue> {
    let text = Zeroizing::new(cookie.to_string());
    let mut value = HeaderValue::from_str(&text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_safe_attributes() {
        let config = CookieConfig::default();
        let set = config.set("abc.def", Some(600)).unwrap();
        let text = set.to_str().unwrap();
        for part in [
            "__Host-tessera=abc.def",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=600",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(!text.contains("Domain"));
        assert!(set.is_sensitive());
        let clear = config.clear().unwrap();
        assert!(clear.to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn the_host_prefix_goes_when_its_rules_cannot_hold() {
        let plain = CookieConfig {
            secure: false,
            ..CookieConfig::default()
        };
        assert_eq!(plain.effective_name(), "tessera");
        let shared = CookieConfig {
            domain: Some("example.com".into()),
            ..CookieConfig::default()
        };
        assert_eq!(shared.effective_name(), "tessera");
        let own = CookieConfig {
            name: "app_sid".into(),
            secure: false,
            ..CookieConfig::default()
        };
        assert_eq!(own.effective_name(), "app_sid");
    }

    #[test]
    fn the_sid_is_found_among_other_cookies() {
        let config = CookieConfig::default();
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-tessera=s1.d2; __Host-tessera=other"),
        );
        let sid = config.read(&headers).unwrap();
        assert_eq!(&*sid, "s1.d2");
        assert_eq!(format!("{sid:?}"), "SidText(redacted)");
        assert!(config.read(&HeaderMap::new()).is_none());
    }
}
