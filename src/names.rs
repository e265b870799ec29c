//! User and group names for uids and gids, looked up once each.

use std::collections::HashMap;
use std::sync::Arc;

use nix::unistd::{Gid, Group, Uid, User};

use crate::model::Proc;

#[derive(Default)]
pub struct Names {
    users: HashMap<u32, Option<Arc<str>>>,
    groups: HashMap<u32, Option<Arc<str>>>,
}

impl Names {
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

    /// Fills `user` and `group` from `uid` and `gid`.
    pub fn enrich(&mut self, p: &mut Proc) {
        p.user = self.user(p.uid);
        p.group = self.group(p.gid);
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
