"""An unmodified obs-websocket v5 client (obsws-python, on websocket-client)
against a running ClipShot daemon. Prints one JSON report on stdout; the
Rust test (api/tests/obs_websocket.rs) judges it.

    client.py PORT PASSWORD
"""

import json
import sys
import threading
import time

import obsws_python as obs
import websocket

port, password = int(sys.argv[1]), sys.argv[2]
report = {}

# Requests, as a Stream Deck button would send them.
req = obs.ReqClient(host="127.0.0.1", port=port, password=password, timeout=10)
version = req.get_version()
report["platform"] = version.platform
report["rpc_version"] = version.rpc_version
report["available"] = version.available_requests
report["replay_active"] = req.get_replay_buffer_status().output_active
scenes = req.get_scene_list()
report["scenes"] = [s["sceneName"] for s in scenes.scenes]
report["current_scene"] = scenes.current_program_scene_name
stats = req.get_stats()
report["active_fps"] = stats.active_fps
report["memory_mb"] = stats.memory_usage

# Events on a second connection, subscribed to outputs.
saved = threading.Event()
events = obs.EventClient(host="127.0.0.1", port=port, password=password, subs=obs.Subs.OUTPUTS, timeout=10)


def on_replay_buffer_saved(data):
    report["event_path"] = data.saved_replay_path
    saved.set()


events.callback.register(on_replay_buffer_saved)
time.sleep(0.3)
started = time.monotonic()
req.save_replay_buffer()
report["saved_event"] = saved.wait(30)
report["save_round_trip_ms"] = (time.monotonic() - started) * 1000.0
report["last_replay"] = req.get_last_replay_buffer_replay().saved_replay_path

# A continuous recording beside the ring.
req.start_record()
time.sleep(2.5)
report["record_status"] = req.get_record_status().output_active
report["record_path"] = req.stop_record().output_path
req.create_record_chapter("clutch")
events.disconnect()


def raw(origin=None):
    ws = websocket.WebSocket()
    if origin:
        ws.connect(f"ws://127.0.0.1:{port}", timeout=10, origin=origin)
    else:
        ws.connect(f"ws://127.0.0.1:{port}", timeout=10, suppress_origin=True)
    return ws, json.loads(ws.recv())


# A wrong password: refused with the protocol's close code.
ws, hello = raw()
report["hello_has_auth"] = "authentication" in hello["d"]
ws.send(json.dumps({"op": 1, "d": {"rpcVersion": 1, "authentication": "wrong", "eventSubscriptions": 0}}))
try:
    opcode, data = ws.recv_data()
    report["wrong_password_close"] = int.from_bytes(data[:2], "big") if opcode == websocket.ABNF.OPCODE_CLOSE else None
except websocket.WebSocketConnectionClosedException:
    report["wrong_password_close"] = "closed without a code"

# An unknown request, then a batch, on a connection the library identified.
ws = obs.ReqClient(host="127.0.0.1", port=port, password=password, timeout=10).base_client.ws
ws.send(json.dumps({"op": 6, "d": {"requestType": "SetStudioModeEnabled", "requestId": "x1", "requestData": {"studioModeEnabled": True}}}))
unknown = json.loads(ws.recv())["d"]
report["unknown_status"] = unknown["requestStatus"]
report["unknown_id"] = unknown["requestId"]
ws.send(json.dumps({"op": 8, "d": {"requestId": "b1", "haltOnFailure": True, "executionType": 0, "requests": [
    {"requestType": "GetReplayBufferStatus", "requestId": "first"},
    {"requestType": "Sleep", "requestId": "second", "requestData": {"sleepMillis": 200}},
    {"requestType": "GetRecordStatus", "requestId": "third"},
    {"requestType": "NoSuchThing", "requestId": "fourth"},
    {"requestType": "GetVersion", "requestId": "fifth"},
]}}))
t = time.monotonic()
batch = json.loads(ws.recv())
report["batch_op"] = batch["op"]
report["batch_ms"] = (time.monotonic() - t) * 1000.0
report["batch_ids"] = [r["requestId"] for r in batch["d"]["results"]]
report["batch_codes"] = [r["requestStatus"]["code"] for r in batch["d"]["results"]]
ws.close()

# A web page from a foreign origin may not connect.
try:
    raw("https://evil.example")
    report["foreign_origin"] = "connected"
except websocket.WebSocketBadStatusException as e:
    report["foreign_origin"] = e.status_code

print(json.dumps(report))
