/* What bindgen cannot reach: thread-local variables behind macros, and RTE_BIT64() macros. */
#ifndef FERROUTE_SHIM_H
#define FERROUTE_SHIM_H
#include <stdint.h>

/* rte_errno is a per-lcore TLS variable behind a macro. */
int ferroute_rte_errno(void);
/* RTE_ETH_RX_OFFLOAD_IPV4_CKSUM is RTE_BIT64(1), a macro bindgen does not evaluate. */
uint64_t ferroute_rx_offload_ipv4_cksum(void);
/* RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP (RTE_BIT64() macros too): the RSS
 * hash types that spread flows over RX queues by addresses and ports. */
uint64_t ferroute_rss_ip_udp_tcp(void);

/* CPU time of the calling thread in ns (clock_gettime(CLOCK_THREAD_CPUTIME_ID)), 0 on
 * error. For benchmarks on shared machines. */
uint64_t ferroute_thread_cpu_ns(void);

/* net_tap's RX trigger takes the first real-time signal from SIGRTMIN+1 whose handler is
 * SIG_DFL, and has the kernel queue one per received packet; with none free, it polls.
 * Sets every SIG_DFL one of SIGRTMIN+1 .. SIGRTMAX-1 to SIG_IGN; returns how many, -1 on
 * error. */
int ferroute_rt_signals_ignore(void);

/* Loops over rte_lpm's static inline lookups, compiled here so that they are inlined as
 * in a C application (through bindgen's wrappers each lookup would be a call). Used by
 * the FIB benchmark to measure rte_lpm fairly. */
struct rte_lpm;
/* out[i] = next hop of ips[i], or miss. */
void ferroute_lpm_lookup_each(const struct rte_lpm *lpm, const uint32_t *ips, uint32_t n,
			      uint32_t *out, uint32_t miss);
/* Dependent lookups: address i is ips[i] ^ (previous result & mask); returns the last
 * result (miss when not found). */
uint32_t ferroute_lpm_lookup_chain(const struct rte_lpm *lpm, const uint32_t *ips,
				   uint32_t n, uint32_t mask, uint32_t miss);
/* rte_lpm_lookupx4 over ips (n a multiple of 4); misses give miss. */
void ferroute_lpm_lookupx4_each(const struct rte_lpm *lpm, const uint32_t *ips, uint32_t n,
				uint32_t *out, uint32_t miss);
#endif
