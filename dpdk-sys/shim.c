#include <rte_config.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_version.h>
#include "shim.h"

int ferroute_rte_errno(void) { return rte_errno; }
uint64_t ferroute_rx_ip_cksum_mask(void) { return RTE_MBUF_F_RX_IP_CKSUM_MASK; }
uint64_t ferroute_rx_ip_cksum_good(void) { return RTE_MBUF_F_RX_IP_CKSUM_GOOD; }
uint64_t ferroute_rx_ip_cksum_bad(void) { return RTE_MBUF_F_RX_IP_CKSUM_BAD; }
const char *ferroute_dpdk_version(void) { return rte_version(); }
