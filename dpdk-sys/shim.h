/* Things bindgen cannot reach: macros and thread-local variables. */
#ifndef FERROUTE_SHIM_H
#define FERROUTE_SHIM_H
#include <stdint.h>
struct rte_mbuf;

/* rte_errno is a per-lcore TLS variable behind a macro. */
int ferroute_rte_errno(void);
/* RTE_MBUF_F_RX_IP_CKSUM_* are macros over 64-bit shifts that bindgen drops. */
uint64_t ferroute_rx_ip_cksum_mask(void);
uint64_t ferroute_rx_ip_cksum_good(void);
uint64_t ferroute_rx_ip_cksum_bad(void);
/* rte_version() returns a static string; wrapped here for a stable signature. */
const char *ferroute_dpdk_version(void);
#endif
