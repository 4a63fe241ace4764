//! The WebSocket server: the handshake's Host and Origin checks, one task per
//! session (Hello, Identify with the challenge, then requests, batches and
//! the events the session subscribed to), and one task that turns engine
//! events into OBS's.

use crate::protocol::{
    self, Challenge, Encoding, OBS_STUDIO_VERSION, OBS_WEBSOCKET_VERSION, RPC_VERSION, close, execution, intent, op,
    status,
};
use crate::requests::{self, Caller};
use axum::Router;
use axum::extract::State as AxumState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clipshot_core::{Event, PipelineState};
use clipshot_runtime::Engine;
use clipshot_runtime::process::CpuMeter;
use parking_lot::RwLock;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How long a client may take to identify itself.
const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// How the server is reached and who may use it.
#[derive(Debug, Clone)]
pub struct Options {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// The API token: always a valid password.
    pub token: String,
    /// A password of its own (what a Stream Deck plugin's field may hold
    /// more easily than a 64-character token).
    pub password: Option<String>,
    /// Host names besides `localhost`, `127.0.0.1` and `[::1]`.
    pub extra_hosts: Vec<String>,
    /// Origins (besides the server's own) a browser page may connect from.
    pub allowed_origins: Vec<String>,
    /// Where clips go (for `GetStats`'s free disk space).
    pub clips_dir: PathBuf,
}

/// An obs-websocket event: its type, the subscription it needs, its data.
#[derive(Debug, Clone)]
pub struct ObsEvent {
    pub event_type: &'static str,
    pub intent: u64,
    pub data: Option<Value>,
}

impl ObsEvent {
    pub(crate) fn custom(data: Value) -> Self {
        Self { event_type: "CustomEvent", intent: intent::GENERAL, data: Some(data) }
    }
}

/// What every session shares.
#[derive(Debug)]
pub struct State {
    pub engine: Arc<Engine>,
    pub events: broadcast::Sender<ObsEvent>,
    /// The newest replay saved while the daemon runs.
    pub last_replay: RwLock<Option<String>>,
    pub cpu: CpuMeter,
    pub clips_dir: PathBuf,
    passwords: Vec<String>,
    hosts: Vec<String>,
    origins: Vec<String>,
    closing: watch::Receiver<bool>,
}

