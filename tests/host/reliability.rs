//! Reliability of the tracepoint backend on this host (tests/common/reliability.rs):
//! faults, a burst while the tool is stopped, and a short soak. Needs root. The tests run one at a time: they
//! count what the whole machine's tables hold.

use std::sync::Mutex;

use crate::common::reliability::*;
use crate::common::require_root;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

macro_rules! host_tests {
    ($($name:ident => $body:expr;)+) => {
        $(
            #[test]
            fn $name() {
                let _alone = crate::alone(module_path!());
                let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
                require_root();
                $body("tracepoint");
            }
        )+
    };
}

host_tests! {
    permission_interrupted => fanotify_permission_interrupted;
    tracer_killed => tracer_killed_with_events_queued;
    closed_unread => closed_with_unread_events;
    queue_overflow => queue_overflow_is_a_record;
    dir_deleted => watched_directory_deleted;
    sigkill_restart => sigkill_then_restart;
    instances_two => two_instances;
    head_pipe => piped_into_head;
    signals => signals_stop_cleanly;
    burst_stalled => |b| burst(b, BurstSize::exactly(200_000), Pace::Stalled);
    soak_short => |b| soak(b, std::env::var("FSG_SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(20));
}
