//! `/api/v1/capture`: what this machine can record from, and encode with.

use super::{AppState, blocking};
use crate::problem::Problem;
use axum::Json;
use axum::extract::State;
use clipshot_gst::devices::AudioDevice;
use clipshot_gst::encoder::EncoderInfo;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Display {
    /// `capture.screen` props that select it.
    #[schema(value_type = Object)]
    pub props: serde_json::Value,
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub x: i32,
    pub y: i32,
    pub primary: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Window {
    /// The X11 window id (`capture.screen` prop `window`).
    pub window: u64,
    pub title: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSource {
    pub kind: String,
    pub summary: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaptureSources {
    pub displays: Vec<Display>,
    pub windows: Vec<Window>,
    pub audio_devices: Vec<AudioDevice>,
    pub test_sources: Vec<TestSource>,
    /// Why displays or windows could not be listed, if they could not.
    pub display_error: Option<String>,
}

/// Displays, windows and audio devices found on this machine, and the test sources.
#[utoipa::path(get, path = "/api/v1/capture/sources", tag = "capture", responses((status = 200, body = CaptureSources)))]
pub async fn sources(State(state): State<AppState>) -> Result<Json<CaptureSources>, Problem> {
    let test_sources = ["capture.test", "capture.file", "audio.test"]
        .iter()
        .filter_map(|k| state.engine.registry.get(k))
        .map(|k| TestSource { kind: k.descriptor().kind.clone(), summary: k.descriptor().summary.clone() })
        .collect();
    let (screens, audio_devices) = blocking(|| (x11::screens(), clipshot_gst::devices::audio_devices())).await?;
    let (displays, windows, display_error) = match screens {
        Ok((d, w)) => (d, w, None),
        Err(e) => (Vec::new(), Vec::new(), Some(e)),
    };
    Ok(Json(CaptureSources { displays, windows, audio_devices, test_sources, display_error }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AudioEncoder {
    pub kind: String,
    pub element: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Encoders {
    /// H.264 encoders, best first; `usable` after a trial encode.
    pub video: Vec<EncoderInfo>,
    pub audio: Vec<AudioEncoder>,
}

/// Encoders present, hardware and software.
#[utoipa::path(get, path = "/api/v1/capture/encoders", tag = "capture", responses((status = 200, body = Encoders)))]
pub async fn encoders() -> Result<Json<Encoders>, Problem> {
    let (video, audio) =
        blocking(|| (clipshot_gst::encoder::h264_encoders(), clipshot_gst::devices::audio_encoders())).await?;
    let audio = audio.into_iter().map(|(kind, element)| AudioEncoder { kind, element }).collect();
    Ok(Json(Encoders { video, audio }))
}

mod x11 {
    use super::{Display, Window};
    use x11rb::connection::Connection;
    use x11rb::protocol::randr::ConnectionExt as _;
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _};

    /// Monitors (RandR) and top-level windows (EWMH client list) of `$DISPLAY`.
    pub fn screens() -> Result<(Vec<Display>, Vec<Window>), String> {
        let display = crate::engine::probe_display()?;
        let (conn, screen_num) = x11rb::connect(Some(&display)).map_err(|e| e.to_string())?;
        let root = conn.setup().roots[screen_num].root;
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let atom = |name: &str| -> Result<u32, String> {
            Ok(conn.intern_atom(false, name.as_bytes()).map_err(|e| err(&e))?.reply().map_err(|e| err(&e))?.atom)
        };
        let monitors = conn.randr_get_monitors(root, true).map_err(|e| err(&e))?.reply();
        let displays = match monitors {
            Ok(reply) => reply
                .monitors
                .iter()
                .map(|m| {
                    let name = conn
                        .get_atom_name(m.name)
                        .ok()
                        .and_then(|c| c.reply().ok())
                        .map(|r| String::from_utf8_lossy(&r.name).into_owned())
                        .unwrap_or_default();
                    Display {
                        props: serde_json::json!({ "backend": "x11", "display": display,
                            "region": { "x": m.x, "y": m.y, "width": m.width, "height": m.height } }),
                        name,
                        width: u32::from(m.width),
                        height: u32::from(m.height),
                        x: i32::from(m.x),
                        y: i32::from(m.y),
                        primary: m.primary,
                    }
                })
                .collect(),
            // No RandR (some virtual servers): the root window is the one display.
            Err(_) => {
                let s = &conn.setup().roots[screen_num];
                vec![Display {
                    props: serde_json::json!({ "backend": "x11", "display": display }),
                    name: display.clone(),
                    width: u32::from(s.width_in_pixels),
                    height: u32::from(s.height_in_pixels),
                    x: 0,
                    y: 0,
                    primary: true,
                }]
            }
        };
        let (list, name, utf8) = (atom("_NET_CLIENT_LIST")?, atom("_NET_WM_NAME")?, atom("UTF8_STRING")?);
        let ids: Vec<u32> = conn
            .get_property(false, root, list, AtomEnum::WINDOW, 0, 4096)
            .map_err(|e| err(&e))?
            .reply()
            .ok()
            .and_then(|r| r.value32().map(Iterator::collect))
            .unwrap_or_default();
        let windows = ids
            .into_iter()
            .filter_map(|id| {
                let title = conn.get_property(false, id, name, utf8, 0, 1024).ok()?.reply().ok()?.value;
                let title = String::from_utf8_lossy(&title).into_owned();
                (!title.is_empty()).then_some(Window { window: u64::from(id), title })
            })
            .collect();
        Ok((displays, windows))
    }
}