/// A running obs-websocket server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
    closing: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds and serves; the engine's events flow to subscribed sessions.
    pub async fn start(engine: Arc<Engine>, options: Options) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((options.bind, options.port)).await?;
        let addr = listener.local_addr()?;
        let (closing, closing_rx) = watch::channel(false);
        let hosts = clipshot_runtime::access::allowed_hosts(addr.port(), &options.extra_hosts);
        let state = Arc::new(State {
            events: broadcast::channel(256).0,
            last_replay: RwLock::new(None),
            cpu: CpuMeter::default(),
            clips_dir: options.clips_dir,
            passwords: std::iter::once(options.token).chain(options.password.filter(|p| !p.is_empty())).collect(),
            origins: options.allowed_origins,
            hosts,
            closing: closing_rx,
            engine,
        });
        tokio::spawn(translate(Arc::clone(&state)));
        let app = Router::new().route("/", axum::routing::get(upgrade)).with_state(Arc::clone(&state));
        let mut until = closing.subscribe();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = until.wait_for(|c| *c).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "obs-websocket server stopped");
            }
        });
        tracing::info!(%addr, "obs-websocket server listening");
        Ok(Self { addr, state, closing, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Tells every session `ExitStarted`, closes them, and stops.
    pub async fn shutdown(self) {
        let _ = self.state.events.send(ObsEvent { event_type: "ExitStarted", intent: intent::GENERAL, data: None });
        // Sessions send what is queued, then their close frame.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = self.closing.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

/// The handshake: this daemon's Host, and no foreign Origin (a web page must
/// not drive the recorder), before anything else.
async fn upgrade(AxumState(state): AxumState<Arc<State>>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_ascii_lowercase);
    let Some(host) = host.filter(|h| state.hosts.contains(h)) else {
        return (StatusCode::FORBIDDEN, "the Host header does not name this server").into_response();
    };
    // Every Origin header must be allowed: the server's own (what desktop
    // clients such as websocket-client send) or a configured one.
    let allowed = |origin: &str| {
        origin.strip_prefix("http://").is_some_and(|o| o.eq_ignore_ascii_case(&host))
            || state.origins.iter().any(|a| a == origin)
    };
    if !headers.get_all(header::ORIGIN).iter().all(|o| o.to_str().is_ok_and(allowed)) {
        return (StatusCode::FORBIDDEN, "connections from this origin are not allowed").into_response();
    }
    ws.protocols([Encoding::JSON_PROTOCOL, Encoding::MSGPACK_PROTOCOL]).on_upgrade(move |socket| async move {
        let encoding = Encoding::from_protocol(socket.protocol().and_then(|p| p.to_str().ok()));
        Session { socket, state, encoding, subscriptions: intent::ALL, incoming: 0, outgoing: 0 }.run().await;
    })
}

/// Why a session ends: a close code and a reason, or the peer went.
struct Closed(Option<(u16, String)>);

impl Closed {
    fn with(code: u16, reason: impl Into<String>) -> Self {
        Self(Some((code, reason.into())))
    }
}

struct Session {
    socket: WebSocket,
    state: Arc<State>,
    encoding: Encoding,
    subscriptions: u64,
    incoming: u64,
    outgoing: u64,
}

impl Session {
    async fn run(mut self) {
        let end = self.serve().await;
        if let Err(Closed(Some((code, reason)))) = end {
            tracing::debug!(code, %reason, "obs-websocket: closing a session");
            let frame = CloseFrame { code, reason: reason.into() };
            let _ = self.socket.send(Message::Close(Some(frame))).await;
        }
    }

    async fn serve(&mut self) -> Result<(), Closed> {
        let challenge = Challenge::new();
        self.send(protocol::message(
            op::HELLO,
            json!({
                "obsStudioVersion": OBS_STUDIO_VERSION,
                "obsWebSocketVersion": OBS_WEBSOCKET_VERSION,
                "rpcVersion": RPC_VERSION,
                "authentication": { "challenge": challenge.challenge, "salt": challenge.salt },
            }),
        ))
        .await?;
        let identify = tokio::time::timeout(IDENTIFY_TIMEOUT, self.next())
            .await
            .map_err(|_| Closed::with(close::NOT_IDENTIFIED, "no Identify in time"))??;
        let (opcode, d) = identify;
        if opcode != op::IDENTIFY {
            return Err(Closed::with(close::NOT_IDENTIFIED, "the first message must be Identify"));
        }
        let rpc = d.get("rpcVersion").ok_or_else(|| Closed::with(close::MISSING_DATA_FIELD, "missing rpcVersion"))?;
        if rpc.as_u64() != Some(RPC_VERSION) {
            return Err(Closed::with(close::UNSUPPORTED_RPC_VERSION, format!("rpcVersion {RPC_VERSION} only")));
        }
        let given = d.get("authentication").and_then(Value::as_str).unwrap_or_default();
        if !challenge.verify(given, self.state.passwords.iter().map(String::as_str)) {
            return Err(Closed::with(close::AUTHENTICATION_FAILED, "Authentication failed."));
        }
        self.subscriptions = subscriptions(&d)?;
        self.send(protocol::message(op::IDENTIFIED, json!({ "negotiatedRpcVersion": RPC_VERSION }))).await?;

        let mut events = self.state.events.subscribe();
        let mut closing = self.state.closing.clone();
        loop {
            tokio::select! {
                message = self.next() => {
                    let (opcode, d) = message?;
                    self.dispatch(opcode, d).await?;
                }
                event = events.recv() => match event {
                    Ok(e) if e.intent & self.subscriptions != 0 => {
                        let mut d = json!({ "eventType": e.event_type, "eventIntent": e.intent });
                        if let Some(data) = e.data {
                            d["eventData"] = data;
                        }
                        self.send(protocol::message(op::EVENT, d)).await?;
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Err(Closed::with(close::SESSION_INVALIDATED, "server closing")),
                },
                () = async { drop(closing.wait_for(|c| *c).await) } => {
                    return Err(Closed::with(1001, "ClipShot is shutting down"));
                }
            }
        }
    }

    async fn dispatch(&mut self, opcode: u64, d: Value) -> Result<(), Closed> {
        match opcode {
            op::IDENTIFY => Err(Closed::with(close::ALREADY_IDENTIFIED, "already identified")),
            op::REIDENTIFY => {
                self.subscriptions = subscriptions(&d)?;
                self.send(protocol::message(op::IDENTIFIED, json!({ "negotiatedRpcVersion": RPC_VERSION }))).await
            }
            op::REQUEST => {
                let (request_type, request_id) = request_header(&d, true)?;
                let response = respond(self.caller(None), &request_type, request_id, d.get("requestData")).await;
                self.send(protocol::message(op::REQUEST_RESPONSE, response)).await
            }
            op::REQUEST_BATCH => {
                let request_id = d
                    .get("requestId")
                    .cloned()
                    .ok_or_else(|| Closed::with(close::MISSING_DATA_FIELD, "missing requestId"))?;
                let halt = d.get("haltOnFailure").and_then(Value::as_bool).unwrap_or(false);
                let execution_type = d.get("executionType").map_or(Some(execution::SERIAL_REALTIME), Value::as_i64);
                let Some(execution_type @ (execution::SERIAL_REALTIME | execution::SERIAL_FRAME | execution::PARALLEL)) =
                    execution_type
                else {
                    return Err(Closed::with(close::INVALID_DATA_FIELD_VALUE, "unknown executionType"));
                };
                let Some(list) = d.get("requests").and_then(Value::as_array) else {
                    return Err(Closed::with(close::MISSING_DATA_FIELD, "missing requests"));
                };
                // Parallel batches run in order too: a valid order of a parallel run.
                let mut results = Vec::with_capacity(list.len());
                for r in list {
                    let (request_type, id) = request_header(r, false)?;
                    let caller = self.caller(Some(execution_type));
                    let result = respond(caller, &request_type, id, r.get("requestData")).await;
                    let failed = result["requestStatus"]["result"] != Value::Bool(true);
                    results.push(result);
                    if failed && halt {
                        break;
                    }
                }
                let response = json!({ "requestId": request_id, "results": results });
                self.send(protocol::message(op::REQUEST_BATCH_RESPONSE, response)).await
            }
            other => Err(Closed::with(close::UNKNOWN_OP_CODE, format!("unknown op code {other}"))),
        }
    }

    /// What a request may know of this session.
    fn caller(&self, execution: Option<i64>) -> Caller {
        Caller { state: Arc::clone(&self.state), execution, incoming: self.incoming, outgoing: self.outgoing }
    }

    /// The next protocol message, as `(op, d)`.
    async fn next(&mut self) -> Result<(u64, Value), Closed> {
        loop {
            let message = match self.socket.recv().await {
                Some(Ok(m)) => m,
                Some(Err(_)) | None => return Err(Closed(None)),
            };
            let value = match (message, self.encoding) {
                (Message::Text(t), Encoding::Json) => protocol::decode_json(t.as_str()),
                (Message::Binary(b), Encoding::MsgPack) => protocol::decode_msgpack(&b),
                (Message::Text(_) | Message::Binary(_), _) => {
                    return Err(Closed::with(close::MESSAGE_DECODE_ERROR, "frame type does not match the subprotocol"));
                }
                (Message::Close(_), _) => return Err(Closed(None)),
                (Message::Ping(_) | Message::Pong(_), _) => continue,
            };
            self.incoming += 1;
            let value = value.map_err(|e| Closed::with(close::MESSAGE_DECODE_ERROR, e.0))?;
            let opcode = value.get("op").ok_or_else(|| Closed::with(close::MISSING_DATA_FIELD, "missing op"))?;
            let opcode =
                opcode.as_u64().ok_or_else(|| Closed::with(close::INVALID_DATA_FIELD_TYPE, "op is not a number"))?;
            let d = value.get("d").cloned().ok_or_else(|| Closed::with(close::MISSING_DATA_FIELD, "missing d"))?;
            if !d.is_object() {
                return Err(Closed::with(close::INVALID_DATA_FIELD_TYPE, "d is not an object"));
            }
            return Ok((opcode, d));
        }
    }

    async fn send(&mut self, value: Value) -> Result<(), Closed> {
        let message = match self.encoding {
            Encoding::Json => Message::Text(value.to_string().into()),
            Encoding::MsgPack => Message::Binary(protocol::encode_msgpack(&value).into()),
        };
        self.outgoing += 1;
        self.socket.send(message).await.map_err(|_| Closed(None))
    }
}

/// Runs one request and builds its response (`requestId` echoed as sent).
async fn respond(caller: Caller, request_type: &str, request_id: Option<Value>, data: Option<&Value>) -> Value {
    let outcome = requests::handle(&caller, request_type, data).await;
    let mut response = json!({
        "requestType": request_type,
        "requestStatus": protocol::request_status(outcome.code, outcome.comment.as_deref()),
    });
    if let Some(id) = request_id {
        response["requestId"] = id;
    }
    if let Some(data) = outcome.data {
        response["responseData"] = data;
    }
    if outcome.code != status::SUCCESS {
        tracing::debug!(request_type, code = outcome.code, comment = ?outcome.comment, "obs-websocket request failed");
    }
    response
}

fn subscriptions(d: &Value) -> Result<u64, Closed> {
    match d.get("eventSubscriptions") {
        None | Some(Value::Null) => Ok(intent::ALL),
        Some(v) => {
            v.as_u64().ok_or_else(|| Closed::with(close::INVALID_DATA_FIELD_TYPE, "eventSubscriptions is not a number"))
        }
    }
}

/// A request's type and id; the id is any JSON value (clients send numbers
/// too) and required outside batches.
fn request_header(d: &Value, id_required: bool) -> Result<(String, Option<Value>), Closed> {
    let request_type = match d.get("requestType") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(Closed::with(close::INVALID_DATA_FIELD_TYPE, "requestType is not a string")),
        None if id_required => return Err(Closed::with(close::MISSING_DATA_FIELD, "missing requestType")),
        None => String::new(),
    };
    let id = d.get("requestId").cloned();
    if id_required && id.is_none() {
        return Err(Closed::with(close::MISSING_DATA_FIELD, "missing requestId"));
    }
    Ok((request_type, id))
}

/// Engine events as OBS's: the default pipeline is the replay buffer, its
/// recording the record output.
async fn translate(state: Arc<State>) {
    let mut sub = state.engine.events().subscribe(None).live;
    loop {
        let stamped = match sub.recv().await {
            Ok(s) => s,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let default = state.engine.default_pipeline().map(|p| p.id().to_owned());
        let is_default = |p: &str| default.as_deref() == Some(p);
        let output = |event_type, active: bool, output_state: &str, extra: Option<(&str, &str)>| {
            let mut data = json!({ "outputActive": active, "outputState": output_state });
            if let Some((k, v)) = extra {
                data[k] = v.into();
            }
            ObsEvent { event_type, intent: intent::OUTPUTS, data: Some(data) }
        };
        let event = match &stamped.event {
            Event::PipelineState { pipeline, state: s, .. } if is_default(pipeline) => {
                let (active, name) = match s {
                    PipelineState::Starting => (false, "OBS_WEBSOCKET_OUTPUT_STARTING"),
                    PipelineState::Running => (true, "OBS_WEBSOCKET_OUTPUT_STARTED"),
                    PipelineState::Stopped | PipelineState::Error => (false, "OBS_WEBSOCKET_OUTPUT_STOPPED"),
                };
                Some(output("ReplayBufferStateChanged", active, name, None))
            }
            Event::ClipSaved(clip) if is_default(&clip.pipeline) => {
                *state.last_replay.write() = Some(clip.path.clone());
                let data = json!({ "savedReplayPath": clip.path });
                Some(ObsEvent { event_type: "ReplayBufferSaved", intent: intent::OUTPUTS, data: Some(data) })
            }
            Event::RecordingStarted { pipeline, path } if is_default(pipeline) => {
                Some(output("RecordStateChanged", true, "OBS_WEBSOCKET_OUTPUT_STARTED", Some(("outputPath", path))))
            }
            Event::RecordingStopped { pipeline, path, .. } if is_default(pipeline) => {
                Some(output("RecordStateChanged", false, "OBS_WEBSOCKET_OUTPUT_STOPPED", Some(("outputPath", path))))
            }
            _ => None,
        };
        if let Some(e) = event {
            let _ = state.events.send(e);
        }
    }
}
