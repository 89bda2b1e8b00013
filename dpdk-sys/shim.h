/* What bindgen cannot reach: thread-local variables behind macros, and RTE_BIT64() macros. */
#ifndef FERROUTE_SHIM_H
#define FERROUTE_SHIM_H
#include <stdint.h>

/* rte_errno is a per-lcore TLS variable behind a macro. */
int ferroute_rte_errno(void);
/* RTE_ETH_RX_OFFLOAD_IPV4_CKSUM is RTE_BIT64(1), a macro bindgen does not evaluate. */
uint64_t ferroute_rx_offload_ipv4_cksum(void);
#endif
