//! A reader that steers the group a tracer names for its reads (tests/common/forgery.rs),
//! against the tracepoint backend on this host; tests/vm_e2e.rs runs the same with every
//! backend on Debian's kernels.

use crate::common::{forgery::forged_group, forgery::reused_group_address, require_root};

#[test]
fn a_decoy_dup2ed_over_a_blocked_read_is_not_named() {
    let _alone = crate::alone(module_path!());
    require_root();
    forged_group("tracepoint", "dup2");
}

#[test]
fn a_registered_ring_index_naming_a_decoy_is_not_named() {
    let _alone = crate::alone(module_path!());
    require_root();
    forged_group("tracepoint", "uring");
}

#[test]
fn a_group_address_reused_gets_none_of_the_old_groups_paths() {
    let _alone = crate::alone(module_path!());
    require_root();
    reused_group_address("tracepoint");
}
