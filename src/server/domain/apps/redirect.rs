//! Where an app may send a person back. A redirect URL is matched exactly as registered
//! (OAuth 2.1, RFC 9700 §4.1.3), with RFC 8252 §7.3's one exception: a native app listening
//! on a loopback IP literal gets whatever port the system gave it, so the port of such a URL
//! is not compared.

use std::net::IpAddr;

use url::{Host, Url};

use crate::rules::error::{bad_input, AppResult};

/// Longer redirect URLs are refused when an app is registered.
pub const MAX_REDIRECT_CHARS: usize = 2000;

/// A redirect URL an app may register: absolute, without a fragment or credentials, and
/// either HTTPS, plain HTTP to this computer (native apps, RFC 8252 §7.3), or a private-use
/// scheme named like a reversed domain (`com.example.app:/callback`, RFC 8252 §7.1).
pub fn check_registered(text: &str) -> AppResult<Url> {
    if text.len() > MAX_REDIRECT_CHARS {
        return Err(bad_input(format!("a redirect URL has at most {MAX_REDIRECT_CHARS} characters")));
    }
    let url = Url::parse(text).map_err(|_| bad_input(format!("{text:?} is not an absolute URL")))?;
    if url.fragment().is_some() {
        return Err(bad_input("a redirect URL cannot have a fragment (#…)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad_input("a redirect URL cannot carry a user name or password"));
    }
    let allowed = match url.scheme() {
        "https" => true,
        "http" => is_loopback(&url) || url.host_str() == Some("localhost"),
        scheme => scheme.contains('.'),
    };
    if !allowed {
        return Err(bad_input(
            "a redirect URL is https://, http:// to 127.0.0.1, [::1] or localhost, or an app's own scheme such as com.example.app:/callback",
        ));
    }
    Ok(url)
}

/// Whether `presented` (from an authorization request) is `registered`: the same string, or
/// for a loopback IP literal over HTTP the same URL on any port.
pub fn matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(mut registered), Ok(mut presented)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    if registered.scheme() != "http" || !is_loopback(&registered) || !is_loopback(&presented) {
        return false;
    }
    // Both are http:// with an IP host, so clearing the port cannot fail.
    let cleared = registered.set_port(None).is_ok() && presented.set_port(None).is_ok();
    cleared && registered == presented
}

/// Whether a URL sends the person back to a program on their own computer (the consent page
/// then says "an app on this computer" instead of naming a site).
pub fn is_on_this_computer(url: &str) -> bool {
    Url::parse(url).is_ok_and(|url| {
        is_loopback(&url) || url.host_str() == Some("localhost") || !matches!(url.scheme(), "http" | "https")
    })
}

/// RFC 8252 §8.3: an IP literal, not `localhost`, whose resolution a program cannot trust.
fn is_loopback(url: &Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_matches_only_as_registered() {
        let registered = "https://app.example.com/callback";
        assert!(matches(registered, registered));
        for other in [
            "https://app.example.com/callback/",
            "https://app.example.com/callback?next=/",
            "https://app.example.com/Callback",
            "https://app.example.com:444/callback",
            "https://app.example.com.evil.test/callback",
            "http://app.example.com/callback",
            "https://app.example.com/callback#x",
            "https://user@app.example.com/callback",
        ] {
            assert!(!matches(registered, other), "{other} must not match {registered}");
        }
    }

    #[test]
    fn a_loopback_ip_redirect_matches_on_any_port_and_nothing_else() {
        let registered = "http://127.0.0.1/callback";
        assert!(matches(registered, "http://127.0.0.1:51004/callback"));
        assert!(matches("http://127.0.0.1:8080/callback", "http://127.0.0.1:51004/callback"));
        assert!(matches("http://[::1]/cb", "http://[::1]:61000/cb"));
        for other in [
            "http://127.0.0.1:51004/callback/other",
            "http://127.0.0.1:51004/callback?x=1",
            "http://127.0.0.2:51004/callback",
            "http://[::1]:51004/callback",
            "https://127.0.0.1:51004/callback",
            "http://localhost:51004/callback",
        ] {
            assert!(!matches(registered, other), "{other} must not match {registered}");
        }
    }

    #[test]
    fn localhost_and_other_hosts_keep_their_port() {
        // RFC 8252 §8.3: `localhost` may resolve elsewhere, so only IP literals float.
        assert!(matches("http://localhost:29363", "http://localhost:29363"));
        assert!(!matches("http://localhost:29363", "http://localhost:29364"));
        assert!(!matches("https://app.example.com/cb", "https://app.example.com:8443/cb"));
    }

    #[test]
    fn registered_urls_are_https_loopback_or_an_app_s_own_scheme() {
        for good in [
            "https://app.example.com/callback",
            "http://127.0.0.1/callback",
            "http://[::1]:8080/",
            "http://localhost:29363",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(check_registered(good).is_ok(), "{good} should be accepted");
        }
        for bad in [
            "http://app.example.com/callback",
            "/callback",
            "javascript:alert(1)",
            "https://app.example.com/callback#frag",
            "https://user:pw@app.example.com/",
            "not a url",
        ] {
            assert!(check_registered(bad).is_err(), "{bad} should be refused");
        }
        assert!(check_registered(&format!("https://a.test/{}", "x".repeat(MAX_REDIRECT_CHARS))).is_err());
    }

    #[test]
    fn loopback_and_app_schemes_read_as_this_computer() {
        assert!(is_on_this_computer("http://127.0.0.1:4000/cb"));
        assert!(is_on_this_computer("http://localhost:29363"));
        assert!(is_on_this_computer("com.example.app:/cb"));
        assert!(!is_on_this_computer("https://app.example.com/cb"));
    }
}
