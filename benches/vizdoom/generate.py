#!/usr/bin/env python3
"""Records labelled play of a real game for the highlight evaluation.

ViZDoom (PyPI `vizdoom`, which ships the engine, Freedoom and the
multiplayer deathmatch map) runs a deathmatch against ZDoom bots, monsters
off, with a simple aiming agent as the player `ClipShot`. Every tic's frame
(1280x720 RGB) and sound (44.1 kHz stereo) go to an MP4 (H.264 + AAC at the
game's 35 fps), and the game variables give the exact tic of each event:

- FRAGCOUNT up: a kill by the player (the game prints "<bot> was ... by
  ClipShot's <weapon>" in its message area);
- FRAGCOUNT down: a suicide; DEATHCOUNT up: a death.

Output: <out>/play.mp4 and <out>/labels.json
({"fps", "duration_s", "events": [{"t_s", "tic", "kind"}]}).

Usage: generate.py --minutes 20 --out target/eval/vizdoom [--seed 1]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import vizdoom as vzd

FPS = 35
WIDTH, HEIGHT = 1280, 720
RATE = 44100
PLAYER = "ClipShot"


def game(seed: int, out: str) -> vzd.DoomGame:
    g = vzd.DoomGame()
    # The engine's own settings file, kept beside the recording (not in the working directory).
    g.set_doom_config_path(os.path.join(out, "_vizdoom.ini"))
    g.set_doom_scenario_path(os.path.join(vzd.scenarios_path, "multi_deathmatch.wad"))
    g.set_doom_map("map01")
    g.set_seed(seed)
    g.set_screen_resolution(vzd.ScreenResolution.RES_1280X720)
    g.set_screen_format(vzd.ScreenFormat.RGB24)
    g.set_render_hud(True)
    g.set_render_messages(True)
    g.set_render_crosshair(True)
    g.set_labels_buffer_enabled(True)
    g.set_audio_buffer_enabled(True)
    g.set_audio_sampling_rate(vzd.SamplingRate.SR_44100)
    g.set_audio_buffer_size(1)
    g.set_window_visible(False)
    g.set_mode(vzd.Mode.PLAYER)
    for b in (vzd.Button.ATTACK, vzd.Button.MOVE_FORWARD, vzd.Button.TURN_LEFT_RIGHT_DELTA, vzd.Button.SELECT_WEAPON4):
        g.add_available_button(b)
    for v in (vzd.GameVariable.FRAGCOUNT, vzd.GameVariable.DEATHCOUNT, vzd.GameVariable.POSITION_X, vzd.GameVariable.POSITION_Y):
        g.add_available_game_variable(v)
    # snd_efx 0: the wheel's OpenAL asserts on EFX filters without a device.
    # con_scaletext 2: messages at twice the size, as a 720p player sets them.
    g.add_game_args(
        f"-host 1 -deathmatch -nomonsters +timelimit 0 +sv_spawnfarthest 1 +name {PLAYER} +colorset 0 "
        "+sv_forcerespawn 1 +sv_respawnprotect 1 +sv_nocrouch 1 +snd_efx 0 +con_scaletext 2 "
        "+sv_infiniteammo 1 +sv_cheats 1"
    )
    g.init()
    g.send_game_command("removebots")
    for _ in range(8):
        g.send_game_command("addbot")
    g.send_game_command("give weapons")
    return g


def act(g: vzd.DoomGame, state, rng: random.Random, wander: list) -> list:
    """Aim at the biggest bot in view and fire (the chaingun) when it is near the crosshair; otherwise roam."""
    px = g.get_game_variable(vzd.GameVariable.POSITION_X)
    py = g.get_game_variable(vzd.GameVariable.POSITION_Y)
    bots = [
        l
        for l in (state.labels if state is not None else [])
        if l.object_name == "DoomPlayer" and abs(l.object_position_x - px) + abs(l.object_position_y - py) > 5
    ]
    if bots:
        b = max(bots, key=lambda l: l.width * l.height)
        dx = (b.x + b.width / 2 - WIDTH / 2) / (WIDTH / 2)
        return [1 if abs(dx) < 0.15 else 0, 0, dx * 30.0, 0]
    # Nobody in view: sweep while moving, the sweep's direction changing now and then.
    if wander[0] <= 0:
        wander[0] = rng.randint(60, 180)
        wander[1] = rng.choice([-6.0, 6.0])
    wander[0] -= 1
    return [0, 1, wander[1], 0]


CHAINGUN = [0, 0, 0.0, 1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tics = int(args.minutes * 60 * FPS)
    rng = random.Random(args.seed)
    g = game(args.seed, args.out)
    video_path = os.path.join(args.out, "video.mp4")
    encoder = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
         "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
         "-pix_fmt", "yuv420p", "-g", str(FPS * 2), video_path],
        stdin=subprocess.PIPE,
    )
    sound = tempfile.NamedTemporaryFile(suffix=".f32", dir=args.out, delete=False)
    silence = np.zeros((RATE // FPS, 2), dtype=np.int16)
    last_frame = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    events = []
    frags = deaths = 0
    wander = [0, 0.0]
    started = time.time()
    for tic in range(tics):
        arm = tic == 0
        if g.is_player_dead():
            g.respawn_player()
            # A respawn starts with the pistol: the weapons again, the chaingun in hand.
            g.send_game_command("give weapons")
            arm = True
        state = g.get_state()
        frame = state.screen_buffer if state is not None else last_frame
        audio = state.audio_buffer if state is not None and state.audio_buffer is not None else silence
        last_frame = frame
        # The frame and sound of this tic, then the action that leads to the next.
        encoder.stdin.write(np.ascontiguousarray(frame).tobytes())
        sound.write(np.ascontiguousarray(audio, dtype=np.int16).tobytes())
        g.make_action(CHAINGUN if arm else act(g, state, rng, wander), 1)
        f = int(g.get_game_variable(vzd.GameVariable.FRAGCOUNT))
        d = int(g.get_game_variable(vzd.GameVariable.DEATHCOUNT))
        # The variables change during the action: the event shows from the next frame.
        t = (tic + 1) / FPS
        if f > frags:
            events += [{"t_s": round(t, 4), "tic": tic + 1, "kind": "kill"}] * (f - frags)
        elif f < frags:
            events.append({"t_s": round(t, 4), "tic": tic + 1, "kind": "suicide"})
        if d > deaths:
            events.append({"t_s": round(t, 4), "tic": tic + 1, "kind": "death"})
        frags, deaths = f, d
        if tic % (FPS * 60) == 0 and tic:
            rate = tic / (time.time() - started)
            kills = sum(e["kind"] == "kill" for e in events)
            print(f"{tic / FPS / 60:.0f} min of {args.minutes:g}: {kills} kills, {rate:.0f} tics/s", file=sys.stderr)
    g.close()
    encoder.stdin.close()
    if encoder.wait() != 0:
        print("ffmpeg failed encoding the video", file=sys.stderr)
        return 1
    sound.close()
    play = os.path.join(args.out, "play.mp4")
    mux = subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", video_path, "-f", "s16le", "-ar", str(RATE), "-ac", "2",
         "-i", sound.name, "-c:v", "copy", "-c:a", "aac", "-b:a", "160k", "-shortest", play]
    )
    os.unlink(sound.name)
    os.unlink(video_path)
    if mux.returncode != 0:
        print("ffmpeg failed muxing the sound", file=sys.stderr)
        return 1
    with open(os.path.join(args.out, "labels.json"), "w") as out:
        json.dump({"fps": FPS, "duration_s": tics / FPS, "player": PLAYER, "seed": args.seed, "events": events}, out, indent=1)
    kills = sum(e["kind"] == "kill" for e in events)
    print(f"wrote {play}: {tics / FPS / 60:.1f} min, {kills} kills, {deaths} deaths", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
