//! The X11 displays and windows that `capture.screen` can record.

use serde::Serialize;
use x11rb::connection::Connection;
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _};

/// One monitor of the X display.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Display {
    /// `capture.screen` props that select it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub props: serde_json::Value,
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub x: i32,
    pub y: i32,
    pub primary: bool,
}

/// A top-level window.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Window {
    /// The X11 window id (`capture.screen` prop `window`).
    pub window: u64,
    pub title: String,
}

/// Whether an X display can be reached: its name, or why not.
pub fn probe_display() -> Result<String, String> {
    let Some(display) = std::env::var_os("DISPLAY").filter(|d| !d.is_empty()) else {
        return Err("no display ($DISPLAY is not set)".into());
    };
    let display = display.to_string_lossy().into_owned();
    x11rb::connect(Some(&display)).map(|_| display.clone()).map_err(|e| format!("cannot open display {display}: {e}"))
}

/// Monitors (RandR) and top-level windows (EWMH client list) of `$DISPLAY`.
pub fn screens() -> Result<(Vec<Display>, Vec<Window>), String> {
    let display = probe_display()?;
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
