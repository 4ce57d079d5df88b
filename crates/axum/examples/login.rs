//! Sign in, see who you are (and how often you looked), sign out:
//! cargo run -p tessera-axum --example login
//!
//! It needs tessera-axum, axum, tokio and serde, nothing else. Without
//! `TESSERA_ROOT_KEY` a debug build makes a development key in
//! `dev-root-key` and says so; a release build refuses to start.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tessera_axum::prelude::*;

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

/// The one password this example accepts, for every user: check yours
/// against your user store instead.
const DEMO_PASSWORD: &str = "open sesame";

async fn login(session: Session, Json(login): Json<Login>) -> Result<Response, Error> {
    if login.password != DEMO_PASSWORD {
        // No session, no cookie: the same answer whatever was wrong.
        return Ok((StatusCode::UNAUTHORIZED, "wrong user name or password\n").into_response());
    }
    // A new session under a new SID, in a cookie.
    let user = session.login(&login.user).await?;
    Ok(format!("signed in as {}\n", user.subject()).into_response())
}

async fn whoami(user: SignedIn) -> Result<String, Error> {
    // Safe under concurrent requests: a lost race is retried.
    let visits = user
        .update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)
        .await?;
    Ok(format!("{}, visit {visits}\n", user.subject()))
}

async fn logout(user: SignedIn) -> Result<&'static str, Error> {
    user.logout().await?;
    Ok("signed out\n")
}

pub(crate) fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/whoami", get(whoami))
        .route("/logout", post(logout))
        .layer(layer)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = root_key_from_env_or_dev("TESSERA_ROOT_KEY", "dev-root-key")?;
    let keys = MasterKeys::from_root_keys(&root, &[]);
    let store = LocalStore::open(&LocalConfig::new("sessions")).await?;
    // Plain HTTP on localhost: drop `with_secure(false)` behind HTTPS.
    let layer = SessionLayer::new(Sessions::builder(store, &keys).build()).with_secure(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app(layer)).await?;
    Ok(())
}
