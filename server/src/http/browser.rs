//! What keeps a browser safe around Wayline's pages, before and after any route runs:
//! requests for a host name Wayline does not answer to are refused (DNS rebinding), and every
//! answer carries the security headers, with a fresh script nonce in the page's
//! Content-Security-Policy that the page's own hydration scripts carry.

use axum::{
    extract::{Request, State},
    http::{header, HeaderName, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::error::ApiError;
use crate::state::AppState;

/// The host names a request may be addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPolicy {
    /// Only these names (lower case, without port): the public host, and the loopback names
    /// when Wayline listens on loopback.
    Only(Vec<String>),
    /// Any name: Wayline listens on a public address and no public host was configured.
    Any,
}

/// The names a loopback address answers to.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl HostPolicy {
    /// The policy for a server listening on `addr`, reached at `public_host` if configured
    /// (a name, `host:port` or a URL).
    pub fn new(addr: std::net::SocketAddr, public_host: Option<&str>) -> Self {
        // On every address (0.0.0.0) with no public host, people reach it by names and
        // addresses nobody told us: any is answered (`wayline serve` warns).
        if addr.ip().is_unspecified() && public_host.is_none() {
            return HostPolicy::Any;
        }
        let mut names: Vec<String> = public_host.map(host_name).into_iter().collect();
        // An unspecified address (0.0.0.0) listens on loopback too.
        if addr.ip().is_loopback() || addr.ip().is_unspecified() {
            names.extend(LOOPBACK_NAMES.iter().map(|n| n.to_string()));
        }
        if names.is_empty() {
            HostPolicy::Any
        } else {
            HostPolicy::Only(names)
        }
    }

    /// Loopback names only: a server on 127.0.0.1 with no public host (tests, a laptop).
    pub fn loopback() -> Self {
        HostPolicy::Only(LOOPBACK_NAMES.iter().map(|n| n.to_string()).collect())
    }

    /// True when a request with this `Host` header may go on.
    pub fn allows(&self, host: Option<&str>) -> bool {
        match self {
            HostPolicy::Any => true,
            HostPolicy::Only(names) => host.is_some_and(|h| names.contains(&host_name(h))),
        }
    }
}

/// `Host`-header or URL form to bare lower-case name: `https://A.example:8443/x` → `a.example`,
/// `[::1]:3000` → `[::1]`.
fn host_name(text: &str) -> String {
    let text = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = text.split('/').next().unwrap_or_default();
    let name = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    name.to_ascii_lowercase()
}

/// The page's script nonce, made per request and read by the page renderer.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

impl CspNonce {
    fn new() -> Self {
        use base64::Engine as _;
        let bytes: [u8; 16] = rand::random();
        CspNonce(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// The policy for HTML pages: scripts only with this request's nonce or from Wayline itself
/// (the client module and its WebAssembly), everything else from Wayline only; no framing.
/// Inline `style` attributes stay allowed: the pages size bars with them, and styles run no code.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// For everything that is not a page (JSON, SVG, CSV, files): nothing may run or frame it.
const RESOURCE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// A middleware over the whole router: refuses foreign hosts, hands the page renderer a
/// nonce, and sets the security headers on the answer.
pub async fn protect(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    // HTTP/2 carries the host in the URI's authority instead.
    let host = host.or_else(|| request.uri().authority().map(|a| a.as_str()));
    // Ingestion (write keys, never cookies) and the health probes answer whatever name a load
    // balancer or SDK uses: a rebound name gains nothing there that a direct request lacks.
    let path = request.uri().path();
    let exempt = path == "/healthz" || path == "/readyz" || path.starts_with("/v1/");
    if !exempt && !state.host_policy.allows(host) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown_host",
            format!(
                "this Wayline does not answer to the host {:?}; reach it by its configured public host \
                 (set public_host in wayline.toml or --public-host)",
                host.unwrap_or_default()
            ),
        )
        .into_response();
    }
    let nonce = CspNonce::new();
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = if is_page { page_policy(&nonce.0) } else { RESOURCE_POLICY.to_string() };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers_answer_only_to_loopback_names_and_the_public_host() {
        let local = HostPolicy::new("127.0.0.1:3000".parse().unwrap(), None);
        assert!(local.allows(Some("127.0.0.1:3000")));
        assert!(local.allows(Some("localhost:3000")));
        assert!(local.allows(Some("[::1]:3000")));
        assert!(!local.allows(Some("attacker.example:3000")), "a rebound name is refused");
        assert!(!local.allows(None));

        let public = HostPolicy::new("10.1.2.3:3000".parse().unwrap(), Some("https://Wayline.Example.com/"));
        assert!(public.allows(Some("wayline.example.com")));
        assert!(!public.allows(Some("localhost:3000")), "not on loopback, so loopback names are not ours");
        assert!(!public.allows(Some("evil.example")));

        assert_eq!(HostPolicy::new("0.0.0.0:3000".parse().unwrap(), None), HostPolicy::Any);
        let everywhere = HostPolicy::new("0.0.0.0:3000".parse().unwrap(), Some("wayline.example.com"));
        assert!(everywhere.allows(Some("wayline.example.com")) && everywhere.allows(Some("127.0.0.1:3000")));
        assert!(!everywhere.allows(Some("evil.example")));

        assert_eq!(HostPolicy::new("10.1.2.3:3000".parse().unwrap(), None), HostPolicy::Any);
    }

    #[test]
    fn the_page_policy_allows_no_inline_script_without_the_nonce() {
        let policy = page_policy("abc");
        assert!(policy.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"), "{policy}");
        assert!(!policy.contains("script-src 'self' 'unsafe-inline'"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
