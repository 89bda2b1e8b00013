//! Packet capture (FR_CAPTURE*).
use super::attr::*;
use super::*;
use std::net::Ipv4Addr;

/// Capture point numbers in [`CaptureReq::points`] (bits) and [`CapturePkt::point`]:
/// as received, as handed to TX, dropped (`crate::capture::Point`).
pub const CAPTURE_RX: u8 = 0;
pub const CAPTURE_TX: u8 = 1;
pub const CAPTURE_DROP: u8 = 2;
/// The drop reason's name, in an FR_CAPTURE_PKT of a drop.
pub const FRA_CAPTURE_REASON: u16 = 1;

/// What to capture: `{ports u64, points u8, proto u8, pad u16, snaplen u32, host [4]}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureReq {
    /// Bit i: ifindex i + 1 (DPDK port i).
    pub ports: u64,
    /// Bit `CAPTURE_*` for each point wanted.
    pub points: u8,
    /// `crate::capture::Proto` as a number (0 any).
    pub proto: u8,
    pub snaplen: u32,
    /// From or to this address only (0.0.0.0 on the wire: any).
    pub host: Option<Ipv4Addr>,
}

impl CaptureReq {
    const LEN: usize = 20;

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ports.to_le_bytes());
        out.extend_from_slice(&[self.points, self.proto, 0, 0]);
        out.extend_from_slice(&self.snaplen.to_le_bytes());
        out.extend_from_slice(&self.host.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
    }

    pub(super) fn parse(b: &[u8]) -> Result<CaptureReq, ApiError> {
        let f: [u8; CaptureReq::LEN] = fixed(b, "capture request")?;
        if b.len() != CaptureReq::LEN {
            return Err(ApiError::inval(format!(
                "capture request: expected {} bytes, got {}",
                CaptureReq::LEN,
                b.len()
            )));
        }
        let host = Ipv4Addr::new(f[16], f[17], f[18], f[19]);
        Ok(CaptureReq {
            ports: u64::from_le_bytes(f[0..8].try_into().unwrap_or_default()),
            points: f[8],
            proto: f[9],
            snaplen: u32::from_le_bytes(f[12..16].try_into().unwrap_or_default()),
            host: (!host.is_unspecified()).then_some(host),
        })
    }
}

/// One captured frame: `{ifindex u32, point u8, pad [3], ts_ns u64, orig_len u32,
/// cap_len u32}`, the `cap_len` octets padded to 4, then FRA_CAPTURE_REASON for a drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturePkt {
    pub ifindex: u32,
    pub point: u8,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: Vec<u8>,
    pub reason: Option<String>,
}

impl CapturePkt {
    const LEN: usize = 24;

    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ifindex.to_le_bytes());
        out.extend_from_slice(&[self.point, 0, 0, 0]);
        out.extend_from_slice(&self.ts_ns.to_le_bytes());
        out.extend_from_slice(&self.orig_len.to_le_bytes());
        out.extend_from_slice(&(self.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.data);
        out.resize(align4(out.len()), 0);
        if let Some(r) = &self.reason {
            Attrs(out).str(FRA_CAPTURE_REASON, r);
        }
    }

    pub(super) fn parse(b: &[u8]) -> Result<CapturePkt, ApiError> {
        let f: [u8; CapturePkt::LEN] = fixed(b, "captured packet")?;
        let le32 = |at: usize| u32::from_le_bytes(f[at..at + 4].try_into().unwrap_or_default());
        let cap = le32(20) as usize;
        let data = b
            .get(CapturePkt::LEN..CapturePkt::LEN + cap)
            .ok_or_else(|| ApiError::inval(format!("captured packet: {cap} octets do not fit")))?;
        let mut reason = None;
        let rest = b.get(align4(CapturePkt::LEN + cap)..).unwrap_or(&[]);
        for (k, v) in attrs(rest)? {
            match k {
                FRA_CAPTURE_REASON => reason = Some(a_str(k, v)?),
                _ => return Err(unknown_attr("captured packet", k)),
            }
        }
        Ok(CapturePkt {
            ifindex: le32(0),
            point: f[4],
            ts_ns: u64::from_le_bytes(f[8..16].try_into().unwrap_or_default()),
            orig_len: le32(16),
            data: data.to_vec(),
            reason,
        })
    }
}

/// The end of a capture: `{captured u64, missed u64}`, frames sent to the client and
/// frames the capture lost (a worker's ring full, or the client not reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureEnd {
    pub captured: u64,
    pub missed: u64,
}

impl CaptureEnd {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.captured.to_le_bytes());
        out.extend_from_slice(&self.missed.to_le_bytes());
    }

    pub(super) fn parse(b: &[u8]) -> Result<CaptureEnd, ApiError> {
        let f: [u8; 16] = fixed(b, "capture end")?;
        if b.len() != 16 {
            return Err(ApiError::inval("capture end: expected 16 bytes"));
        }
        Ok(CaptureEnd {
            captured: u64::from_le_bytes(f[0..8].try_into().unwrap_or_default()),
            missed: u64::from_le_bytes(f[8..16].try_into().unwrap_or_default()),
        })
    }
}
