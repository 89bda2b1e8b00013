//! Qdiscs: `tc qdisc add|replace|change|del|show dev PORT root tbf ...`.
use super::*;
use crate::datapath::qdisc::QdiscError;

impl Rtnl {
    /// `tc qdisc add|replace|change dev PORT root tbf ...`: checks the parameters as the
    /// config file's `[[qdisc]]` (datapath::qdisc::TbfParams), then publishes them to the
    /// workers, which carry the packets waiting over to the new bucket at their next poll
    /// round (a replaced tbf starts with a full bucket, as Linux's `tbf_change`).
    pub(super) fn qdisc_new(&mut self, change: Change, q: &QdiscMsg) -> Result<(), ApiError> {
        let i = self.port_index(q.ifindex)?;
        match q.kind.as_deref() {
            Some("tbf") => {}
            Some(k) => {
                return Err(ApiError::new(
                    errno::EOPNOTSUPP,
                    format!("qdisc kind {k:?} is not supported (tbf only)"),
                ))
            }
            None => return Err(ApiError::inval("missing qdisc kind (TCA_KIND)")),
        }
        let tbf = q
            .tbf
            .ok_or_else(|| ApiError::inval("tbf needs rate, burst, and latency or limit"))?;
        let limit = match (tbf.latency_us, tbf.limit) {
            (0, 0) => return Err(ApiError::inval("tbf needs latency or limit")),
            (us, 0) => Limit::LatencyUs(u64::from(us)),
            (0, bytes) => Limit::Bytes(u64::from(bytes)),
            _ => {
                return Err(ApiError::inval(
                    "tbf takes latency or limit, not both (as tc)",
                ))
            }
        };
        let port = &self.ports[i];
        let max_frame = u32::from(port.mtu) + ETH_HLEN as u32;
        let params = TbfParams::new(
            tbf.rate.saturating_mul(8),
            u64::from(tbf.burst),
            limit,
            max_frame,
        )
        .map_err(|e| ApiError::inval(format!("tbf {e}")))?;
        let id = port.id;
        let exists = self.qdiscs.contains_key(&id);
        if exists && change.if_exists == IfExists::Refuse {
            return Err(ApiError::new(errno::EEXIST, "a qdisc is already installed"));
        }
        if !exists && !change.create {
            return Err(ApiError::new(errno::ENOENT, "no qdisc to change"));
        }
        self.shared
            .set_qdisc(id, Some(params))
            .map_err(qdisc_error)?;
        self.qdiscs.insert(id, params);
        Ok(())
    }

    /// `tc qdisc del dev PORT root`: the packets waiting go out unshaped.
    pub(super) fn qdisc_del(&mut self, q: &QdiscMsg) -> Result<(), ApiError> {
        let i = self.port_index(q.ifindex)?;
        let id = self.ports[i].id;
        if !self.qdiscs.contains_key(&id) {
            return Err(ApiError::new(errno::ENOENT, "no qdisc installed"));
        }
        self.shared.set_qdisc(id, None).map_err(qdisc_error)?;
        self.qdiscs.remove(&id);
        Ok(())
    }

    pub(super) fn qdisc_dump(&self, filter: &QdiscMsg, seq: u32, out: &mut Vec<Message>) {
        for (&id, p) in &self.qdiscs {
            if filter.ifindex != 0 && filter.ifindex != ifindex(id) {
                continue;
            }
            out.push(Message::new(
                RTM_NEWQDISC,
                NLM_F_MULTI,
                seq,
                Body::Qdisc(QdiscMsg {
                    ifindex: ifindex(id),
                    handle: 0x8001_0000,
                    parent: TC_H_ROOT,
                    kind: Some("tbf".into()),
                    tbf: Some(tbf_spec(p)),
                }),
            ));
        }
        out.push(Message::done(seq));
    }
}

/// How a dump shows installed tbf parameters: the limit in force, and the latency it
/// was derived from if it was given that way.
pub fn tbf_spec(p: &TbfParams) -> TbfSpec {
    TbfSpec {
        rate: p.rate / 8,
        burst: p.burst,
        latency_us: p
            .latency_us
            .map_or(0, |us| u32::try_from(us).unwrap_or(u32::MAX)),
        limit: p.limit,
    }
}

/// The request that installs `p` as given: its latency, or its limit if given so.
pub fn tbf_request(p: &TbfParams) -> TbfSpec {
    let dump = tbf_spec(p);
    TbfSpec {
        limit: if dump.latency_us == 0 { p.limit } else { 0 },
        ..dump
    }
}

/// The API's error for a qdisc the datapath refused (the message is the datapath's).
fn qdisc_error(e: QdiscError) -> ApiError {
    match e {
        QdiscError::PortOutOfRange { .. } => ApiError::new(errno::EINVAL, e.to_string()),
    }
}
