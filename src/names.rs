//! User and group names for uids and gids, looked up once each, cgroup
//! paths for cgroup ids, and the container each side is in.

use std::collections::HashMap;
use std::sync::Arc;

use nix::unistd::{Gid, Group, Uid, User};

use crate::model::Proc;

/// Hashes a kernel id (uid, gid, cgroup id, namespace inode) with one
/// multiplication. Enrichment looks up six ids per record, and SipHash made
/// that a tenth of a JSON record's cost; ids are the kernel's, not chosen to
/// collide, and the tables stay small.
#[derive(Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, id: u32) {
        // Fibonacci hashing: the high bits, which hashbrown uses as tags,
        // depend on every bit of the id.
        self.0 = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A table keyed by kernel ids, hashed by [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub struct Names {
    users: IdMap<u32, Option<Arc<str>>>,
    groups: IdMap<u32, Option<Arc<str>>>,
    cgroups: crate::procfs::cgroups::CgroupPaths,
    containers: crate::containers::Containers,
}

impl Names {
    /// Names whose containers come from these runtime roots (`--runtime-root`).
    pub fn with_containers(containers: crate::containers::Containers) -> Names {
        // Field by field: `..Default::default()` would build a default Containers only to drop it.
        Names { users: IdMap::default(), groups: IdMap::default(), cgroups: Default::default(), containers }
    }

    /// The name is shared, not copied: enrichment hands it to every record.
    pub fn user(&mut self, uid: u32) -> Option<Arc<str>> {
        self.users
            .entry(uid)
            .or_insert_with(|| User::from_uid(Uid::from_raw(uid)).ok().flatten().map(|u| u.name.into()))
            .clone()
    }

    pub fn group(&mut self, gid: u32) -> Option<Arc<str>> {
        self.groups
            .entry(gid)
            .or_insert_with(|| Group::from_gid(Gid::from_raw(gid)).ok().flatten().map(|g| g.name.into()))
            .clone()
    }

    /// Fills `user`, `group`, `cgroup` and `container` from `uid`, `gid`,
    /// `cgroup_id` and `mntns_id`.
    pub fn enrich(&mut self, p: &mut Proc) {
        p.user = self.user(p.uid);
        p.group = self.group(p.gid);
        p.cgroup = self.cgroups.path(p.cgroup_id);
        p.container = self.containers.lookup(p.cgroup_id, p.cgroup.as_deref(), p.mntns_id);
    }

    /// A new batch of records begins: the container cache reads the clock once for it.
    pub fn new_batch(&mut self) {
        self.containers.new_batch();
    }

    /// The container cache, for `list` and the container filters.
    pub fn containers(&mut self) -> &mut crate::containers::Containers {
        &mut self.containers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_name_and_lookups_are_cached() {
        let mut n = Names::default();
        assert_eq!(n.user(0).as_deref(), Some("root"));
        assert_eq!(n.group(0).as_deref(), Some("root"));
        assert_eq!(n.users.len(), 1);
        assert_eq!(n.user(0).as_deref(), Some("root"));
        assert_eq!(n.users.len(), 1);
    }
}
