//! The wgpu path: one device for the process, a compute pass per frame.
//!
//! A frame goes up as a storage buffer of its raw bytes (any of the capture
//! formats), `preprocess.wgsl` writes the model's tensor in one dispatch, and
//! the tensor comes back to the CPU: wgpu has no interop with ONNX Runtime's
//! CUDA provider, so the small tensor is read back and handed to the session
//! (`Readback` counts the bytes). Motion features run on a small copy of the
//! frame against the previous one, which stays on the GPU; only their sums
//! (200 bytes) come back.

use crate::frame::{BINS, Frame, FrameError, Layout, Motion, Spec, motion_from_sums};
use bytemuck::{Pod, Zeroable};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wgpu::util::DeviceExt;

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    #[error("the GPU device could not be opened: {0}")]
    Device(String),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("reading back from the GPU failed: {0}")]
    Readback(String),
}

/// The adapter in use, for health reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdapterInfo {
    pub name: String,
    /// `Vulkan`, `Metal`, `Dx12`, `Gl`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu` (lavapipe, llvmpipe)…
    pub device_type: String,
    pub driver: String,
}

/// The device, created once by the runtime and handed to every node that
/// preprocesses.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: AdapterInfo,
    preprocess: wgpu::ComputePipeline,
    motion: wgpu::ComputePipeline,
    read_back: AtomicU64,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu").field("info", &self.info).finish_non_exhaustive()
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct PreprocessParams {
    src_size: [u32; 2],
    format: u32,
    matrix: u32,
    offsets: [u32; 4],
    strides: [u32; 4],
    crop: [f32; 4],
    dst_size: [u32; 2],
    nhwc: u32,
    bgr: u32,
    mean: [f32; 4],
    inv_std: [f32; 4],
    scale: f32,
    _pad: [f32; 3],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct MotionParams {
    pixels: u32,
    has_previous: u32,
    _pad: [u32; 2],
}

fn pipeline(device: &wgpu::Device, label: &str, source: &str) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    })
}

impl Gpu {
    /// Opens the best adapter there is (a discrete GPU before an integrated
    /// one; lavapipe where there is none) and compiles the shaders.
    pub fn new() -> Result<Arc<Self>, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        // A GL adapter without compute shaders cannot run the passes: the CPU path is the answer there.
        if !adapter.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS) {
            return Err(GpuError::NoAdapter(format!("{} has no compute shaders", adapter.get_info().name)));
        }
        let raw = adapter.get_info();
        let info = AdapterInfo {
            name: raw.name.clone(),
            backend: format!("{:?}", raw.backend),
            device_type: format!("{:?}", raw.device_type),
            driver: format!("{} {}", raw.driver, raw.driver_info).trim().to_owned(),
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("clipshot analysis"),
            required_limits: wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        // wgpu panics on a validation error unless someone listens: log it instead (the
        // result of that pass is then wrong, never the process gone).
        device.on_uncaptured_error(std::sync::Arc::new(|e: wgpu::Error| {
            tracing::error!("GPU error in analysis preprocessing: {e}");
        }));
        let preprocess = pipeline(&device, "preprocess", clipshot_shaders::PREPROCESS);
        let motion = pipeline(&device, "motion", clipshot_shaders::MOTION);
        tracing::info!(adapter = %info.name, backend = %info.backend, kind = %info.device_type, "GPU preprocessing ready");
        Ok(Arc::new(Self { device, queue, info, preprocess, motion, read_back: AtomicU64::new(0) }))
    }

    pub fn info(&self) -> &AdapterInfo {
        &self.info
    }

    /// Bytes read back from the GPU so far (tensors and motion sums).
    pub fn bytes_read_back(&self) -> u64 {
        self.read_back.load(Ordering::Relaxed)
    }

    fn upload(&self, frame: &Frame<'_>) -> wgpu::Buffer {
        // Storage buffers are read as u32: pad the bytes to a multiple of 4.
        let used = frame.needed();
        let mut bytes = frame.data[..used].to_vec();
        bytes.resize(used.div_ceil(4) * 4, 0);
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("frame"),
            contents: &bytes,
            usage: wgpu::BufferUsages::STORAGE,
        })
    }

    fn storage(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Records the preprocess pass of `frame` into `out` (which holds `spec.len()` floats).
    fn encode_preprocess(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        frame: &Frame<'_>,
        spec: &Spec,
        out: &wgpu::Buffer,
    ) -> Result<(), GpuError> {
        frame.check()?;
        let crop = spec.crop(frame)?;
        let params = PreprocessParams {
            src_size: [frame.width, frame.height],
            format: frame.format.code(),
            matrix: u32::from(frame.matrix == crate::frame::Matrix::Bt709),
            offsets: [frame.offsets[0], frame.offsets[1], frame.offsets[2], 0],
            strides: [frame.strides[0], frame.strides[1], frame.strides[2], 0],
            crop,
            dst_size: [spec.width, spec.height],
            nhwc: u32::from(spec.layout == Layout::Nhwc),
            bgr: u32::from(spec.bgr),
            mean: [spec.mean[0], spec.mean[1], spec.mean[2], 0.0],
            inv_std: [1.0 / spec.std[0], 1.0 / spec.std[1], 1.0 / spec.std[2], 0.0],
            scale: spec.scale,
            _pad: [0.0; 3],
        };
        let src = self.upload(frame);
        let uniform = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("preprocess params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("preprocess"),
            layout: &self.preprocess.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: src.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: out.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: uniform.as_entire_binding() },
            ],
        });
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("preprocess"), timestamp_writes: None });
        pass.set_pipeline(&self.preprocess);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(spec.width.div_ceil(8), spec.height.div_ceil(8), 1);
        Ok(())
    }

    /// Copies `from` to a mappable buffer, submits, waits and reads it.
    fn read(&self, mut encoder: wgpu::CommandEncoder, from: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(from, 0, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| drop(tx.send(r)));
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
        rx.recv().map_err(|e| GpuError::Readback(e.to_string()))?.map_err(|e| GpuError::Readback(e.to_string()))?;
        let data = slice.get_mapped_range().map_err(|e| GpuError::Readback(e.to_string()))?.to_vec();
        staging.unmap();
        self.read_back.fetch_add(bytes, Ordering::Relaxed);
        Ok(data)
    }

    /// `frame` → the tensor `spec` describes, read back into `out`.
    pub fn preprocess(&self, frame: &Frame<'_>, spec: &Spec, out: &mut [f32]) -> Result<(), GpuError> {
        assert_eq!(out.len(), spec.len(), "the output holds the whole tensor");
        let bytes = (spec.len() * 4) as u64;
        let limit = self.device.limits().max_storage_buffer_binding_size;
        if bytes > limit || frame.needed() as u64 > limit {
            return Err(GpuError::Readback(format!("a frame or tensor over the device's {limit} bytes")));
        }
        let tensor = self.storage("tensor", bytes);
        let mut encoder = self.device.create_command_encoder(&Default::default());
        self.encode_preprocess(&mut encoder, frame, spec, &tensor)?;
        let data = self.read(encoder, &tensor, bytes)?;
        out.copy_from_slice(bytemuck::cast_slice(&data));
        Ok(())
    }
}

