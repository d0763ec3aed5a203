//! The client's address, proxy-aware and spoof-resistant.
//!
//! The socket's peer address is the client unless the peer is inside a configured trusted
//! proxy network. Only then is `X-Forwarded-For` read, from the right (the hop the nearest
//! proxy appended) to the left, skipping trusted proxies: the first untrusted hop is the client.
//! Everything left of it was written by the client and is never believed.
//!
//! ```
//! use rail_graphql_security::client_ip::TrustedProxies;
//!
//! let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
//! // A direct client cannot spoof its address with the header.
//! assert_eq!(proxies.client_ip("203.0.113.9".parse().unwrap(), ["1.2.3.4"]), "203.0.113.9".parse::<std::net::IpAddr>().unwrap());
//! // Behind the proxy, the right-most untrusted hop wins over whatever the client prepended.
//! assert_eq!(proxies.client_ip("10.0.0.2".parse().unwrap(), ["1.2.3.4, 198.51.100.7, 10.0.0.3"]), "198.51.100.7".parse::<std::net::IpAddr>().unwrap());
//! ```

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The networks whose `X-Forwarded-For` is believed (load balancers, reverse proxies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

/// A trusted-proxy entry that is neither an address nor a CIDR network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trusted proxy `{0}`: use an address (10.0.0.1, ::1) or a CIDR network (10.0.0.0/8, fd00::/8)")]
pub struct InvalidProxy(pub String);

impl TrustedProxies {
    /// No trusted proxy: the socket address is always the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts these networks.
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> Self {
        Self { networks: networks.into_iter().collect() }
    }

    /// Parses addresses and CIDR networks (`10.0.0.1`, `10.0.0.0/8`, `fd00::/8`).
    pub fn parse<I, S>(entries: I) -> Result<Self, InvalidProxy>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let networks = entries
            .into_iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| InvalidProxy(entry.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }

    /// The trusted networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.networks
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client address for a request from `peer` carrying these `X-Forwarded-For` header
    /// values (in the order received; several headers are read as one list).
    ///
    /// A malformed hop ends the walk: nothing left of it can be attributed, so the address of
    /// the proxy that forwarded it is returned.
    pub fn client_ip<I, S>(&self, peer: IpAddr, forwarded_for: I) -> IpAddr
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let headers: Vec<S> = forwarded_for.into_iter().collect();
        let hops = headers.iter().rev().flat_map(|value| value.as_ref().rsplit(',')).map(str::trim);
        let mut client = peer;
        for hop in hops {
            if hop.is_empty() {
                continue;
            }
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        // Every hop was a trusted proxy: the left-most one is as close to the client as we know.
        client
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if hop.len() > 64 {
        return None;
    }
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(canonical)
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, from dual-stack sockets) as plain IPv4.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The key a client is rate-limited under: the address for IPv4, its /64 network for IPv6
/// (one subscriber usually holds a whole /64, so a per-address limit is trivially evaded).
pub(crate) fn rate_limit_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let net = ipnet::Ipv6Net::new(v6, 64).map(|n| n.trunc()).unwrap_or_else(|_| v6.into());
            net.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mapped_addresses_become_ipv4_and_others_stay() {
        assert_eq!(canonical(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(canonical(ip("2001:db8::1")), ip("2001:db8::1"));
        assert_eq!(canonical(ip("203.0.113.9")), ip("203.0.113.9"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(rate_limit_key(ip("2001:db8:1:2:aaaa::1")), rate_limit_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(rate_limit_key(ip("2001:db8:1:2::1")), rate_limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(rate_limit_key(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(rate_limit_key(ip("::ffff:203.0.113.9")), "203.0.113.9");
    }
}
