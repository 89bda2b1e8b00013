//! Config tests: `[[worker]]` and the EAL core list.

use super::*;

fn workers(w: &str) -> String {
    format!("{PORTS}{w}")
}

#[test]
fn rx_rings_leave_room_in_the_pool() {
    // n workers on lcores 1..=n, worker i polling queue i of both ports.
    let layout = |n: u16, dp: &str| {
        let mut t = format!("{PORTS}[eal]\nargs = [\"-l\", \"0-{n}\"]\n[datapath]\n{dp}\n");
        for i in 0..n {
            t += &format!(
                "[[worker]]\nlcore = {}\nrx = [\"port0:{i}\", \"port1:{i}\"]\n",
                i + 1
            );
        }
        t
    };
    // Defaults: 8191 mbufs, 1024 descriptors, bursts of 32.
    ok(&layout(2, ""));
    ok(&layout(3, ""));
    let e = fail(
        &layout(4, ""),
        "datapath.mbufs",
        "8191 mbufs are too few for 8 RX queues of 1024 descriptors (datapath.rx_desc), \
         which take 8192 mbufs when the ports start",
    );
    assert!(e.to_string().contains("at least 8448"), "{e}");
    ok(&layout(4, "rx_desc = 512"));
    ok(&layout(4, "mbufs = 16383"));
    // The bound: 14 queues * (512 + 32).
    ok(&layout(7, "rx_desc = 512\nmbufs = 7616"));
    fail(
        &layout(7, "rx_desc = 512\nmbufs = 7615"),
        "datapath.mbufs",
        "at least 7616",
    );
}

#[test]
fn workers_required() {
    fail(PORTS, "worker", "at least one [[worker]]");
}

#[test]
fn worker_lcores_unique() {
    fail(
        &workers("[[worker]]\nlcore = 1\nrx = [\"port0:0\"]\n[[worker]]\nlcore = 1\nrx = [\"port1:0\"]\n"),
        "worker[1].lcore",
        "lcore 1 is already used by worker[0]",
    );
    fail(
        &workers("[[worker]]\nrx = [\"port0:0\"]\n"),
        "worker[0].lcore",
        "required",
    );
    fail(
        &workers("[[worker]]\nlcore = -1\nrx = [\"port0:0\"]\n"),
        "worker[0].lcore",
        "out of range",
    );
}

#[test]
fn worker_lcore_not_main() {
    fail(
        &base().replace("lcore = 1", "lcore = 0"),
        "worker[0].lcore",
        "lcore 0 is the EAL main lcore",
    );
    let args = |a: &str, lcore: u32| {
        with(&format!("[eal]\nargs = {a}\n")).replace("lcore = 1", &format!("lcore = {lcore}"))
    };
    fail(
        &args("[\"-l\", \"2-5\"]", 2),
        "worker[0].lcore",
        "main lcore",
    );
    ok(&args("[\"-l\", \"2-5\"]", 3));
    fail(&args("[\"-l3,1\"]", 1), "worker[0].lcore", "main lcore");
    fail(
        &args("[\"-l\", \"0,1\", \"--main-lcore\", \"1\"]", 1),
        "worker[0].lcore",
        "main lcore",
    );
    ok(&args("[\"-l\", \"0,1\", \"--main-lcore=1\"]", 0));
    // --lcores: lcore ids before '@' (the CPUs they run on may be shared).
    fail(
        &args("[\"--lcores\", \"0@0,1@1,2@1\"]", 0),
        "worker[0].lcore",
        "lcore 0 is the EAL main lcore (eal.args \"--lcores 0@0,1@1,2@1\")",
    );
    ok(&args("[\"--lcores\", \"0@0,1@1,2@1\"]", 2));
    ok(&args(
        "[\"--lcores=(0-2)@(0,1)\", \"--main-lcore\", \"2\"]",
        0,
    ));
    // Forms we do not parse skip the check.
    ok(&args("[\"--lcores\", \"0@1,1@2\", \"-l\", \"0,1\"]", 0));
    ok(&args("[\"-c\", \"0x3\"]", 0));
    ok(&args("[\"-l\", \"0-1;x\"]", 0));
    ok(&args("[\"--no-huge\"]", 0));
}

#[test]
fn worker_lcore_in_eal_core_list() {
    fail(
        &base().replace("lcore = 1", "lcore = 2"),
        "worker[0].lcore",
        "lcore 2 is not in the EAL core list (eal.args \"-l 0,1\")",
    );
    fail(
        &with("[eal]\nargs = [\"--lcores\", \"0@0,2@1\"]\n"),
        "worker[0].lcore",
        "lcore 1 is not in the EAL core list (eal.args \"--lcores 0@0,2@1\")",
    );
}

