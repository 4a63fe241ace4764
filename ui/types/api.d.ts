// The shapes of the API's answers that the dashboard reads (the OpenAPI
// document at /openapi.json is the full contract).

interface Problem {
  type?: string;
  title: string;
  status: number;
  detail: string;
  /** Validation problems: `location` is a JSON Pointer into the request. */
  problems?: { location: string; code: string; message: string }[];
}

interface Degradation {
  node: string;
  kind: string;
  reason: string;
  instead: string;
}

interface PipelineSummary {
  id: string;
  name: string;
  description: string;
  state: string;
  default: boolean;
  degraded: Degradation[];
}

interface RingFill {
  seconds: number;
  bytes: number;
  keyframes: number;
  max_seconds: number;
  max_bytes: number;
}

interface NodeStats {
  id: string;
  kind: string;
  frames_in: number;
  frames_out: number;
  dropped: number;
  errors: number;
  fps: number;
  encoder: string | null;
  ring: RingFill | null;
  running: boolean;
  error: string | null;
}

interface PipelineStats {
  id: string;
  state: string;
  message: string | null;
  uptime_s: number;
  restarts: number;
  degraded: Degradation[];
  nodes: NodeStats[];
}

interface Clip {
  id: string;
  pipeline: string;
  title: string | null;
  tags: string[];
  favorite: boolean;
  trigger: string;
  created_at: string;
  duration_s: number;
  size_bytes: number;
  video_codec: string;
  audio_codec: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  score: number | null;
  path: string;
  missing: boolean;
  span_start_ns: number;
  span_end_ns: number;
  asked_s: number;
  shortfall: string | null;
  save_ms: number;
}

interface ClipPage {
  items: Clip[];
  next_cursor: string | null;
}

interface StoredMarker {
  id: string;
  at_ns: number;
  label: string | null;
}

/** One point of a highlight score over a clip's time. */
interface ScorePoint {
  t_s: number;
  score: number;
  /** The detectors that fired at this point. */
  detectors?: string[];
}

/** The best highlight in a clip highlight detection saved or scored. */
interface HighlightSummary {
  score: number;
  label: string;
  /** Seconds from the clip's start (the thumbnail is taken there). */
  peak_s: number;
  highlights: number;
}

interface ClipMetadata {
  clip_id: string;
  markers: StoredMarker[];
  score: number | null;
  highlight: HighlightSummary | null;
  /** The fused score over the clip; empty for clips nothing scored (the
   * player then hides the plot). */
  score_timeline: ScorePoint[];
}

interface RingMarker {
  ring_id: number;
  at_ns: number;
  label: string | null;
}

interface ReplayStatus {
  pipeline: string;
  stats: { seconds: number; bytes: number; keyframes: number; first_pts_ns: number | null; last_pts_ns: number | null };
  max_seconds: number;
  max_bytes: number;
  now_ns: number | null;
  keyframes_ns: number[];
  markers: RingMarker[];
}

interface PluginInfo {
  id: string;
  name: string;
  version: string;
  type: string | null;
  category: string;
  description: Record<string, string>;
  license: string;
  status: 'installed' | 'running' | 'stopped' | 'error';
  enabled: boolean;
  loaded: boolean;
  isolation: 'out-of-process' | 'in-process';
  permissions: Record<string, { level: string; granted: boolean; reason: Record<string, string> }>;
  platforms: string[];
  node_kinds: string[];
  dependencies: Record<string, string>;
  error: { code: string; message: string } | null;
  disabled_reason: string | null;
  installed_at: string | null;
  updated_at: string | null;
}

interface ConfigView {
  config: Record<string, unknown>;
  token_path: string;
  restart_required: string[];
  read_only: string[];
}

interface ModelView {
  id: string;
  name: string | null;
  version: string | null;
  type: string | null;
  capability: string | null;
  licence: string | null;
  status: 'available' | 'loaded' | 'invalid';
  provider: string | null;
  load_ms: number | null;
  problems: string[];
}

interface AiHealth {
  status: string;
  runtime: { available: boolean; library: string; version: string | null; error: string | null };
  execution_providers: string[];
  gpu: { available: boolean; adapter: string | null; backend: string | null; device_type: string | null; reason: string | null; bytes_read_back: number };
}

interface SessionInfo {
  signed_in: boolean;
  csrf_token: string;
  csrf_header: string;
  version: string;
}
