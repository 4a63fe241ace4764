//! The XDG ScreenCast portal handshake for Wayland capture: the compositor
//! asks the user what to share and hands back a PipeWire node and a remote
//! (a file descriptor) that `pipewiresrc` reads from.
//!
//! The portal session must stay open while capturing, so a thread of its own
//! holds it (ashpd is async: a current-thread tokio runtime drives it) until
//! the [`ScreenCastGrant`] is dropped. The restore token is kept in the data
//! folder, so restarts and later runs do not ask again until the user revokes
//! the permission.

use ashpd::desktop::PersistMode;
use ashpd::desktop::screencast::{CursorMode, Screencast, SelectSourcesOptions, SourceType};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// An open screencast: the PipeWire node to read and the remote that shows it.
/// Dropping it closes the portal session.
#[derive(Debug)]
pub(crate) struct ScreenCastGrant {
    pub node_id: u32,
    pub fd: OwnedFd,
    _close: tokio::sync::oneshot::Sender<()>,
}

/// Runs the handshake, waiting up to `timeout` for the user's choice.
pub(crate) fn request(restore_token: &Path, show_pointer: bool, timeout: Duration) -> Result<ScreenCastGrant, String> {
    let (result_tx, result_rx) = mpsc::channel();
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
    let token_path = restore_token.to_owned();
    std::thread::Builder::new()
        .name("screencast-portal".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = result_tx.send(Err(format!("cannot start the portal runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let proxy = match Screencast::new().await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = result_tx.send(Err(format!("the ScreenCast portal is not reachable: {e}")));
                        return;
                    }
                };
                let session = match proxy.create_session(Default::default()).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = result_tx.send(Err(format!("the ScreenCast portal refused a session: {e}")));
                        return;
                    }
                };
                let granted = handshake(&proxy, &session, &token_path, show_pointer).await;
                let ok = granted.is_ok();
                let _ = result_tx.send(granted);
                if ok {
                    // Held open until the grant is dropped (the sender with it).
                    let _ = close_rx.await;
                }
                let _ = session.close().await;
            });
        })
        .map_err(|e| format!("cannot start the portal thread: {e}"))?;
    match result_rx.recv_timeout(timeout) {
        Ok(Ok((node_id, fd))) => Ok(ScreenCastGrant { node_id, fd, _close: close_tx }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer from the ScreenCast portal within {} s", timeout.as_secs())),
    }
}

type Session = ashpd::desktop::Session<Screencast>;

async fn handshake(
    proxy: &Screencast,
    session: &Session,
    token_path: &Path,
    show_pointer: bool,
) -> Result<(u32, OwnedFd), String> {
    let token = std::fs::read_to_string(token_path).ok();
    let cursor = if show_pointer { CursorMode::Embedded } else { CursorMode::Hidden };
    let options = SelectSourcesOptions::default()
        .set_cursor_mode(cursor)
        .set_sources(SourceType::Monitor | SourceType::Window)
        .set_multiple(false)
        .set_persist_mode(PersistMode::ExplicitlyRevoked)
        .set_restore_token(token.as_deref().map(str::trim));
    fn why(step: &'static str) -> impl Fn(ashpd::Error) -> String {
        move |e| format!("ScreenCast portal, {step}: {e}")
    }
    proxy.select_sources(session, options).await.and_then(|r| r.response()).map_err(why("selecting sources"))?;
    let streams = proxy
        .start(session, None, Default::default())
        .await
        .and_then(|r| r.response())
        .map_err(why("starting (was the dialog cancelled?)"))?;
    if let Some(token) = streams.restore_token()
        && let Err(e) = std::fs::write(token_path, token)
    {
        tracing::warn!(path = %token_path.display(), error = %e, "cannot keep the screencast restore token");
    }
    let stream = streams.streams().first().ok_or("the ScreenCast portal shared no stream")?;
    let fd = proxy.open_pipe_wire_remote(session, Default::default()).await.map_err(why("opening PipeWire"))?;
    Ok((stream.pipe_wire_node_id(), fd))
}
