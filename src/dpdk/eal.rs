//! EAL start and stop, lcores, TSC.
use super::DpdkError;
use std::ffi::{c_int, c_void, CStr, CString};

/// Marker: the EAL is initialised; dropping it runs `rte_eal_cleanup`. Create once.
pub struct Eal {
    _private: (),
}

/// Launch target for lcores when the caller does not care which one.
pub const MAIN_LCORE_ANY: u32 = u32::MAX;

impl Eal {
    /// `rte_eal_init` with `args` (without argv[0]). DPDK allows this once per process.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        let mut owned: Vec<CString> = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("ferroute").expect("static string has no NUL"));
        for a in args {
            owned
                .push(CString::new(a.as_str()).map_err(|_| {
                    DpdkError::new(format!("EAL argument {a:?} contains NUL"), -22)
                })?);
        }
        let mut argv: Vec<*mut std::ffi::c_char> =
            owned.iter().map(|c| c.as_ptr() as *mut _).collect();
        // net_tap's RX trigger: the kernel queues one real-time signal per packet a tap
        // receives (F_SETSIG + O_ASYNC on every queue's fd), up to RLIMIT_SIGPENDING
        // (~96k here), and they land on the control thread. Under a flood it did nothing
        // but take signals, for seconds to minutes after the flood had stopped. The
        // workers busy-poll anyway, so the taps are left no free real-time signal (ports
        // are probed in rte_eal_init, their queues set up later) and poll instead: "No
        // Rx trigger signal available" in the log. For the life of the process.
        // SAFETY: changes only the dispositions of signals nothing in the process has
        // taken (SIG_DFL ones), before any thread of ours or DPDK's exists.
        if unsafe { dpdk_sys::ferroute_rt_signals_ignore() } < 0 {
            return Err(DpdkError::new(
                "sigaction(SIGRTMIN+1..SIGRTMAX-1, SIG_IGN)",
                -22,
            ));
        }
        // SAFETY: argv points at NUL-terminated strings that outlive the call; DPDK may
        // permute argv but does not write into the strings or keep the array.
        let ret = unsafe { dpdk_sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::new("rte_eal_init", ret));
        }
        Ok(Eal { _private: () })
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: called once, after all lcores have been waited for (the owner drops the
        // Eal last); releases hugepage/memory and devices.
        unsafe {
            dpdk_sys::rte_eal_cleanup();
        }
    }
}

/// TSC cycles per second, as measured by the EAL.
pub fn tsc_hz() -> u64 {
    // SAFETY: pure read of a value the EAL computed at init.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}

/// Current TSC value.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC reads the time-stamp counter and has no memory effects. Called
    // directly rather than through DPDK's `rte_rdtsc`, a static inline that bindgen can
    // only reach through an out-of-line wrapper (a call per read on the worker loop).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: as above, through DPDK's portable wrapper.
    unsafe {
        dpdk_sys::rte_rdtsc()
    }
}

/// CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`, nanosecond resolution), or
/// None if the clock fails. Needs no EAL.
pub fn thread_cpu_time() -> Option<std::time::Duration> {
    // SAFETY: calls clock_gettime with a stack timespec inside the shim; no preconditions.
    let ns = unsafe { dpdk_sys::ferroute_thread_cpu_ns() };
    (ns != 0).then(|| std::time::Duration::from_nanos(ns))
}

/// This thread's lcore id (u32::MAX for threads the EAL does not know).
pub fn lcore_id() -> u32 {
    // SAFETY: reads a thread-local set by the EAL.
    unsafe { dpdk_sys::rte_lcore_id() }
}

/// The DPDK version string, e.g. "DPDK 22.11.11".
pub fn dpdk_version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(dpdk_sys::rte_version()) }
        .to_string_lossy()
        .into_owned()
}

type LaunchFn = Box<dyn FnOnce() -> i32 + Send + 'static>;

extern "C" fn lcore_trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<LaunchFn> leaked by launch_on_lcore, handed to exactly one
    // lcore and reclaimed here exactly once.
    let f: Box<LaunchFn> = unsafe { Box::from_raw(arg as *mut LaunchFn) };
    f()
}