#[test]
fn eal_core_list_forms() {
    let v = |a: &[&str]| eal_cores(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let c = v(&["--no-huge", "-l", "0,2-4"]).unwrap();
    assert_eq!(
        (c.main, c.cores.into_iter().collect::<Vec<_>>()),
        (0, vec![0, 2, 3, 4])
    );
    assert_eq!(v(&["-l", "0-1"]).unwrap().main, 0);
    assert_eq!(v(&["-l5,3"]).unwrap().main, 3);
    assert_eq!(v(&["-l", "0-3", "--main-lcore", "2"]).unwrap().main, 2);
    assert_eq!(v(&["-l", "3-1"]), None);
    assert_eq!(v(&["-l"]), None);
    assert_eq!(v(&["-l", "(0-1)@0"]), None);
    let lcores = |m: &str| {
        let c = v(&["--lcores", m])?;
        Some((c.main, c.cores.into_iter().collect::<Vec<_>>()))
    };
    assert_eq!(lcores("0@0,1@1,2@1"), Some((0, vec![0, 1, 2])));
    assert_eq!(lcores("1-3"), Some((1, vec![1, 2, 3])));
    assert_eq!(
        lcores("(0-2)@0, 5@(0,1), (7,9)"),
        Some((0, vec![0, 1, 2, 5, 7, 9]))
    );
    assert_eq!(lcores("4@1-2,3"), Some((3, vec![3, 4])));
    assert_eq!(
        v(&["--lcores=0@0,2@1", "--main-lcore=2"]).map(|c| c.main),
        Some(2)
    );
    for bad in ["", "0@", "(0-1", "0@(1", "a@0", "0,,1", "0@0,", "0@0@1"] {
        assert_eq!(lcores(bad), None, "{bad:?}");
    }
    // Both -l and --lcores: the EAL refuses that itself.
    assert_eq!(v(&["-l", "0,1", "--lcores", "0@0,1@1"]), None);
    assert_eq!(v(&["--log-level", "lib.eal:notice"]), None);
}

#[test]
fn worker_rx_entries() {
    let rx = |list: &str| base().replace("[\"port0:0\", \"port1:0\"]", list);
    fail(
        &rx("[\"port0:0\", \"port9:0\"]"),
        "worker[0].rx[1]",
        "unknown port \"port9\"",
    );
    fail(
        &rx("[\"port0\", \"port1:0\"]"),
        "worker[0].rx[0]",
        "port-name:queue",
    );
    fail(
        &rx("[\"port0:16\", \"port1:0\"]"),
        "worker[0].rx[0]",
        "0..=15",
    );
    fail(
        &rx("[\"port0:x\", \"port1:0\"]"),
        "worker[0].rx[0]",
        "0..=15",
    );
    fail(
        &rx("[\"port0:-1\", \"port1:0\"]"),
        "worker[0].rx[0]",
        "0..=15",
    );
    fail(&rx("[]"), "worker[0].rx", "at least one");
    fail(
        &base().replace("rx = [\"port0:0\", \"port1:0\"]", ""),
        "worker[0].rx",
        "required",
    );
}

#[test]
fn rx_queue_polled_once() {
    fail(
        &workers("[[worker]]\nlcore = 1\nrx = [\"port0:0\", \"port1:0\"]\n[[worker]]\nlcore = 2\nrx = [\"port0:0\"]\n[eal]\nargs = [\"-l\", \"0-2\"]\n"),
        "worker[1].rx[0]",
        "port0:0 is already polled by worker[0]",
    );
    fail(
        &base().replace(
            "[\"port0:0\", \"port1:0\"]",
            "[\"port0:0\", \"port1:0\", \"port0:0\"]",
        ),
        "worker[0].rx[2]",
        "already polled by this worker",
    );
}

#[test]
fn every_port_polled() {
    fail(
        &base().replace(", \"port1:0\"", ""),
        "port[1]",
        "no worker polls this port's RX queues",
    );
}

#[test]
fn rx_queues_contiguous() {
    fail(
        &base().replace("\"port1:0\"", "\"port1:0\", \"port0:2\""),
        "port[0]",
        "RX queue 1 of \"port0\" is polled by no worker although queue 2 is",
    );
    fail(
        &base().replace("\"port1:0\"", "\"port1:1\""),
        "port[1]",
        "RX queue 0",
    );
    let text = format!(
        "[eal]\nargs = [\"-l\", \"0-2\"]\n{}",
        workers("[[worker]]\nlcore = 1\nrx = [\"port0:0\", \"port1:1\"]\n[[worker]]\nlcore = 2\nrx = [\"port1:0\", \"port0:1\"]\n")
    );
    let c = ok(&text);
    assert_eq!((c.rx_queues(0), c.rx_queues(1)), (2, 2));
    assert_eq!(
        c.workers[1].rx,
        [
            RxQueueRef { port: 1, queue: 0 },
            RxQueueRef { port: 0, queue: 1 }
        ]
    );
}

// --- routes ------------------------------------------------------------------------------
