//! What the HTTP tests share: a client that carries an API token of a given role, as a script
//! or BI tool would.

pub mod process;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use server::{auth::Role, sources::DEMO_WRITE_KEY, Wayline};

/// A client whose every request carries a new API token with `role`.
pub async fn client_with_role(wayline: &Wayline, role: Role) -> reqwest::Client {
    let (_, secret) = wayline.state.accounts.add_token(&format!("tests ({role})"), role).await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {secret}")).unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

/// A client with an admin token.
#[allow(dead_code)] // Not every test file uses both.
pub async fn admin_client(wayline: &Wayline) -> reqwest::Client {
    client_with_role(wayline, Role::Admin).await
}

/// Sends `batch` to `base`'s batch endpoint with the demo source's write key, as an SDK does.
#[allow(dead_code)] // Not every test file sends events this way.
pub async fn post_demo_batch(client: &reqwest::Client, base: &str, batch: Vec<serde_json::Value>) -> reqwest::Response {
    client
        .post(format!("{base}/v1/batch"))
        .basic_auth(DEMO_WRITE_KEY, Some(""))
        .json(&serde_json::json!({ "batch": batch }))
        .send()
        .await
        .unwrap()
}
