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

/// [`CaptureReq`] fields.
mod req {
    use super::Field;
    pub const PORTS: Field = 0..8;
    pub const POINTS: usize = 8;
    pub const PROTO: usize = 9;
    pub const SNAPLEN: Field = 12..16;
    pub const HOST: Field = 16..20;
    pub const LEN: usize = 20;
}

const _: () = assert!(req::HOST.end == req::LEN);

impl CaptureReq {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut f = Fixed::<{ req::LEN }>::zeroed();
        f.set_u64(req::PORTS, self.ports);
        f.set_u8(req::POINTS, self.points);
        f.set_u8(req::PROTO, self.proto);
        f.set_u32(req::SNAPLEN, self.snaplen);
        f.set_ip(req::HOST, self.host.unwrap_or(Ipv4Addr::UNSPECIFIED));
        f.emit(out);
    }

    pub(super) fn parse(b: &[u8]) -> Result<CaptureReq, ApiError> {
        let (f, rest) = Fixed::<{ req::LEN }>::read(b, "capture request")?;
        if !rest.is_empty() {
            return Err(ApiError::inval(format!(
                "capture request: expected {} bytes, got {}",
                req::LEN,
                b.len()
            )));
        }
        let host = f.ip(req::HOST);
        Ok(CaptureReq {
            ports: f.u64(req::PORTS),
            points: f.u8(req::POINTS),
            proto: f.u8(req::PROTO),
            snaplen: f.u32(req::SNAPLEN),
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

/// [`CapturePkt`] fields, then the frame.
mod pkt {
    use super::Field;
    pub const IFINDEX: Field = 0..4;
    pub const POINT: usize = 4;
    pub const TS_NS: Field = 8..16;
    pub const ORIG_LEN: Field = 16..20;
    pub const CAP_LEN: Field = 20..24;
    pub const LEN: usize = 24;
}

const _: () = assert!(pkt::CAP_LEN.end == pkt::LEN);

impl CapturePkt {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut f = Fixed::<{ pkt::LEN }>::zeroed();
        f.set_u32(pkt::IFINDEX, self.ifindex);
        f.set_u8(pkt::POINT, self.point);
        f.set_u64(pkt::TS_NS, self.ts_ns);
        f.set_u32(pkt::ORIG_LEN, self.orig_len);
        f.set_u32(pkt::CAP_LEN, self.data.len() as u32);
        f.emit(out);
        out.extend_from_slice(&self.data);
        out.resize(align4(out.len()), 0);
        if let Some(r) = &self.reason {
            Attrs(out).str(FRA_CAPTURE_REASON, r);
        }
    }

    pub(super) fn parse(b: &[u8]) -> Result<CapturePkt, ApiError> {
        let (f, after) = Fixed::<{ pkt::LEN }>::read(b, "captured packet")?;
        let cap = f.u32(pkt::CAP_LEN) as usize;
        let data = after
            .get(..cap)
            .ok_or_else(|| ApiError::inval(format!("captured packet: {cap} octets do not fit")))?;
        let mut reason = None;
        let rest = b.get(align4(pkt::LEN + cap)..).unwrap_or(&[]);
        for (k, v) in attrs(rest)? {
            match k {
                FRA_CAPTURE_REASON => reason = Some(a_str(k, v)?),
                _ => return Err(unknown_attr("captured packet", k)),
            }
        }
        Ok(CapturePkt {
            ifindex: f.u32(pkt::IFINDEX),
            point: f.u8(pkt::POINT),
            ts_ns: f.u64(pkt::TS_NS),
            orig_len: f.u32(pkt::ORIG_LEN),
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

/// [`CaptureEnd`] fields.
mod end {
    use super::Field;
    pub const CAPTURED: Field = 0..8;
    pub const MISSED: Field = 8..16;
    pub const LEN: usize = 16;
}

impl CaptureEnd {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut f = Fixed::<{ end::LEN }>::zeroed();
        f.set_u64(end::CAPTURED, self.captured);
        f.set_u64(end::MISSED, self.missed);
        f.emit(out);
    }

    pub(super) fn parse(b: &[u8]) -> Result<CaptureEnd, ApiError> {
        let (f, rest) = Fixed::<{ end::LEN }>::read(b, "capture end")?;
        if !rest.is_empty() {
            return Err(ApiError::inval("capture end: expected 16 bytes"));
        }
        Ok(CaptureEnd {
            captured: f.u64(end::CAPTURED),
            missed: f.u64(end::MISSED),
        })
    }
}
