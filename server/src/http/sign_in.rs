//! Signing in and out, and the one-time setup of the first admin. The pages themselves
//! (`/login`, `/setup`) are the app's; these take their forms.

use std::net::{IpAddr, Ipv4Addr};

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Form,
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use super::error::ApiError;
use crate::{
    auth::{AuthError, SESSION_COOKIE},
    state::AppState,
};

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    /// Where to go afterwards (a path on this server).
    #[serde(default)]
    next: Option<String>,
}

/// The setup form.
#[derive(Debug, Deserialize)]
pub struct SetupForm {
    email: String,
    password: String,
}

/// Only a path on this server, never another site (`//evil.example` included).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path,
        _ => "/",
    }
}

/// The session cookie: HttpOnly, SameSite=Lax, `Secure` when configured or when a TLS proxy
/// says it terminated HTTPS. No Max-Age: the browser forgets it when it closes, and the
/// server ends the session anyway when idle or too old (`SessionPolicy`).
fn session_cookie(state: &AppState, headers: &HeaderMap, value: String) -> Cookie<'static> {
    let behind_tls = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies || behind_tls)
        .path("/")
        .build()
}

fn back_to_login(code: &str, next: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Redirect::to(&format!("/login?error={code}&next={next}")).into_response()
}

/// `POST /login`: 303 to where the person was going, with the session cookie; or 303 back to
/// the sign-in page saying why not.
#[tracing::instrument(skip_all)]
pub async fn sign_in(State(state): State<AppState>, jar: CookieJar, request: Request) -> Response {
    let client = super::client_address(request.extensions());
    let headers = request.headers().clone();
    let form = match <Form<SignInForm> as axum::extract::FromRequest<AppState>>::from_request(request, &state).await {
        Ok(form) => form,
        Err(rejection) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_form",
                format!("{rejection}; send the form fields email and password"),
            )
            .into_response()
        }
    };
    let next = safe_next(form.next.as_deref()).to_string();
    match state.accounts.sign_in(&form.email, &form.password, client).await {
        Ok(value) => {
            tracing::info!(email = %form.email.trim().to_lowercase(), "signed in");
            (jar.add(session_cookie(&state, &headers, value)), Redirect::to(&next)).into_response()
        }
        Err(AuthError::WrongCredentials) => {
            tracing::warn!(%client, "a sign-in failed");
            back_to_login("wrong", &next)
        }
        Err(AuthError::Throttled(seconds)) => {
            tracing::warn!(%client, "sign-in attempts throttled");
            let mut response = back_to_login("throttled", &next);
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
            response
        }
        Err(other) => auth_error(other),
    }
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn sign_out(State(state): State<AppState>, jar: CookieJar) -> Response {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        if let Err(e) = state.accounts.sign_out(cookie.value()).await {
            return auth_error(e);
        }
    }
    (jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/login")).into_response()
}

/// `POST /setup`: creates the first admin and signs them in; refused once anyone exists.
#[tracing::instrument(skip_all)]
pub async fn set_up(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Response {
    match state.accounts.set_up_first_admin(&form.email, &form.password).await {
        Ok(admin) => {
            tracing::info!(email = %admin.email, "first admin created");
            let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
            match state.accounts.sign_in(&admin.email, &form.password, client).await {
                Ok(value) => (jar.add(session_cookie(&state, &headers, value)), Redirect::to("/")).into_response(),
                Err(e) => auth_error(e),
            }
        }
        Err(AuthError::InvalidEmail(_) | AuthError::InvalidPassword(_)) => {
            // The page says what to change; the form is sent again.
            let code = "invalid";
            Redirect::to(&format!("/setup?error={code}")).into_response()
        }
        Err(other) => auth_error(other),
    }
}

/// Account errors at the HTTP edge.
pub fn auth_error(error: AuthError) -> Response {
    let (status, code) = match &error {
        AuthError::Store(_) | AuthError::Hashing(_) => {
            tracing::error!(error = %error, "account store error");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store_error",
                "the account store failed; try again",
            )
            .into_response();
        }
        AuthError::AlreadySetUp => (StatusCode::FORBIDDEN, "already_set_up"),
        AuthError::WrongCredentials => (StatusCode::UNAUTHORIZED, "wrong_credentials"),
        AuthError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        AuthError::UnknownUser(_) | AuthError::UnknownToken(_) => (StatusCode::NOT_FOUND, "not_found"),
        AuthError::UserExists(_) => (StatusCode::CONFLICT, "exists"),
        AuthError::InvalidEmail(_) | AuthError::InvalidPassword(_) | AuthError::InvalidName => {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
        }
    };
    ApiError::new(status, code, error.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_server_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/funnels?steps=a,b")), "/funnels?steps=a,b");
        for elsewhere in [Some("//evil.example/"), Some("https://evil.example"), Some("/\\evil.example"), None] {
            assert_eq!(safe_next(elsewhere), "/");
        }
    }
}
