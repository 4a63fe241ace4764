//! The shipped models on the real ONNX Runtime (its CPU provider here).
//! `make models` places the files and `make` exports `ORT_DYLIB_PATH`;
//! outside CI, a machine without them skips with a note.

use clipshot_ai::audio::{AudioTagger, MODEL_RATE, to_mono};
use clipshot_ai::runtime::{InputTensor, RuntimeError};
use clipshot_ai::{Ai, AiError, Task};
use std::path::PathBuf;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// The shipped models with a runtime, or `None` (outside CI) when either is missing.
fn ai() -> Option<Ai> {
    let ready = std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty())
        && models_dir().join("ced-tiny/model.onnx").is_file();
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must have the models and ONNX Runtime (make test fetches them)");
        eprintln!("skipped: run `make models onnxruntime` and export ORT_DYLIB_PATH");
        return None;
    }
    Some(Ai::new(vec![models_dir()], 1))
}

/// Impacts of noise with a sharp attack: "gunshot-like" to an AudioSet tagger.
fn bursts(seconds: f64) -> Vec<f32> {
    let n = (seconds * f64::from(MODEL_RATE)) as usize;
    let mut x = vec![0.0f32; n];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    for shot in 0..5 {
        let start = ((0.05 + shot as f64 * 1.9 / 5.0) * f64::from(MODEL_RATE)) as usize;
        for i in 0..(MODEL_RATE as usize * 6 / 10).min(n - start) {
            let t = i as f32 / MODEL_RATE as f32;
            let env = (-t * 30.0).exp() + 0.2 * (-t * 3.0).exp();
            x[start + i] = (x[start + i] + noise() * 1.7 * env).clamp(-1.0, 1.0);
        }
    }
    x
}

#[test]
fn every_shipped_model_opens_on_the_cpu_and_matches_its_manifest() {
    let Some(ai) = ai() else { return };
    let entries = ai.entries();
    let ids: Vec<&str> = entries.iter().filter_map(|e| e.id()).collect();
    assert_eq!(ids, ["ced-tiny", "ppocr-v4-det", "ppocr-v4-rec", "silero-vad"]);
    for e in &entries {
        assert!(e.result.is_ok(), "{:?}", e.result);
        let model = ai.load(e.id().unwrap()).unwrap();
        assert_eq!(model.provider, "CPU", "no GPU here: the GPU providers fail loudly and the CPU takes it");
    }
    // Labels from a file, and from the model's own metadata.
    assert_eq!(ai.loaded("ced-tiny").unwrap().labels.len(), 527);
    assert_eq!(ai.loaded("ppocr-v4-rec").unwrap().labels.len(), 6623);
    assert_eq!(ai.model_for(Task::Vad).as_deref(), Some("silero-vad"));
    assert!(ai.unload("silero-vad"));
    assert!(!ai.unload("silero-vad"));
    let rt = ai.runtime().unwrap();
    assert!(rt.version.starts_with("1."), "{}", rt.version);
}

#[test]
fn the_audio_tagger_ranks_a_gunshot_like_burst_above_silence() {
    let Some(ai) = ai() else { return };
    let model = ai.load("ced-tiny").unwrap();
    let tagger = AudioTagger::new(&model, "waveform");
    let gunshot = model.labels.iter().position(|l| l == "Gunshot, gunfire").unwrap();

    let silence = tagger.scores(&vec![0.0; 2 * MODEL_RATE as usize]).unwrap();
    assert_eq!(silence.len(), 527);
    assert_eq!(tagger.top(&silence, 1)[0].label, "Silence");
    // Probabilities already (the graph ends in a sigmoid): never squashed twice.
    assert!(silence.iter().all(|p| (0.0..=1.0).contains(p)));
    assert!(silence[gunshot] < 1e-3);

    // The same burst at 48 kHz stereo, brought to 16 kHz mono as a game's mix would be.
    let burst = bursts(2.0);
    let stereo48: Vec<f32> = to_mono(&burst, MODEL_RATE, 1, 48_000).into_iter().flat_map(|v| [v, v]).collect();
    let mono = to_mono(&stereo48, 48_000, 2, MODEL_RATE);
    let scores = tagger.scores(&mono).unwrap();
    assert!(
        scores[gunshot] > 100.0 * silence[gunshot].max(1e-5),
        "gunshot {} vs silence {}: {:?}",
        scores[gunshot],
        silence[gunshot],
        tagger.top(&scores, 5)
    );
    assert_ne!(tagger.top(&scores, 1)[0].label, "Silence");
}

#[test]
fn the_vad_takes_its_state_and_rate() {
    let Some(ai) = ai() else { return };
    let vad = ai.load("silero-vad").unwrap();
    let out = vad
        .run(vec![
            InputTensor::F32 { name: "input".into(), shape: vec![1, 512], data: vec![0.0; 512] },
            InputTensor::F32 { name: "state".into(), shape: vec![2, 1, 128], data: vec![0.0; 256] },
            InputTensor::I64 { name: "sr".into(), shape: vec![], data: vec![16_000] },
        ])
        .unwrap();
    let speech = &out.iter().find(|o| o.name == "output").unwrap().data;
    assert!(speech[0] < 0.2, "silence is not speech: {}", speech[0]);
    assert_eq!(out.iter().find(|o| o.name == "stateN").unwrap().shape, [2, 1, 128]);
}

#[test]
fn a_manifest_that_does_not_match_its_graph_is_refused_with_every_difference() {
    let Some(_) = ai() else { return };
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("ced-wrong");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(models_dir().join("ced-tiny/model.onnx"), folder.join("model.onnx")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models_dir().join("ced-tiny/model.json")).unwrap()).unwrap();
    manifest["id"] = "ced-wrong".into();
    manifest["inputs"][0]["name"] = "audio".into();
    manifest["outputs"][0]["shape"] = serde_json::json!(["batch", 1000]);
    manifest.as_object_mut().unwrap().remove("labels");
    std::fs::write(folder.join("model.json"), manifest.to_string()).unwrap();
    let ai = Ai::new(vec![dir.path().to_owned()], 1);
    match ai.load("ced-wrong") {
        Err(AiError::Runtime(RuntimeError::Mismatch { problems, .. })) => {
            assert_eq!(problems.len(), 2, "{problems:?}");
            assert!(problems[0].contains("no input `audio` (it has waveform)"), "{problems:?}");
            assert!(problems[1].contains("dimension 1 is 527, the manifest says 1000"), "{problems:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(ai.load("nope"), Err(AiError::UnknownModel(_))));
}
