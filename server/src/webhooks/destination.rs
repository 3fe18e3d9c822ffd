//! Where a webhook may send: never, unless the admin allows it, to this machine, its private
//! networks or the cloud's metadata service (SSRF). A URL is checked when saved and again at
//! every delivery, after resolving its name, and the delivery then connects to exactly the
//! address that was checked, so a name that changes its answer between the two cannot slip by.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address is not a webhook destination, or `None` when it may be one.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some("is the cloud metadata service")
    } else if ip.is_loopback() {
        Some("is this machine (loopback)")
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 {
        Some("is not a single reachable host")
    } else if ip.is_private() {
        Some("is a private network address")
    } else if ip.is_link_local() {
        Some("is a link-local address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("is a carrier-grade NAT (shared) address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("is this machine (loopback)")
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some("is not a single reachable host")
    } else if first & 0xfe00 == 0xfc00 {
        Some("is a private (unique local) network address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("is a link-local address")
    } else if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        Some("is the cloud metadata service")
    } else {
        None
    }
}

/// A webhook URL that was checked: where to connect, pinned.
#[derive(Debug, Clone)]
pub struct Destination {
    pub url: reqwest::Url,
    /// The name in the URL (`None` for an address literal).
    pub host: Option<String>,
    /// The address to connect to: the checked one.
    pub addr: SocketAddr,
}

/// Parses `url`, resolves its host and checks every address it resolves to; with
/// `allow_private` only the form is checked. The error says what is wrong and what to do.
pub async fn check(url: &str, allow_private: bool) -> Result<Destination, String> {
    let parsed = reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https")).ok_or_else(|| {
        format!("url {url:?} is not an http(s) URL; give the full address, e.g. https://hooks.slack.com/services/…")
    })?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    let name = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("url {url:?} names no host"))?;
    let (host, addrs): (Option<String>, Vec<SocketAddr>) =
        match name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => (None, vec![SocketAddr::new(ip, port)]),
            Err(_) => {
                let found = tokio::net::lookup_host((name, port)).await.map_err(|e| {
                    format!("the host {name:?} of url {url:?} does not resolve ({e}); check the address")
                })?;
                (Some(name.to_string()), found.collect())
            }
        };
    let first = *addrs.first().ok_or_else(|| format!("the host of url {url:?} resolves to no address"))?;
    if !allow_private {
        // Every answer must be allowed: a name with one public and one private address could
        // otherwise be delivered to the private one.
        if let Some((addr, why)) = addrs.iter().find_map(|a| forbidden(a.ip()).map(|why| (a, why))) {
            return Err(format!(
                "url {url:?} points at {} which {why}; webhooks may only reach public addresses \
                 (an admin can allow private ones by starting Wayline with --allow-private-webhooks)",
                addr.ip()
            ));
        }
    }
    Ok(Destination { url: parsed, host, addr: first })
}

/// An HTTP client that reaches `destination` at its checked address only and follows no
/// redirect (a redirect could lead anywhere).
pub fn client_for(destination: &Destination, timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none());
    if let Some(host) = &destination.host {
        builder = builder.resolve(host, destination.addr);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_addresses_are_refused_with_the_reason_and_the_way_out() {
        for (url, why) in [
            ("http://127.0.0.1:8080/hook", "loopback"),
            ("http://[::1]/hook", "loopback"),
            ("http://10.0.0.1/hook", "private network"),
            ("http://192.168.1.20/hook", "private network"),
            ("http://169.254.169.254/latest/meta-data/", "metadata"),
            ("http://100.64.0.1/hook", "carrier-grade NAT"),
            ("http://[fd00::1]/hook", "unique local"),
            ("http://[::ffff:127.0.0.1]/hook", "loopback"),
            ("http://localhost:9/hook", "loopback"),
        ] {
            let error = check(url, false).await.unwrap_err();
            assert!(error.contains(why), "{url}: {error}");
            assert!(error.contains("--allow-private-webhooks"), "{error}");
        }
    }

    #[tokio::test]
    async fn public_addresses_pass_and_the_admin_may_allow_private_ones() {
        let public = check("https://93.184.215.14/hook", false).await.unwrap();
        assert_eq!(public.addr, "93.184.215.14:443".parse().unwrap());
        let local = check("http://localhost:9/hook", true).await.unwrap();
        assert!(local.addr.ip().is_loopback());
        assert_eq!(local.host.as_deref(), Some("localhost"));
    }

    #[tokio::test]
    async fn malformed_urls_say_what_form_is_expected() {
        for url in ["ftp://example.com/x", "not a url", "http://"] {
            let error = check(url, false).await.unwrap_err();
            assert!(error.contains("http(s) URL") || error.contains("no host"), "{url}: {error}");
        }
    }
}
