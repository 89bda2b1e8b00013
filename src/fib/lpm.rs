//! TEMPORARY stand-in (per-length hash maps) until the real structure lands.
use std::collections::HashMap;
pub type NhId = u32;
pub struct Lpm {
    by_len: Vec<HashMap<u32, NhId>>,
    n: usize,
}
impl Lpm {
    pub fn build<I: IntoIterator<Item = (u32, u8, NhId)>>(routes: I) -> Lpm {
        let mut by_len = vec![HashMap::new(); 33];
        for (a, l, v) in routes {
            by_len[l as usize].insert(a, v);
        }
        let n = by_len.iter().map(|m| m.len()).sum();
        Lpm { by_len, n }
    }
    pub fn lookup(&self, addr: u32) -> Option<NhId> {
        (0..=32usize).rev().find_map(|l| {
            let m = if l == 0 { 0 } else { u32::MAX << (32 - l) };
            self.by_len[l].get(&(addr & m)).copied()
        })
    }
    pub fn lookup_burst(&self, addrs: &[u32], out: &mut [Option<NhId>]) {
        for (a, o) in addrs.iter().zip(out) {
            *o = self.lookup(*a);
        }
    }
    pub fn memory_bytes(&self) -> usize {
        0
    }
    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}
