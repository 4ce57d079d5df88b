//! Fill a cart before signing in, sign in (the cart comes along), see who
//! you are (and how often you looked), sign out:
//! cargo run -p tessera-axum --example login
//!
//! It needs tessera-axum, axum, tokio and serde, nothing else. Without
//! `TESSERA_ROOT_KEY` a debug build makes a development key in
//! `dev-root-key` and says so; a release build refuses to start.

use axum::{Json, Router, routing::get, routing::post};
use tessera_axum::prelude::*;

#[derive(serde::Deserialize)]
struct Login {
    user: String,
    password: String,
}

async fn login(session: Session, Json(login): Json<Login>) -> Result<String, Error> {
    // One password for every user here: check yours against your users.
    if login.password != "open sesame" {
        return Err(Error::LoginRefused); // the same answer whatever was wrong
    }
    // A new session under a new SID, carrying the cart; the old SID dies.
    let user = session.login(&login.user).await?;
    Ok(format!("signed in as {}\n", user.subject()))
}

async fn add_to_cart(session: Session) -> Result<String, Error> {
    // Before a login, this starts a pre-login session to hold the cart.
    let items = session.update("cart", |n: Option<u32>| n.unwrap_or(0) + 1);
    Ok(format!("{} in the cart\n", items.await?))
}

async fn whoami(user: SignedIn) -> Result<String, Error> {
    // Safe under concurrent requests: a lost race is retried.
    let visits = user.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1);
    Ok(format!("{}, visit {}\n", user.subject(), visits.await?))
}

async fn logout(user: SignedIn) -> Result<&'static str, Error> {
    user.logout().await.map(|()| "signed out\n")
}

pub(crate) fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/cart", post(add_to_cart))
        .route("/whoami", get(whoami))
        .route("/logout", post(logout))
        .layer(layer)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = keys_from_env_or_dev("TESSERA_ROOT_KEY", "dev-root-key")?;
    let store = LocalStore::open(&LocalConfig::new("sessions")).await?;
    // Plain HTTP on localhost: drop `with_secure(false)` behind HTTPS.
    let app = app(SessionLayer::new(Sessions::builder(store, &keys).build()).with_secure(false));
    Ok(axum::serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?, app).await?)
}