/// Runs `f` on worker lcore `lcore` (`rte_eal_remote_launch`).
pub fn launch_on_lcore<F>(lcore: u32, f: F) -> Result<(), DpdkError>
where
    F: FnOnce() -> i32 + Send + 'static,
{
    let boxed: Box<LaunchFn> = Box::new(Box::new(f));
    let arg = Box::into_raw(boxed) as *mut c_void;
    // SAFETY: the trampoline matches lcore_function_t; `arg` stays valid until the
    // trampoline reclaims it. On failure the lcore never runs it and we reclaim it below.
    let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(lcore_trampoline), arg, lcore) };
    if ret != 0 {
        // SAFETY: the launch failed, so nobody else owns `arg`.
        drop(unsafe { Box::from_raw(arg as *mut LaunchFn) });
        return Err(DpdkError::new(format!("launch on lcore {lcore}"), ret));
    }
    Ok(())
}

/// Waits for every worker lcore to return (`rte_eal_mp_wait_lcore`).
pub fn wait_lcores() {
    // SAFETY: blocks until launched lcore functions return; no preconditions.
    unsafe { dpdk_sys::rte_eal_mp_wait_lcore() }
}

/// One port's device for the EAL command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortDevice<'a> {
    /// A virtual device's devargs (`net_tap0,iface=ftap0`): `--vdev=...`.
    Vdev(&'a str),
    /// A PCI device bound to a userspace I/O driver (`0000:03:00.0`): `-a ...`.
    Pci(&'a str),
}

/// The EAL arguments for `base` (`[eal] args`) and the ports' devices: `--vdev=` for each
/// virtual device; with any PCI port, `--no-pci` is dropped from `base` and each PCI
/// device is allowed with `-a` (the EAL then probes those and no other).
pub fn eal_args(base: &[String], ports: &[PortDevice]) -> Vec<String> {
    let pci = ports.iter().any(|p| matches!(p, PortDevice::Pci(_)));
    let mut args: Vec<String> = base
        .iter()
        .filter(|a| !(pci && a.as_str() == "--no-pci"))
        .cloned()
        .collect();
    for p in ports {
        match p {
            PortDevice::Vdev(d) => args.push(format!("--vdev={d}")),
            PortDevice::Pci(addr) => args.extend(["-a".to_string(), addr.to_string()]),
        }
    }
    args
}

/// Why a PCI device cannot be a port: its address or its kernel driver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PciError {
    /// Not in DPDK's full form `DDDD:BB:DD.F`.
    #[error("{0:?} is not a PCI address DDDD:BB:DD.F (e.g. \"0000:03:00.0\")")]
    Address(String),
    /// No such device in sysfs (`path` is where it was looked for).
    #[error("PCI device {addr}: no such device ({})", path.display())]
    NoDevice {
        addr: String,
        path: std::path::PathBuf,
    },
    /// Bound to a kernel driver that is not a userspace I/O one.
    #[error(
        "PCI device {addr} is bound to {driver}, not to vfio-pci or uio_pci_generic: \
         bind it with `dpdk-devbind.py --bind=vfio-pci {addr}`"
    )]
    KernelDriver { addr: String, driver: String },
    /// Bound to no driver at all.
    #[error(
        "PCI device {addr} has no driver: bind it with `dpdk-devbind.py --bind=vfio-pci {addr}`"
    )]
    NoDriver { addr: String },
}

/// The config layer reports a refused value as its message text.
impl From<PciError> for String {
    fn from(e: PciError) -> String {
        e.to_string()
    }
}

/// A PCI address in DPDK's full form, `DDDD:BB:DD.F` (hex), as sysfs names devices.
pub fn check_pci_address(a: &str) -> Result<&str, PciError> {
    let b = a.as_bytes();
    let hex = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_hexdigit);
    let ok = b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && hex(0..4)
        && hex(5..7)
        && hex(8..10)
        && (b'0'..=b'7').contains(&b[11]);
    if ok {
        Ok(a)
    } else {
        Err(PciError::Address(a.to_string()))
    }
}

