//! Sources: the screen, a window, a file, test signals and audio devices;
//! and what this machine can capture from (displays, windows, devices).

pub mod audio;
pub mod devices;
mod frame_bridge;
#[cfg(target_os = "linux")]
mod portal;
pub mod video;
pub mod x11;
