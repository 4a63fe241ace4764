//! obs-websocket 5.x (rpcVersion 1) on the wire: op codes, close codes,
//! request status codes, event subscriptions, the authentication scheme and
//! the two encodings (JSON text frames, MessagePack binary frames).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const RPC_VERSION: u64 = 1;
/// The obs-websocket release whose protocol this server speaks.
pub const OBS_WEBSOCKET_VERSION: &str = "5.5.0";
/// The OBS feature level clients may assume (some check it before using a
/// request); ClipShot is named as the platform in `GetVersion`.
pub const OBS_STUDIO_VERSION: &str = "30.2.0";

/// Message types.
pub mod op {
    pub const HELLO: u64 = 0;
    pub const IDENTIFY: u64 = 1;
    pub const IDENTIFIED: u64 = 2;
    pub const REIDENTIFY: u64 = 3;
    pub const EVENT: u64 = 5;
    pub const REQUEST: u64 = 6;
    pub const REQUEST_RESPONSE: u64 = 7;
    pub const REQUEST_BATCH: u64 = 8;
    pub const REQUEST_BATCH_RESPONSE: u64 = 9;
}

/// Why the server closes a connection.
pub mod close {
    pub const UNKNOWN_REASON: u16 = 4000;
    pub const MESSAGE_DECODE_ERROR: u16 = 4002;
    pub const MISSING_DATA_FIELD: u16 = 4003;
    pub const INVALID_DATA_FIELD_TYPE: u16 = 4004;
    pub const INVALID_DATA_FIELD_VALUE: u16 = 4005;
    pub const UNKNOWN_OP_CODE: u16 = 4006;
    pub const NOT_IDENTIFIED: u16 = 4007;
    pub const ALREADY_IDENTIFIED: u16 = 4008;
    pub const AUTHENTICATION_FAILED: u16 = 4009;
    pub const UNSUPPORTED_RPC_VERSION: u16 = 4010;
    pub const SESSION_INVALIDATED: u16 = 4011;
}

/// The `code` of a request's status.
pub mod status {
    pub const SUCCESS: u16 = 100;
    pub const MISSING_REQUEST_TYPE: u16 = 203;
    pub const UNKNOWN_REQUEST_TYPE: u16 = 204;
    pub const GENERIC_ERROR: u16 = 205;
    pub const UNSUPPORTED_REQUEST_BATCH_EXECUTION_TYPE: u16 = 206;
    pub const MISSING_REQUEST_FIELD: u16 = 300;
    pub const MISSING_REQUEST_DATA: u16 = 301;
    pub const INVALID_REQUEST_FIELD_TYPE: u16 = 401;
    pub const REQUEST_FIELD_OUT_OF_RANGE: u16 = 402;
    pub const OUTPUT_RUNNING: u16 = 500;
    pub const OUTPUT_NOT_RUNNING: u16 = 501;
    pub const RESOURCE_NOT_FOUND: u16 = 600;
    pub const REQUEST_PROCESSING_FAILED: u16 = 702;
}

/// Event subscription bits (`eventSubscriptions`, an event's `eventIntent`).
pub mod intent {
    pub const GENERAL: u64 = 1 << 0;
    pub const OUTPUTS: u64 = 1 << 6;
    /// Every category that is not high-volume: what a client gets by default.
    pub const ALL: u64 = (1 << 11) - 1;
}

/// Batch execution types.
pub mod execution {
    pub const SERIAL_REALTIME: i64 = 0;
    pub const SERIAL_FRAME: i64 = 1;
    pub const PARALLEL: i64 = 2;
}

/// How a session's messages are framed, chosen by its subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    MsgPack,
}

impl Encoding {
    pub const JSON_PROTOCOL: &'static str = "obswebsocket.json";
    pub const MSGPACK_PROTOCOL: &'static str = "obswebsocket.msgpack";

    pub fn from_protocol(protocol: Option<&str>) -> Self {
        if protocol == Some(Self::MSGPACK_PROTOCOL) { Self::MsgPack } else { Self::Json }
    }
}

/// A message: `{"op": …, "d": {…}}`.
pub fn message(op: u64, d: Value) -> Value {
    json!({ "op": op, "d": d })
}

/// The status object of a response.
pub fn request_status(code: u16, comment: Option<&str>) -> Value {
    let mut s = json!({ "result": code == status::SUCCESS, "code": code });
    if let Some(c) = comment {
        s["comment"] = c.into();
    }
    s
}

/// The `authentication` object of `Hello`: a fresh challenge and salt.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub salt: String,
    pub challenge: String,
}

impl Challenge {
    pub fn new() -> Self {
        let mut bytes = [0u8; 64];
        rand::fill(&mut bytes);
        Self { salt: B64.encode(&bytes[..32]), challenge: B64.encode(&bytes[32..]) }
    }

    /// The string a client proves `password` with:
    /// `base64(sha256(base64(sha256(password + salt)) + challenge))`.
    pub fn expected(&self, password: &str) -> String {
        let secret = B64.encode(Sha256::digest(format!("{password}{}", self.salt)));
        B64.encode(Sha256::digest(format!("{secret}{}", self.challenge)))
    }

    /// Whether `given` proves one of `passwords`, compared in constant time.
    pub fn verify<'a>(&self, given: &str, passwords: impl IntoIterator<Item = &'a str>) -> bool {
        use subtle::ConstantTimeEq;
        passwords.into_iter().fold(false, |ok, p| ok | bool::from(self.expected(p).as_bytes().ct_eq(given.as_bytes())))
    }
}

impl Default for Challenge {
    fn default() -> Self {
        Self::new()
    }
}

/// A frame that did not decode.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

pub fn decode_json(text: &str) -> Result<Value, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError(e.to_string()))
}

pub fn decode_msgpack(bytes: &[u8]) -> Result<Value, DecodeError> {
    rmp_serde::from_slice(bytes).map_err(|e| DecodeError(e.to_string()))
}

pub fn encode_msgpack(value: &Value) -> Vec<u8> {
    // Maps keep their field names, as the protocol's MessagePack clients expect.
    rmp_serde::to_vec_named(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_proves_any_of_the_passwords_and_nothing_else() {
        // The protocol document's example challenge and salt.
        let c = Challenge {
            salt: "lM1GncleQOaCu9lT1yeUZhFYnqhsLLP1G5lAGo3ixaI=".into(),
            challenge: "+IxH4CnCiqpX1rM9scsNynZzbOe4KhDeYcTNS3PDaeY=".into(),
        };
        let auth = c.expected("supersecretpassword");
        assert!(c.verify(&auth, ["wrong", "supersecretpassword"]));
        assert!(!c.verify(&auth, ["wrong"]));
        assert!(!c.verify("", ["supersecretpassword"]));
    }

    #[test]
    fn challenges_differ_and_messagepack_round_trips() {
        assert_ne!(Challenge::new().challenge, Challenge::new().challenge);
        let v = message(op::HELLO, json!({"rpcVersion": 1, "a": [1, "x", null, true, 1.5]}));
        assert_eq!(decode_msgpack(&encode_msgpack(&v)).unwrap(), v);
    }

    #[test]
    fn a_status_says_success_only_for_100() {
        assert_eq!(request_status(status::SUCCESS, None), json!({"result": true, "code": 100}));
        assert_eq!(
            request_status(status::UNKNOWN_REQUEST_TYPE, Some("no")),
            json!({"result": false, "code": 204, "comment": "no"})
        );
    }
}