/// Kernel drivers a PCI NIC may be bound to for DPDK's PCI PMDs.
pub const USERSPACE_DRIVERS: &[&str] = &["vfio-pci", "uio_pci_generic", "igb_uio"];

/// Whether PCI device `addr` is bound to a userspace I/O driver, from sysfs (`sysfs` is
/// `/sys` but for tests). The error names the device and the driver it has.
pub fn check_pci_driver(sysfs: &std::path::Path, addr: &str) -> Result<(), PciError> {
    let dev = sysfs.join("bus/pci/devices").join(addr);
    if !dev.exists() {
        return Err(PciError::NoDevice {
            addr: addr.to_string(),
            path: dev,
        });
    }
    let driver = std::fs::read_link(dev.join("driver"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let addr = addr.to_string();
    match driver {
        Some(d) if USERSPACE_DRIVERS.contains(&d.as_str()) => Ok(()),
        Some(driver) => Err(PciError::KernelDriver { addr, driver }),
        None => Err(PciError::NoDriver { addr }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn vdevs_only_keep_no_pci() {
        let base = strings(&["-l", "0,1", "--no-pci"]);
        let a = eal_args(&base, &[PortDevice::Vdev("net_tap0,iface=t0")]);
        assert_eq!(
            a,
            strings(&["-l", "0,1", "--no-pci", "--vdev=net_tap0,iface=t0"])
        );
    }

    #[test]
    fn a_pci_port_allows_pci_and_only_its_devices() {
        let base = strings(&["-l", "0,1", "--no-pci", "--file-prefix", "x"]);
        let a = eal_args(
            &base,
            &[
                PortDevice::Pci("0000:03:00.0"),
                PortDevice::Vdev("net_tap1"),
                PortDevice::Pci("0000:03:00.1"),
            ],
        );
        assert_eq!(
            a,
            strings(&[
                "-l",
                "0,1",
                "--file-prefix",
                "x",
                "-a",
                "0000:03:00.0",
                "--vdev=net_tap1",
                "-a",
                "0000:03:00.1"
            ])
        );
    }

    #[test]
    fn pci_addresses() {
        assert_eq!(check_pci_address("0000:03:00.0"), Ok("0000:03:00.0"));
        assert_eq!(check_pci_address("0000:af:1f.7"), Ok("0000:af:1f.7"));
        for bad in [
            "03:00.0",
            "0000:03:00.8",
            "0000-03:00.0",
            "0000:03:00.0 ",
            "zzzz:03:00.0",
        ] {
            let e = check_pci_address(bad).unwrap_err().to_string();
            assert!(e.contains("is not a PCI address"), "{bad}: {e}");
        }
    }

    #[test]
    fn pci_driver_checked_in_sysfs() {
        let root = std::env::temp_dir().join(format!("ferroute-sysfs-{}", std::process::id()));
        let devs = root.join("bus/pci/devices");
        let drivers = root.join("bus/pci/drivers");
        for (addr, drv) in [
            ("0000:03:00.0", Some("vfio-pci")),
            ("0000:03:00.1", Some("ixgbe")),
            ("0000:03:00.2", None),
        ] {
            std::fs::create_dir_all(devs.join(addr)).unwrap();
            if let Some(d) = drv {
                std::fs::create_dir_all(drivers.join(d)).unwrap();
                let _ = std::os::unix::fs::symlink(drivers.join(d), devs.join(addr).join("driver"));
            }
        }
        assert_eq!(check_pci_driver(&root, "0000:03:00.0"), Ok(()));
        let e = check_pci_driver(&root, "0000:03:00.1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("0000:03:00.1 is bound to ixgbe"), "{e}");
        let e = check_pci_driver(&root, "0000:03:00.2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("0000:03:00.2 has no driver"), "{e}");
        let e = check_pci_driver(&root, "0000:09:00.0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("0000:09:00.0: no such device"), "{e}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
