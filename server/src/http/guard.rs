//! The one door every request passes: it finds out who is asking (a session cookie or an API
//! token), refuses writes that ride on the cookie from another site, and sends away whoever may
//! not see what they asked for. API routes also carry their own least role (see [`Guarded`]);
//! the table of every route and the role it needs is what the route test walks.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
};

use axum::{
    extract::{Request, State},
    handler::Handler,
    http::{header, HeaderMap, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::MethodRouter,
    Router,
};
use axum_extra::extract::CookieJar;

use super::error::ApiError;
use crate::{
    auth::{Accounts, Credential, Principal, Role, SESSION_COOKIE},
    state::AppState,
};

/// What a route asks of the one calling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: ingestion (which has its own write keys), health, sign-in, static files.
    Open,
    /// A session or token with at least this role.
    AtLeast(Role),
}

/// One route and what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAccess {
    pub method: Method,
    /// The route as declared, with `{parameters}`.
    pub path: String,
    pub access: Access,
}

/// Decides the access a request needs before any route sees it.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    /// Top-level files of the site root (`/favicon.svg`, `/wayline.js`, …).
    static_files: HashSet<String>,
    /// Server functions by URL.
    server_fns: HashMap<&'static str, Role>,
}

/// Paths anyone may reach, beside the static files.
const OPEN_EXACT: &[&str] = &["/healthz", "/readyz", "/login", "/logout", "/setup"];
/// Prefixes anyone may reach: ingestion (guarded by write keys) and the built client.
const OPEN_PREFIXES: &[&str] = &["/v1/", "/pkg/"];

impl AccessRules {
    /// The rules for a site whose static files live in `site_root`.
    pub fn new(site_root: &Path) -> Self {
        let static_files = std::fs::read_dir(site_root)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| e.file_name().to_str().map(|name| format!("/{name}")))
                    .collect()
            })
            .unwrap_or_default();
        AccessRules { static_files, server_fns: app::server_fns::REQUIRED_ROLES.iter().copied().collect() }
    }

    /// The access a request for `path` needs at the door.
    pub fn required(&self, path: &str) -> Access {
        if OPEN_EXACT.contains(&path)
            || OPEN_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
            || self.static_files.contains(path)
        {
            return Access::Open;
        }
        if let Some(rest) = path.strip_prefix("/api/") {
            if !rest.starts_with("v1/") {
                // A server function missing from the table is for admins only, never for all.
                return Access::AtLeast(self.server_fns.get(path).copied().unwrap_or(Role::Admin));
            }
        }
        // Pages and the JSON API: signed in at least; API routes raise it per route.
        Access::AtLeast(Role::Viewer)
    }

    /// Every server function's URL and role.
    pub fn server_functions(&self) -> impl Iterator<Item = (&'static str, Role)> + '_ {
        self.server_fns.iter().map(|(path, role)| (*path, *role))
    }
}

/// Who is asking: an API token in `Authorization: Bearer`, else the session cookie.
pub fn identify(accounts: &Accounts, headers: &HeaderMap) -> Option<Principal> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) {
            return accounts.token_principal(token);
        }
    }
    let jar = CookieJar::from_headers(headers);
    accounts.session_principal(jar.get(SESSION_COOKIE)?.value())
}

/// True when the request says it comes from this server's own pages: its `Origin` (or else
/// its `Referer`) names the host the request was sent to. `None` when it says neither.
pub fn same_origin(headers: &HeaderMap) -> Option<bool> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok())?;
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v != "null")?;
    let authority = from.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or_default());
    Some(authority.is_some_and(|a| a.eq_ignore_ascii_case(host)))
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The door (a middleware over the whole router).
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let principal = identify(&state.accounts, request.headers());
    let access = state.access.required(&path);
    // A write carried by the session cookie must come from our own pages (CSRF); so must a
    // sign-in, so that no other site signs a browser in as someone else. Open routes
    // (ingestion) never act on the cookie's authority: a site's own snippet may send there.
    let by_cookie = principal.as_ref().is_some_and(|p| p.via == Credential::Session) && access != Access::Open;
    let signing_in = matches!(path.as_str(), "/login" | "/setup" | "/logout");
    if is_write(request.method()) && (by_cookie || signing_in) {
        let origin = same_origin(request.headers());
        if origin == Some(false) || (by_cookie && origin.is_none()) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_site_request",
                "this request came from another site (its Origin is not this server); send it from Wayline's own pages, or use an API token",
            )
            .into_response();
        }
    }
    match access {
        Access::Open => {}
        Access::AtLeast(role) => match &principal {
            None => return unauthenticated(&state, &request),
            Some(who) if !who.role.includes(role) => return forbidden(role, who),
            Some(_) => {}
        },
    }
    let Some(who) = principal else { return next.run(request).await };
    request.extensions_mut().insert(who.clone());
    // Changes are audited: writes to the JSON API, and server functions above the viewer's
    // level (the pages read through server functions too, always with POST).
    let audited = is_write(request.method())
        && match access {
            Access::Open => false,
            Access::AtLeast(role) => {
                path.starts_with("/api/v1/")
                    || (role > Role::Viewer && !app::server_fns::ADMIN_READS.contains(&path.as_str()))
            }
        };
    let action = crate::audit::action(request.method().as_str(), &path);
    let response = next.run(request).await;
    if audited {
        // Recorded off the answer's path: a slow log write does not hold up the person.
        let (audit, status, at) = (state.audit.clone(), response.status().as_u16(), state.clock.now());
        tokio::spawn(async move {
            if let Err(e) = audit.record(&who, action, status, at).await {
                tracing::error!(error = %e, "could not write the audit log");
            }
        });
    }
    response
}

