#include <signal.h>
#include <time.h>
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lpm.h>
#include "shim.h"

int ferroute_rte_errno(void) { return rte_errno; }
uint64_t ferroute_rx_offload_ipv4_cksum(void) { return RTE_ETH_RX_OFFLOAD_IPV4_CKSUM; }
uint64_t ferroute_rss_ip_udp_tcp(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP; }

uint64_t ferroute_thread_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ferroute_rt_signals_ignore(void)
{
	int n = 0;
	for (int sig = SIGRTMIN + 1; sig < SIGRTMAX; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) != 0)
			return -1;
		if (sa.sa_handler != SIG_DFL)
			continue;
		sa = (struct sigaction){ .sa_handler = SIG_IGN };
		if (sigaction(sig, &sa, NULL) != 0)
			return -1;
		n++;
	}
	return n;
}

void ferroute_lpm_lookup_each(const struct rte_lpm *lpm, const uint32_t *ips, uint32_t n,
			      uint32_t *out, uint32_t miss)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t nh;
		out[i] = rte_lpm_lookup(lpm, ips[i], &nh) == 0 ? nh : miss;
	}
}

uint32_t ferroute_lpm_lookup_chain(const struct rte_lpm *lpm, const uint32_t *ips,
				   uint32_t n, uint32_t mask, uint32_t miss)
{
	uint32_t prev = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t nh;
		prev = rte_lpm_lookup(lpm, ips[i] ^ (prev & mask), &nh) == 0 ? nh : miss;
	}
	return prev;
}

void ferroute_lpm_lookupx4_each(const struct rte_lpm *lpm, const uint32_t *ips, uint32_t n,
				uint32_t *out, uint32_t miss)
{
	for (uint32_t i = 0; i + 4 <= n; i += 4) {
		xmm_t v = _mm_loadu_si128((const __m128i *)(ips + i));
		rte_lpm_lookupx4(lpm, v, out + i, miss);
	}
}
