#include <rte_config.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include "shim.h"

int ferroute_rte_errno(void) { return rte_errno; }
uint64_t ferroute_rx_offload_ipv4_cksum(void) { return RTE_ETH_RX_OFFLOAD_IPV4_CKSUM; }