/// Motion features on the GPU: the previous small frame stays there.
#[derive(Debug)]
pub struct GpuMotion {
    gpu: Arc<Gpu>,
    spec: Spec,
    frames: [wgpu::Buffer; 2],
    sums: wgpu::Buffer,
    /// Which of `frames` holds the newest; `None` before the first frame.
    newest: Option<usize>,
    previous: Option<(Vec<u32>, f32)>,
}

impl GpuMotion {
    /// Features computed at `width`×`height` (at most 65536 pixels: the sums are 32-bit).
    pub fn new(gpu: Arc<Gpu>, width: u32, height: u32) -> Self {
        assert!(u64::from(width) * u64::from(height) < 65_536, "motion features work on small frames");
        let spec = Spec::unit(width, height);
        let bytes = (spec.len() * 4) as u64;
        let frames = [gpu.storage("motion frame a", bytes), gpu.storage("motion frame b", bytes)];
        let sums = gpu.storage("motion sums", ((2 + 3 * BINS) * 4) as u64);
        Self { gpu, spec, frames, sums, newest: None, previous: None }
    }

    pub fn update(&mut self, frame: &Frame<'_>) -> Result<Motion, GpuError> {
        let gpu = Arc::clone(&self.gpu);
        let slot = self.newest.map_or(0, |n| 1 - n);
        let pixels = (self.spec.width * self.spec.height) as usize;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        gpu.encode_preprocess(&mut encoder, frame, &self.spec, &self.frames[slot])?;
        let params =
            MotionParams { pixels: pixels as u32, has_previous: u32::from(self.newest.is_some()), _pad: [0; 2] };
        let uniform = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("motion params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let previous = &self.frames[self.newest.unwrap_or(slot)];
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("motion"),
            layout: &gpu.motion.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: self.frames[slot].as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: previous.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: self.sums.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: uniform.as_entire_binding() },
            ],
        });
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("motion"), timestamp_writes: None });
            pass.set_pipeline(&gpu.motion);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
        let data = gpu.read(encoder, &self.sums, ((2 + 3 * BINS) * 4) as u64)?;
        let sums: &[u32] = bytemuck::cast_slice(&data);
        let first = self.newest.is_none();
        self.newest = Some(slot);
        Ok(motion_from_sums(sums, pixels, first, &mut self.previous))
    }
}
