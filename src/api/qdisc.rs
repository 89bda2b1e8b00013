//! Queueing disciplines: `tcmsg` + TCA_* attributes (tbf options as plain attributes).
use super::attr::*;
use super::*;

// Qdisc attributes; TCA_OPTIONS nests the TBF_* ones.
pub const TCA_KIND: u16 = 1;
pub const TCA_OPTIONS: u16 = 2;
pub const TBF_RATE: u16 = 1;
pub const TBF_BURST: u16 = 2;
pub const TBF_LATENCY: u16 = 3;
pub const TBF_LIMIT: u16 = 4;
/// `tcmsg.parent` of a root qdisc.
pub const TC_H_ROOT: u32 = 0xffff_ffff;

/// Token bucket filter parameters as they travel (TCA_OPTIONS of a `tbf` qdisc). A
/// request gives `latency_us` or `limit` (the other 0), as tc's command line does; a
/// dump answers with the limit in force and the latency it came from, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TbfSpec {
    /// Bytes per second.
    pub rate: u64,
    /// Bucket depth in bytes.
    pub burst: u32,
    /// Longest a packet may wait in the queue, in microseconds (0: not given); the
    /// limit is derived from it as tc does.
    pub latency_us: u32,
    /// Bytes that may wait for tokens (0: not given).
    pub limit: u32,
}

/// A queueing discipline (`tcmsg` + TCA_KIND, TCA_OPTIONS).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QdiscMsg {
    pub ifindex: u32,
    pub handle: u32,
    pub parent: u32,
    pub kind: Option<String>,
    pub tbf: Option<TbfSpec>,
}

/// `tcmsg` fields (linux/rtnetlink.h); `tcm_info` at 16..20 is always 0.
pub(super) mod tcm {
    use super::Field;
    pub const FAMILY: usize = 0;
    pub const IFINDEX: Field = 4..8;
    pub const HANDLE: Field = 8..12;
    pub const PARENT: Field = 12..16;
    pub const LEN: usize = 20;
}

const _: () = assert!(tcm::PARENT.end < tcm::LEN);

impl QdiscMsg {
    pub(super) fn emit(&self, out: &mut Vec<u8>) {
        let mut f = Fixed::<{ tcm::LEN }>::zeroed();
        f.set_u8(tcm::FAMILY, Family::Unspec.into());
        f.set_u32(tcm::IFINDEX, self.ifindex);
        f.set_u32(tcm::HANDLE, self.handle);
        f.set_u32(tcm::PARENT, self.parent);
        f.emit(out);
        let mut a = Attrs(out);
        if let Some(k) = &self.kind {
            a.str(TCA_KIND, k);
        }
        if let Some(t) = self.tbf {
            let mut nested = Vec::new();
            let mut n = Attrs(&mut nested);
            n.put(TBF_RATE, &t.rate.to_le_bytes());
            n.u32(TBF_BURST, t.burst);
            if t.latency_us != 0 {
                n.u32(TBF_LATENCY, t.latency_us);
            }
            if t.limit != 0 {
                n.u32(TBF_LIMIT, t.limit);
            }
            a.put(TCA_OPTIONS, &nested);
        }
    }

    pub(super) fn parse(b: &[u8]) -> Result<QdiscMsg, ApiError> {
        let (f, rest) = Fixed::<{ tcm::LEN }>::read(b, "tcmsg")?;
        let mut m = QdiscMsg {
            ifindex: f.u32(tcm::IFINDEX),
            handle: f.u32(tcm::HANDLE),
            parent: f.u32(tcm::PARENT),
            ..QdiscMsg::default()
        };
        for (k, v) in attrs(rest)? {
            match k {
                TCA_KIND => m.kind = Some(a_str(k, v)?),
                TCA_OPTIONS => {
                    let (mut rate, mut burst, mut latency, mut limit) = (None, None, 0, 0);
                    for (k, v) in attrs(v)? {
                        match k {
                            TBF_RATE => rate = Some(a_u64(k, v)?),
                            TBF_BURST => burst = Some(a_u32(k, v)?),
                            TBF_LATENCY => latency = a_u32(k, v)?,
                            TBF_LIMIT => limit = a_u32(k, v)?,
                            _ => return Err(unknown_attr("tbf option", k)),
                        }
                    }
                    match (rate, burst) {
                        (Some(rate), Some(burst)) if latency != 0 || limit != 0 => {
                            m.tbf = Some(TbfSpec {
                                rate,
                                burst,
                                latency_us: latency,
                                limit,
                            })
                        }
                        _ => {
                            return Err(ApiError::inval(
                                "tbf options need rate, burst, and latency or limit",
                            ))
                        }
                    }
                }
                _ => return Err(unknown_attr("qdisc", k)),
            }
        }
        Ok(m)
    }
}
