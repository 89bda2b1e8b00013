//! Named network namespaces as `ip netns` keeps them: a file under /run/netns on which
//! the namespace is bind-mounted. Work inside one runs on a thread of its own that
//! enters it (setns(2) changes only the calling thread); sockets and TAP devices opened
//! there stay in the namespace when used from other threads.
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::io;
use std::path::PathBuf;

/// Where `ip netns` keeps its names.
pub const NETNS_RUN_DIR: &str = "/run/netns";

fn path_of(name: &str) -> PathBuf {
    PathBuf::from(NETNS_RUN_DIR).join(name)
}

fn os(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Opens namespace `name`, creating it as `ip netns add` does when it does not exist.
/// True in the second member if it was created.
pub fn open_or_create(name: &str) -> io::Result<(File, bool)> {
    let path = path_of(name);
    if let Ok(f) = File::open(&path) {
        // An empty file left by a crash between create and mount is not a namespace.
        if setns_check(&f).is_ok() {
            return Ok((f, false));
        }
    }
    std::fs::create_dir_all(NETNS_RUN_DIR)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    let mounted = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(os)?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(os)
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    });
    if let Err(e) = mounted {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok((File::open(&path)?, true))
}

/// Fails unless `f` is a network namespace (entering it on a scratch thread).
fn setns_check(f: &File) -> io::Result<()> {
    run_in(f, || ())
}

/// Runs `work` on a thread inside namespace `ns` and returns its result.
pub fn run_in<T: Send>(ns: &File, work: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(ns, CloneFlags::CLONE_NEWNET).map_err(os)?;
            Ok(work())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

/// Writes a sysctl of the calling thread's namespace (/proc/sys is per namespace).
pub fn sysctl(key: &str, value: &str) -> io::Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}
