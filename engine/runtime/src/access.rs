//! The access rules every front end applies on a daemon bound to loopback:
//! which `Host` headers name it (against DNS rebinding).

/// `host:port` values a request's `Host` header may carry: the loopback
/// names, and `extra` host names from the configuration.
pub fn allowed_hosts(port: u16, extra: &[String]) -> Vec<String> {
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|h| (*h).to_owned())
        .chain(extra.iter().cloned())
        .map(|h| format!("{}:{port}", h.to_ascii_lowercase()))
        .collect()
}
