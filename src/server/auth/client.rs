//! Which address a request comes from. The listener's peer, unless that peer is one of our
//! own reverse proxies (`TRUSTED_PROXIES`): then the address that proxy was given, read from
//! `Forwarded` (RFC 7239) or `X-Forwarded-For`, walking back from the nearest hop past every
//! trusted proxy. A client cannot choose its address by sending these headers itself: they
//! are believed only from a trusted peer, and only as far as the chain stays trusted.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The networks of our own reverse proxies, and the one header they set.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>, ForwardingHeader);

/// Which header our proxies write the client's address into. Only that one is read: a
/// proxy passes the other through as the client sent it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardingHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, …`.
    Forwarded,
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of CIDRs (`10.0.0.0/8, 2001:db8::/32`) or single addresses.
    fn from_str(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in list.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let network = match item.parse::<IpNet>() {
                Ok(network) => network,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("TRUSTED_PROXIES: {item:?} is not an address or CIDR"))?,
            };
            networks.push(network);
        }
        Ok(TrustedProxies(Arc::new(networks), ForwardingHeader::default()))
    }
}

impl TrustedProxies {
    /// Reads the client's address from `header` (the one the proxies set).
    pub fn reading(self, header: ForwardingHeader) -> Self {
        TrustedProxies(self.0, header)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client's address for a request from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        // The nearest hop is last; each trusted hop vouches for the one before it.
        for hop in forwarded_for(headers, self.1).iter().rev() {
            let Some(address) = hop else { break };
            client = *address;
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// The hops a request passed, oldest first, as `header` lists them. Each element is decoded
/// on its own; one that is not an address (`unknown`, an obfuscated name, bytes that are not
/// text, a `Forwarded` element without `for=`) is `None`, and stops the walk there.
fn forwarded_for(headers: &HeaderMap, header: ForwardingHeader) -> Vec<Option<IpAddr>> {
    let name = match header {
        ForwardingHeader::XForwardedFor => "x-forwarded-for",
        ForwardingHeader::Forwarded => "forwarded",
    };
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
        .map(|element| {
            let element = std::str::from_utf8(element).ok()?.trim();
            match header {
                ForwardingHeader::XForwardedFor => parse_node(element),
                ForwardingHeader::Forwarded => element.split(';').find_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    if name.trim().eq_ignore_ascii_case("for") {
                        parse_node(value.trim().trim_matches('"'))
                    } else {
                        None
                    }
                }),
            }
        })
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]`, `[2001:db8::1]:80` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The address the request came from, as [`settle`] decided it.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The settled address, else the listener's peer, else 0.0.0.0 (all such share a key).
    pub fn of(extensions: &Extensions) -> IpAddr {
        extensions
            .get::<ClientAddress>()
            .map(|ClientAddress(address)| *address)
            .or_else(|| extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip()))
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }
}

/// Decides each request's client address once, before anything reads it.
pub async fn settle(proxies: TrustedProxies, mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = proxies.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_text_end_the_walk_at_their_element() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let mut map = HeaderMap::new();
        map.append("x-forwarded-for", axum::http::HeaderValue::from_bytes(b"\xff, 198.51.100.7").unwrap());
        assert_eq!(proxies.client(ip("10.0.0.2"), &map), ip("198.51.100.7"));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(proxies.client(ip("203.0.113.9"), &spoofed), ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.1"), &spoofed), ip("10.0.0.1"));
    }

    #[test]
    fn a_trusted_chain_is_walked_back_to_the_first_untrusted_hop() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.1".parse().unwrap();
        // The client forged its first entry; our proxies appended the rest.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &chain), ip("198.51.100.7"));
        let garbage = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &garbage), ip("10.0.0.2"));
        // A `Forwarded` the client sent through an X-Forwarded-For proxy is not read.
        let both = headers(&[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &both), ip("198.51.100.7"));

        let rfc = proxies.clone().reading(ForwardingHeader::Forwarded);
        let forwarded = headers(&[("forwarded", r#"for=6.6.6.6, for="[2001:db8::1]:4711";proto=https"#)]);
        assert_eq!(rfc.client(ip("192.168.1.1"), &forwarded), ip("2001:db8::1"));
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(rfc.client(ip("10.0.0.2"), &unknown), ip("10.0.0.2"));
        let no_for = headers(&[("forwarded", "for=6.6.6.6, proto=https")]);
        assert_eq!(
            rfc.client(ip("10.0.0.2"), &no_for),
            ip("10.0.0.2"),
            "an element without for= stops the walk"
        );
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.example".parse::<TrustedProxies>().is_err());
        assert!("".parse::<TrustedProxies>().is_ok());
    }
}