/// A page sends the browser to sign in (or, before anyone can, to set up); JSON says 401.
fn unauthenticated(state: &AppState, request: &Request) -> Response {
    let path = request.uri().path();
    // A scraper is told 401 too, not sent to a sign-in page it cannot fill in.
    if path.starts_with("/api/") || path == "/metrics" || is_write(request.method()) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first: send a session cookie from /login, or an API token as `Authorization: Bearer wlt_…` (`wayline token add`)",
        )
        .into_response();
    }
    if !state.accounts.has_users() {
        return Redirect::to("/setup").into_response();
    }
    let wanted = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let next: String = form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

fn forbidden(needed: Role, who: &Principal) -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("this needs the {needed} role; {} has the {} role (an admin can change it)", who.name, who.role),
    )
    .into_response()
}

/// Refuses a request whose principal (recorded by [`guard`]) lacks `role`.
async fn require(role: Role, request: Request, next: Next) -> Response {
    match request.extensions().get::<Principal>() {
        Some(who) if who.role.includes(role) => next.run(request).await,
        Some(who) => forbidden(role, who),
        None => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first").into_response(),
    }
}

/// API routes, each declared with the least role it needs; the declarations are kept so that
/// a test can try every route.
pub struct Guarded {
    router: Router<AppState>,
    table: Vec<RouteAccess>,
}

impl Default for Guarded {
    fn default() -> Self {
        Guarded { router: Router::new(), table: Vec::new() }
    }
}

impl Guarded {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, method: Method, path: &'static str, role: Role, route: MethodRouter<AppState>) -> Self {
        let route =
            route.route_layer(middleware::from_fn(move |request: Request, next: Next| require(role, request, next)));
        self.router = self.router.route(path, route);
        self.table.push(RouteAccess { method, path: path.to_string(), access: Access::AtLeast(role) });
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, role: Role, handler: H) -> Self {
        self.add(Method::GET, path, role, axum::routing::get(handler))
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, role: Role, handler: H) -> Self {
        self.add(Method::POST, path, role, axum::routing::post(handler))
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, role: Role, handler: H) -> Self {
        self.add(Method::PUT, path, role, axum::routing::put(handler))
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, role: Role, handler: H) -> Self {
        self.add(Method::PATCH, path, role, axum::routing::patch(handler))
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, role: Role, handler: H) -> Self {
        self.add(Method::DELETE, path, role, axum::routing::delete(handler))
    }

    /// The router and the declarations.
    pub fn finish(self) -> (Router<AppState>, Vec<RouteAccess>) {
        (self.router, self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn origin_or_referer_must_name_the_host_the_request_went_to() {
        assert_eq!(
            same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")])),
            Some(true)
        );
        assert_eq!(
            same_origin(&headers(&[("host", "127.0.0.1:3000"), ("referer", "http://127.0.0.1:3000/rules?edit=1")])),
            Some(true)
        );
        assert_eq!(
            same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://evil.example")])),
            Some(false)
        );
        assert_eq!(
            same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000.evil.example")])),
            Some(false)
        );
        assert_eq!(same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "null")])), None);
        assert_eq!(same_origin(&headers(&[("host", "127.0.0.1:3000")])), None);
    }

    #[test]
    fn only_ingestion_sign_in_health_and_static_files_are_open() {
        let mut rules = AccessRules::default();
        rules.static_files.insert("/wayline.js".into());
        for open in [
            "/v1/track",
            "/v1/projects/k/settings",
            "/healthz",
            "/readyz",
            "/login",
            "/setup",
            "/pkg/app.js",
            "/wayline.js",
        ] {
            assert_eq!(rules.required(open), Access::Open, "{open}");
        }
        for closed in ["/", "/funnels", "/customers/ada@example.com", "/api/v1/funnel", "/wayline.js/x", "/v1"] {
            assert_eq!(rules.required(closed), Access::AtLeast(Role::Viewer), "{closed}");
        }
        assert_eq!(rules.required("/api/some_new_server_fn123"), Access::AtLeast(Role::Admin), "unlisted: admins only");
    }
}
