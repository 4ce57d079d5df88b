//! Sign in, see who you are (and how often you looked), sign out:
//! TESSERA_ROOT_KEY=$(openssl rand -hex 32) cargo run -p tessera-axum --example login

use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tessera_axum::{Error, Session, SessionLayer, SignedIn};
use tessera_store::prelude::*;
use tessera_store_local::{LocalConfig, LocalStore};

#[derive(Deserialize)]
struct Login {
    user: String,
}

async fn login(session: Session, Json(login): Json<Login>) -> Result<String, Error> {
    // (Check the user's password here.) A new session, its SID in a cookie.
    let user = session.login(&login.user).await?;
    Ok(format!("signed in as {}\n", user.subject()))
}

async fn whoami(user: SignedIn) -> Result<String, Error> {
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
async fn main() -> anyhow::Result<()> {
    let root = RootKey::from_hex(&std::env::var("TESSERA_ROOT_KEY")?)?;
    let keys = MasterKeys::from_root_keys(&root, &[]);
    let store = LocalStore::open(&LocalConfig::new("sessions")).await?;
    // Plain HTTP on localhost: drop `with_secure(false)` behind HTTPS.
    let layer = SessionLayer::new(Sessions::builder(store, &keys).build()).with_secure(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app(layer)).await?;
    Ok(())
}
