//! What the exception path and the mirror did, for `ferroute status` and /metrics.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct LinuxCpStats {
    /// Frames written to a twin (punted by the workers).
    pub to_kernel: AtomicU64,
    /// Frames read from a twin and sent through the output path.
    pub from_kernel: AtomicU64,
    /// Frames a twin would not take (its queue full, or down).
    pub to_kernel_errors: AtomicU64,
    /// Route events from the kernel the mirror took.
    pub mirror_events: AtomicU64,
    /// Full resyncs after lost events (ENOBUFS), the one at start included.
    pub mirror_resyncs: AtomicU64,
    /// Mirrored routes the API refused (logged with its reason).
    pub mirror_rejected: AtomicU64,
    /// Routes the mirror holds in ferroute now.
    pub mirror_routes: AtomicU64,
}

impl LinuxCpStats {
    /// Each counter by name, as `ferroute counters` and /metrics show them.
    pub fn pairs(&self) -> [(&'static str, u64); 7] {
        [
            ("to_kernel", self.to_kernel.load(Relaxed)),
            ("from_kernel", self.from_kernel.load(Relaxed)),
            ("to_kernel_errors", self.to_kernel_errors.load(Relaxed)),
            ("mirror_events", self.mirror_events.load(Relaxed)),
            ("mirror_resyncs", self.mirror_resyncs.load(Relaxed)),
            ("mirror_rejected", self.mirror_rejected.load(Relaxed)),
            ("mirror_routes", self.mirror_routes.load(Relaxed)),
        ]
    }
}
