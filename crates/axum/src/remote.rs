//! Sessions kept by a remote `tessera` server: [`Backend`] for
//! [`tessera_client::Client`].

use async_trait::async_trait;
use serde_json::{Map, Value};
use tessera_client::{
    Changes, Client, ClientError, Created, ErrorCode, Fetched, NewPreLogin, NewSession, Session,
    Sid,
};

use crate::Error;
use crate::backend::{Backend, Loaded, SidText};

#[async_trait]
impl Backend for Client {
    async fn login(
        &self,
        subject: &str,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<(SidText, Loaded), Error> {
        let created = self
            .create(&new_session(subject, context, data))
            .await
            .map_err(error)?;
        Ok(started(created))
    }

    async fn start(
        &self,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<(SidText, Loaded), Error> {
        let new = NewPreLogin {
            ctx: Some(context.to_owned()),
            data,
            ..NewPreLogin::default()
        };
        let created = self.create_pre_login(&new).await.map_err(error)?;
        Ok(started(created))
    }

    async fn login_from(
        &self,
        pre_login: &str,
        subject: &str,
        context: &str,
        data: Map<String, Value>,
    ) -> Result<Option<(SidText, Loaded)>, Error> {
        let new = new_session(subject, context, data);
        match self.create_from_pre_login(&Sid::new(pre_login), &new).await {
            Ok(created) => Ok(Some(started(created))),
            Err(e)
                if matches!(
                    e.error_code(),
                    Some(ErrorCode::NotFound | ErrorCode::InvalidSid)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(error(e)),
        }
    }

    async fn load(&self, sid: &str, context: &str) -> Result<Option<Loaded>, Error> {
        match self.get(&Sid::new(sid), Some(context)).await {
            Ok(found) => Ok(found.map(fetched)),
            Err(e) if e.error_code() == Some(ErrorCode::InvalidSid) => Ok(None),
            Err(e) => Err(error(e)),
        }
    }

    async fn save(
        &self,
        sid: &str,
        context: &str,
        version: u64,
        data: Map<String, Value>,
    ) -> Result<Loaded, Error> {
        let changes = Changes {
            data: Some(data),
            ..Changes::default()
        };
        match self
            .update(&Sid::new(sid), Some(context), Some(version), &changes)
            .await
        {
            Ok(saved) => Ok(fetched(saved)),
            Err(e)
                if matches!(
                    e.error_code(),
                    Some(ErrorCode::NotFound | ErrorCode::InvalidSid)
                ) =>
            {
                Err(Error::NotSignedIn)
            }
            Err(e) => Err(error(e)),
        }
    }

    async fn logout(&self, sid: &str, context: &str) -> Result<(), Error> {
        match self.end(&Sid::new(sid), Some(context)).await {
            Ok(_) => Ok(()),
            Err(e) if e.error_code() == Some(ErrorCode::InvalidSid) => Ok(()),
            Err(e) => Err(error(e)),
        }
    }
}

/// The login of `subject` in `context` holding `data`.
fn new_session(subject: &str, context: &str, data: Map<String, Value>) -> NewSession {
    let mut new = NewSession::of(subject);
    new.ctx = Some(context.to_owned());
    new.data = data;
    new
}

/// A session just started: its SID and the session as the layer holds it.
fn started(created: Created) -> (SidText, Loaded) {
    let sid = SidText::new(created.sid.expose_secret());
    // A session starts at version 1.
    (sid, loaded(created.id, &created.session, 1))
}

fn fetched(f: Fetched) -> Loaded {
    loaded(f.id, &f.session, f.version)
}

fn loaded(id: String, session: &Session, version: u64) -> Loaded {
    Loaded {
        id,
        subject: (!session.is_pre_login()).then(|| session.sub.clone()),
        version,
        data: session.data.clone(),
        hard_expiry: session.hard_expiry(),
    }
}

fn error(e: ClientError) -> Error {
    if e.is_conflict() {
        return Error::Conflict;
    }
    match (e.error_code(), &e) {
        (Some(ErrorCode::QuotaExhausted), _) => Error::QuotaExhausted,
        (
            _,
            ClientError::Api {
                status: 400 | 413,
                description,
                ..
            },
        ) => Error::Invalid(description.clone()),
        (
            _,
            ClientError::Api {
                retry_after: Some(wait),
                status: 503,
                ..
            },
        ) => Error::Unavailable {
            retry_after: *wait,
            source: e.into(),
        },
        _ if e.is_unavailable() => Error::unavailable(e),
        _ => Error::Backend(e.into()),
    }
}
