//! What `top` shows, computed from records alone: pure code, no kernel, no
//! clock (the caller says how long each interval lasted).
//!
//! Every record is counted twice, in the current interval and in the whole
//! run. [`Aggregate::summary`] turns either into sorted, limited rows:
//! - tracers (pid, comm, kind): events, events/s, queue overflows (records
//!   whose mask has `IN_Q_OVERFLOW` or `FAN_Q_OVERFLOW`);
//! - tracee → tracer pairs, one row per mask: events, events/s (an
//!   interval shows the pairs active in it; tracers and daemons stay from
//!   their first record on, at 0/s when quiet);
//! - permission daemons (the tracers of `fa_resp` records): requests,
//!   requests/s, answer latency p50 / p99 / max, allow / deny / interrupted.
//!
//! `fa_resp` records count as requests of their daemon only, not as events:
//! the request itself is a `fanotify` record and is counted there.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::quantile::Histogram;
use crate::backend::Lost;
use crate::model::{Comm, EventType, FaResponse, Proc, Record};

/// `IN_Q_OVERFLOW`: the inotify queue was full and events were dropped.
pub const IN_Q_OVERFLOW: u32 = 0x4000;
/// `FAN_Q_OVERFLOW`: the fanotify queue was full and events were dropped.
pub const FAN_Q_OVERFLOW: u64 = 0x4000;

/// inotify or fanotify: the kind of the tracer's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Inotify,
    Fanotify,
}

impl Kind {
    pub fn of(t: EventType) -> Kind {
        match t {
            EventType::Inotify => Kind::Inotify,
            EventType::Fanotify | EventType::FaResp => Kind::Fanotify,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Inotify => "inotify",
            Kind::Fanotify => "fanotify",
        }
    }
}

/// A process as top groups by it: pid and comm (pid 0 and an empty comm when
/// the record does not name it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Who {
    pub pid: u32,
    pub comm: Comm,
}

impl Who {
    fn of(p: Option<&Proc>) -> Who {
        p.map(|p| Who { pid: p.pid, comm: p.comm }).unwrap_or_default()
    }
}

/// The key of a tracee → tracer row: both processes, the kind, the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PairKey {
    pub tracee: Who,
    pub tracer: Who,
    pub kind: Kind,
    /// `i_mask` or `fa_mask` as the kernel gave it (0 when unknown).
    pub mask: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct TracerCounts {
    events: u64,
    overflows: u64,
    /// Its records lost to a full ring buffer.
    lost: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct PermCounts {
    allow: u64,
    deny: u64,
    interrupted: u64,
    /// Queueing to answer, ns, of every answer with a latency.
    latency: Histogram,
    requests: u64,
}

/// The counts of one span of time: an interval, or the whole run.
#[derive(Debug, Clone, Default)]
struct Window {
    records: u64,
    tracers: HashMap<(Who, Kind), TracerCounts>,
    pairs: HashMap<PairKey, u64>,
    perm: HashMap<Who, PermCounts>,
}

impl Window {
    fn add(&mut self, r: &Record) {
        self.records += 1;
        let tracer = Who::of(r.tracer.as_ref());
        let kind = Kind::of(r.event_type);
        if r.event_type == EventType::FaResp {
            let p = self.perm.entry(tracer).or_default();
            p.requests += 1;
            match r.fa_response {
                FaResponse::Allow => p.allow += 1,
                FaResponse::Deny => p.deny += 1,
                FaResponse::Interrupted => p.interrupted += 1,
                FaResponse::Na => {}
            }
            if let Some(ns) = r.latency_ns {
                p.latency.record(ns);
            }
            return;
        }
        let mask = match r.event_type {
            EventType::Inotify => r.i_mask.map(u64::from),
            _ => r.fa_mask,
        }
        .unwrap_or(0);
        let overflow = match r.event_type {
            EventType::Inotify => mask & u64::from(IN_Q_OVERFLOW) != 0,
            _ => mask & FAN_Q_OVERFLOW != 0,
        };
        let t = self.tracers.entry((tracer, kind)).or_default();
        t.events += 1;
        t.overflows += u64::from(overflow);
        let key = PairKey { tracee: Who::of(r.tracee.as_ref()), tracer, kind, mask };
        *self.pairs.entry(key).or_default() += 1;
    }
}

/// How rows are ordered (`--sort`). Every order ends with pid, then comm,
/// so that equal rows keep one order from interval to interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Most events (or requests) per second in the span first.
    #[default]
    Rate,
    /// Most events (or requests) since the start first.
    Total,
    /// Permission daemons by answer latency p99, slowest first; other rows by rate.
    P99,
    /// Permission daemons by their slowest answer first; other rows by rate.
    Max,
    /// Queue overflows first (tracers); other rows by rate.
    Overflows,
    /// Lowest tracer pid first.
    Pid,
    /// Tracer comm in byte order.
    Comm,
}

/// A process in a row, its comm as JSON takes untrusted bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcCell {
    pub pid: u32,
    pub comm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm_hex: Option<String>,
    /// The exact bytes, for the text views (escaped there).
    #[serde(skip)]
    pub raw: Comm,
    /// Its container's name (its id's first 12 digits when the runtime gave
    /// no name); null on the host.
    pub container: Option<String>,
}

impl ProcCell {
    fn new(w: Who, container: Option<&Arc<str>>) -> ProcCell {
        let (comm, comm_hex) = crate::output::json::untrusted(w.comm.as_bytes());
        ProcCell { pid: w.pid, comm: comm.into_owned(), comm_hex, raw: w.comm, container: container.map(|c| c.to_string()) }
    }
}

/// At most this many processes' containers are remembered (then forgotten all at once).
const MAX_CONTAINERS: usize = 1 << 16;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracerRow {
    pub tracer: ProcCell,
    pub kind: &'static str,
    /// In the span.
    pub events: u64,
    pub events_per_s: f64,
    pub overflows: u64,
    /// Its records lost to a full ring buffer (the kernel counts them by
    /// group; a group is its tracer's from its first record that got through).
    pub lost: u64,
    /// Since the start.
    pub total_events: u64,
    pub total_overflows: u64,
    pub total_lost: u64,
    /// Bytes of events queued on its notify fds of this kind when the span
    /// ended, unread: a tracer falling behind. Filled by `top` itself
    /// ([`crate::procfs::backlog`]); null when it could not be read.
    pub backlog_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairRow {
    pub tracee: ProcCell,
    pub tracer: ProcCell,
    pub kind: &'static str,
    /// The mask by name (`IN_OPEN|FS_EVENT_ON_CHILD`), and as a number.
    pub mask: String,
    pub mask_raw: u64,
    pub events: u64,
    pub events_per_s: f64,
    pub total_events: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermRow {
    pub tracer: ProcCell,
    /// Answers in the span (each ends one request).
    pub requests: u64,
    pub requests_per_s: f64,
    pub total_requests: u64,
    /// Queueing to answer, ns, in the span; null when it had no answer.
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub max_ns: Option<u64>,
    pub allow: u64,
    pub deny: u64,
    pub interrupted: u64,
}

/// Records lost, as JSON shows them: the run's, by cause. Those lost to a
/// full ring buffer are also each tracer's `lost` (the kernel counts them by
/// group); the others name no tracer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LostCounts {
    pub total: u64,
    pub ringbuf: u64,
    pub untracked: u64,
    pub undecodable: u64,
}

impl From<Lost> for LostCounts {
    fn from(l: Lost) -> LostCounts {
        LostCounts {
            total: l.total(),
            ringbuf: l.ringbuf,
            untracked: l.untracked,
            undecodable: l.undecodable,
        }
    }
}

/// Which span a summary covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The last interval.
    Interval,
    /// The whole run, from the start to the stop.
    Total,
}

/// One summary: the rows of each section, sorted and limited, and how many
/// rows the limit left out (`*_more`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub scope: Scope,
    /// The interval's number, from 1; for the total, how many intervals ended.
    pub interval: u64,
    /// How long the span lasted.
    pub seconds: f64,
    /// Records of every type in the span.
    pub records: u64,
    pub lost: LostCounts,
    pub tracers: Vec<TracerRow>,
    pub tracers_more: usize,
    pub pairs: Vec<PairRow>,
    pub pairs_more: usize,
    pub permission: Vec<PermRow>,
    pub permission_more: usize,
    /// Why no tracer's backlog could be read, when none could.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backlog_unknown: Option<&'static str>,
}

/// The interval being counted and the whole run.
#[derive(Debug, Default)]
pub struct Aggregate {
    interval: Window,
    total: Window,
    /// Intervals ended so far.
    intervals: u64,
    /// The loss counts at the start of the current interval, and now.
    lost_before: Lost,
    lost_now: Lost,
    /// The container of each process seen in one, as its latest record named it.
    containers: HashMap<Who, Arc<str>>,
    /// The tracer row of each `fsnotify_group` seen in a record, to tie the
    /// kernel's losses by group to a tracer.
    owners: HashMap<u64, (Who, Kind)>,
    /// Losses of groups no record has named yet (every record of theirs lost so far).
    unowned_lost: HashMap<u64, u64>,
}

/// At most this many groups are remembered (each map is emptied past it).
const MAX_GROUPS: usize = 4096;

fn per_s(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

/// Sorts by `primary` (larger first), then tracer pid, then comm (by comm
/// first for [`SortKey::Comm`]); keeps `max_rows`; returns the rows and how
/// many were left out. The sort is stable: rows equal in all of these keep
/// the order they came in.
fn sort_limit<T>(mut rows: Vec<(Who, T)>, sort: SortKey, primary: impl Fn(&T) -> (u64, u64), max_rows: usize) -> (Vec<T>, usize) {
    rows.sort_by(|(wa, a), (wb, b)| {
        let by_comm = if sort == SortKey::Comm { wa.comm.as_bytes().cmp(wb.comm.as_bytes()) } else { std::cmp::Ordering::Equal };
        by_comm
            .then_with(|| primary(b).cmp(&primary(a)))
            .then_with(|| wa.pid.cmp(&wb.pid))
            .then_with(|| wa.comm.as_bytes().cmp(wb.comm.as_bytes()))
    });
    let more = rows.len().saturating_sub(max_rows);
    rows.truncate(max_rows);
    (rows.into_iter().map(|(_, r)| r).collect(), more)
}

/// The sort value of a row: by pid and comm those are all that order it (a
/// constant first key), else the count, latency or overflow asked for.
fn primary(sort: SortKey, span: u64, total: u64, latency: (Option<u64>, Option<u64>), overflows: u64) -> (u64, u64) {
    match sort {
        SortKey::Rate => (span, total),
        SortKey::Total => (total, span),
        SortKey::P99 => latency.0.map_or((0, span), |l| (l.saturating_add(1), span)),
        SortKey::Max => latency.1.map_or((0, span), |l| (l.saturating_add(1), span)),
        SortKey::Overflows => (overflows, span),
        SortKey::Pid | SortKey::Comm => (0, 0),
    }
}

impl Aggregate {
    pub fn add(&mut self, r: &Record) {
        self.interval.add(r);
        self.total.add(r);
        if let (Some(group), Some(_)) = (r.fsnotify_group, r.tracer.as_ref()) {
            // A permission daemon's answers are its fanotify group's, as its events are.
            let owner = (Who::of(r.tracer.as_ref()), if r.event_type == EventType::FaResp { Kind::Fanotify } else { Kind::of(r.event_type) });
            if self.owners.get(&group) != Some(&owner) {
                if self.owners.len() >= MAX_GROUPS {
                    self.owners.clear();
                }
                self.owners.insert(group, owner);
            }
            if let Some(n) = self.unowned_lost.remove(&group) {
                self.credit_lost(owner, n);
            }
        }
        for p in [r.tracer.as_ref(), r.tracee.as_ref()].into_iter().flatten() {
            let who = Who::of(Some(p));
            match p.container.as_deref().map(|c| Arc::<str>::from(c.label())) {
                Some(label) if self.containers.get(&who) != Some(&label) => {
                    if self.containers.len() >= MAX_CONTAINERS {
                        self.containers.clear();
                    }
                    self.containers.insert(who, label);
                }
                Some(_) => {}
                // A host process (perhaps one that took the pid and comm of one that was in a container).
                None if !self.containers.is_empty() => {
                    self.containers.remove(&who);
                }
                None => {}
            }
        }
    }

    fn cell(&self, who: Who) -> ProcCell {
        ProcCell::new(who, self.containers.get(&who))
    }

    /// The loss counts since the start, as the backend has them now.
    pub fn set_lost(&mut self, lost: Lost) {
        self.lost_now = lost;
    }

    /// `n` more records of `group` lost to a full ring buffer: its tracer's,
    /// once a record of the group has named it (group 0 never does).
    pub fn add_lost(&mut self, group: u64, n: u64) {
        match self.owners.get(&group) {
            Some(&owner) => self.credit_lost(owner, n),
            None if group != 0 => {
                if self.unowned_lost.len() >= MAX_GROUPS {
                    self.unowned_lost.clear();
                }
                *self.unowned_lost.entry(group).or_default() += n;
            }
            None => {}
        }
    }

    fn credit_lost(&mut self, owner: (Who, Kind), n: u64) {
        for w in [&mut self.interval, &mut self.total] {
            w.tracers.entry(owner).or_default().lost += n;
        }
    }

    /// Ends the current interval, which lasted `seconds`: returns its summary
    /// and starts the next.
    pub fn end_interval(&mut self, seconds: f64, sort: SortKey, max_rows: usize) -> Summary {
        self.intervals += 1;
        let s = self.summarise(Scope::Interval, seconds, sort, max_rows);
        self.interval = Window::default();
        self.lost_before = self.lost_now;
        s
    }

    /// Whether the current interval counted a record or a loss yet.
    pub fn interval_has_data(&self) -> bool {
        self.interval.records > 0 || self.lost_now != self.lost_before
    }

    /// The whole run so far, which lasted `seconds`.
    pub fn total(&self, seconds: f64, sort: SortKey, max_rows: usize) -> Summary {
        self.summarise(Scope::Total, seconds, sort, max_rows)
    }

    fn summarise(&self, scope: Scope, seconds: f64, sort: SortKey, max_rows: usize) -> Summary {
        let span = match scope {
            Scope::Interval => &self.interval,
            Scope::Total => &self.total,
        };
        let lost = match scope {
            Scope::Interval => self.lost_now.since(&self.lost_before),
            Scope::Total => self.lost_now,
        };
        // Rows for everything seen since the start: a tracer that went quiet
        // shows 0/s rather than vanishing.
        let tracers = self
            .total
            .tracers
            .iter()
            .map(|(&(who, kind), all)| {
                let now = span.tracers.get(&(who, kind)).cloned().unwrap_or_default();
                (who, TracerRow {
                    tracer: self.cell(who),
                    kind: kind.as_str(),
                    events: now.events,
                    events_per_s: per_s(now.events, seconds),
                    overflows: now.overflows,
                    lost: now.lost,
                    total_events: all.events,
                    total_overflows: all.overflows,
                    total_lost: all.lost,
                    backlog_bytes: None,
                })
            })
            .collect();
        let (tracers, tracers_more) =
            sort_limit(tracers, sort, |r| primary(sort, r.events, r.total_events, (None, None), r.overflows), max_rows);

        // Pairs only while they are active: tracees come and go (every
        // `cat` is a new pid), and the whole run's summary has them all.
        let mut pairs = span
            .pairs
            .iter()
            .map(|(key, &now)| {
                let all = self.total.pairs.get(key).copied().unwrap_or(now);
                let mask = match key.kind {
                    Kind::Inotify => crate::masks::inotify_mask(key.mask as u32),
                    Kind::Fanotify => crate::masks::fanotify_mask(key.mask),
                };
                (key.tracer, PairRow {
                    tracee: self.cell(key.tracee),
                    tracer: self.cell(key.tracer),
                    kind: key.kind.as_str(),
                    mask,
                    mask_raw: key.mask,
                    events: now,
                    events_per_s: per_s(now, seconds),
                    total_events: all,
                })
            })
            .collect::<Vec<_>>();
        // Pairs of one tracer: then by tracee, then by mask, for a stable order.
        pairs.sort_by(|(_, a), (_, b)| (a.tracee.pid, a.tracee.raw.as_bytes(), a.mask_raw).cmp(&(b.tracee.pid, b.tracee.raw.as_bytes(), b.mask_raw)));
        let (pairs, pairs_more) = sort_limit(pairs, sort, |r| primary(sort, r.events, r.total_events, (None, None), 0), max_rows);

        let empty = PermCounts::default();
        let perm = self
            .total
            .perm
            .iter()
            .map(|(&who, all)| {
                let now = span.perm.get(&who).unwrap_or(&empty);
                (who, PermRow {
                    tracer: self.cell(who),
                    requests: now.requests,
                    requests_per_s: per_s(now.requests, seconds),
                    total_requests: all.requests,
                    p50_ns: now.latency.quantile(0.5),
                    p99_ns: now.latency.quantile(0.99),
                    max_ns: now.latency.max(),
                    allow: now.allow,
                    deny: now.deny,
                    interrupted: now.interrupted,
                })
            })
            .collect();
        let (permission, permission_more) =
            sort_limit(perm, sort, |r| primary(sort, r.requests, r.total_requests, (r.p99_ns, r.max_ns), 0), max_rows);

        Summary {
            scope,
            interval: self.intervals,
            seconds,
            records: span.records,
            lost: lost.into(),
            tracers,
            tracers_more,
            pairs,
            pairs_more,
            permission,
            permission_more,
            backlog_unknown: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, comm: &str) -> Option<Proc> {
        Some(Proc { pid, tid: pid, comm: comm.into(), ..Default::default() })
    }

    fn inotify(tracee: u32, tracer: u32, mask: u32) -> Record {
        let mut r = Record::new(EventType::Inotify, 1);
        r.tracee = proc(tracee, "touch");
        r.tracer = proc(tracer, &format!("watch{tracer}"));
        r.i_mask = Some(mask);
        r
    }

    fn answer(tracer: u32, response: FaResponse, latency_ms: u64) -> Record {
        let mut r = Record::new(EventType::FaResp, 1);
        r.tracee = proc(7, "cat");
        r.tracer = proc(tracer, "permd");
        r.fa_mask = Some(0x0001_0000);
        r.fa_response = response;
        r.latency_ns = Some(latency_ms * 1_000_000);
        r
    }

    const IN_OPEN: u32 = 0x20;
    const IN_MODIFY: u32 = 0x2;

    #[test]
    fn tracers_count_events_and_overflows_with_rates() {
        let mut a = Aggregate::default();
        for _ in 0..10 {
            a.add(&inotify(5, 100, IN_MODIFY));
        }
        a.add(&inotify(0, 100, IN_Q_OVERFLOW));
        let mut fan = Record::new(EventType::Fanotify, 1);
        fan.tracer = proc(200, "fatrace");
        fan.fa_mask = Some(FAN_Q_OVERFLOW);
        a.add(&fan);
        let s = a.end_interval(2.0, SortKey::Rate, 10);
        assert_eq!(s.records, 12);
        assert_eq!(s.tracers.len(), 2);
        let t = &s.tracers[0];
        assert_eq!((t.tracer.pid, t.tracer.comm.as_str(), t.kind), (100, "watch100", "inotify"));
        assert_eq!((t.events, t.overflows, t.total_events), (11, 1, 11));
        assert_eq!(t.events_per_s, 5.5);
        let f = &s.tracers[1];
        assert_eq!((f.tracer.pid, f.kind, f.events, f.overflows), (200, "fanotify", 1, 1));

        // The next interval: the rows stay, at 0/s, with their totals.
        let mut open = fan.clone();
        open.fa_mask = Some(0x20);
        a.add(&open);
        let s = a.end_interval(0.5, SortKey::Rate, 10);
        assert_eq!(s.interval, 2);
        assert_eq!(s.records, 1);
        let t100 = s.tracers.iter().find(|t| t.tracer.pid == 100).unwrap();
        assert_eq!((t100.events, t100.events_per_s, t100.overflows, t100.total_events, t100.total_overflows), (0, 0.0, 0, 11, 1));
        let t200 = s.tracers.iter().find(|t| t.tracer.pid == 200).unwrap();
        assert_eq!((t200.events, t200.events_per_s, t200.total_events), (1, 2.0, 2));
        assert_eq!(s.tracers[0].tracer.pid, 200, "the busier one in this interval first");
        assert_eq!(s.pairs.len(), 1, "only the pair active in the interval: {:?}", s.pairs);
        assert_eq!((s.pairs[0].tracer.pid, s.pairs[0].events, s.pairs[0].total_events), (200, 1, 1));
        assert_eq!(a.total(2.5, SortKey::Rate, 10).pairs.len(), 4, "the whole run has every pair");

        let total = a.total(2.5, SortKey::Rate, 10);
        assert_eq!((total.scope, total.interval, total.records), (Scope::Total, 2, 13));
        assert_eq!(total.tracers[0].tracer.pid, 100);
        assert_eq!(total.tracers[0].events_per_s, 11.0 / 2.5);
    }

    #[test]
    fn pairs_are_split_by_mask_and_answers_are_not_events() {
        let mut a = Aggregate::default();
        for _ in 0..3 {
            a.add(&inotify(5, 100, IN_OPEN));
        }
        a.add(&inotify(5, 100, IN_MODIFY));
        a.add(&inotify(6, 100, IN_OPEN));
        a.add(&answer(300, FaResponse::Allow, 20));
        let s = a.end_interval(1.0, SortKey::Rate, 10);
        let rows: Vec<(u32, u32, &str, u64)> = s.pairs.iter().map(|p| (p.tracee.pid, p.tracer.pid, p.mask.as_str(), p.events)).collect();
        assert_eq!(rows, [(5, 100, "IN_OPEN", 3), (5, 100, "IN_MODIFY", 1), (6, 100, "IN_OPEN", 1)]);
        assert_eq!(s.pairs[1].mask_raw, u64::from(IN_MODIFY));
        assert!(s.tracers.iter().all(|t| t.tracer.pid != 300), "an answer is no event of its daemon");
        assert_eq!(s.permission.len(), 1);
    }

    #[test]
    fn permission_daemons_have_answer_counts_and_latency_quantiles() {
        let mut a = Aggregate::default();
        // 100 answers: 1..=100 ms; 90 allowed, 8 denied, 2 interrupted.
        for ms in 1..=100u64 {
            let resp = match ms {
                1..=90 => FaResponse::Allow,
                91..=98 => FaResponse::Deny,
                _ => FaResponse::Interrupted,
            };
            a.add(&answer(300, resp, ms));
        }
        let s = a.end_interval(4.0, SortKey::Rate, 10);
        let p = &s.permission[0];
        assert_eq!((p.tracer.pid, p.tracer.comm.as_str()), (300, "permd"));
        assert_eq!((p.requests, p.requests_per_s, p.total_requests), (100, 25.0, 100));
        assert_eq!((p.allow, p.deny, p.interrupted), (90, 8, 2));
        let near = |got: Option<u64>, ms: u64| {
            let want = ms * 1_000_000;
            let got = got.unwrap();
            assert!(got.abs_diff(want) * 256 <= want, "{got} for {want}");
        };
        near(p.p50_ns, 50);
        near(p.p99_ns, 99);
        assert_eq!(p.max_ns, Some(100_000_000), "the maximum is exact");

        // An interval without answers has no latency, but keeps the row.
        let s = a.end_interval(1.0, SortKey::Rate, 10);
        let p = &s.permission[0];
        assert_eq!((p.requests, p.p50_ns, p.p99_ns, p.max_ns, p.total_requests), (0, None, None, None, 100));
        // The whole run keeps every answer.
        let total = a.total(5.0, SortKey::Rate, 10);
        near(total.permission[0].p99_ns, 99);
    }

    #[test]
    fn sort_keys_order_rows_and_max_rows_cuts() {
        let mut a = Aggregate::default();
        // Tracer 100: 1 event; 200: 3 events; 300: 2 events and an overflow.
        a.add(&inotify(5, 100, IN_OPEN));
        for _ in 0..3 {
            a.add(&inotify(5, 200, IN_OPEN));
        }
        a.add(&inotify(5, 300, IN_OPEN));
        a.add(&inotify(5, 300, IN_Q_OVERFLOW));
        let _ = a.end_interval(1.0, SortKey::Rate, 10);
        // A second interval where only 100 is busy.
        for _ in 0..5 {
            a.add(&inotify(5, 100, IN_OPEN));
        }
        let order = |a: &mut Aggregate, sort: SortKey| -> Vec<u32> {
            let s = a.total(1.0, sort, 10);
            s.tracers.iter().map(|t| t.tracer.pid).collect()
        };
        assert_eq!(order(&mut a, SortKey::Total), [100, 200, 300]);
        assert_eq!(order(&mut a, SortKey::Overflows), [300, 100, 200]);
        assert_eq!(order(&mut a, SortKey::Pid), [100, 200, 300]);
        let s = a.end_interval(1.0, SortKey::Rate, 2);
        assert_eq!(s.tracers.iter().map(|t| t.tracer.pid).collect::<Vec<_>>(), [100, 200], "rate in the interval, then total");
        assert_eq!(s.tracers_more, 1);
        assert_eq!((s.pairs.len(), s.pairs_more), (1, 0), "one pair was active");
        let t = a.total(1.0, SortKey::Rate, 2);
        assert_eq!((t.pairs.len(), t.pairs_more), (2, 2));
        let s = a.end_interval(1.0, SortKey::Total, 1);
        assert_eq!((s.tracers[0].tracer.pid, s.tracers_more), (100, 2));

        // Comm: byte order of the tracer's comm, whatever the counts.
        let mut b = Aggregate::default();
        for (pid, comm, n) in [(1, "zeta", 5), (2, "alpha", 1), (3, "mid", 3)] {
            for _ in 0..n {
                let mut r = inotify(5, pid, IN_OPEN);
                r.tracer = proc(pid, comm);
                b.add(&r);
            }
        }
        let s = b.total(1.0, SortKey::Comm, 10);
        assert_eq!(s.tracers.iter().map(|t| t.tracer.comm.as_str()).collect::<Vec<_>>(), ["alpha", "mid", "zeta"]);
    }

    #[test]
    fn daemons_sort_by_latency() {
        let mut a = Aggregate::default();
        // 400 answers many requests fast; 500 few, slowly; 600 one very slow answer among fast ones.
        for _ in 0..50 {
            a.add(&answer(400, FaResponse::Allow, 1));
        }
        for _ in 0..5 {
            a.add(&answer(500, FaResponse::Allow, 30));
        }
        for _ in 0..9 {
            a.add(&answer(600, FaResponse::Allow, 2));
        }
        a.add(&answer(600, FaResponse::Deny, 900));
        let order = |sort| a.total(1.0, sort, 10).permission.iter().map(|p| p.tracer.pid).collect::<Vec<_>>();
        assert_eq!(order(SortKey::Rate), [400, 600, 500]);
        assert_eq!(order(SortKey::P99), [600, 500, 400]);
        assert_eq!(order(SortKey::Max), [600, 500, 400]);
        // p50 of 600 is 2 ms: below 500's 30 ms. p99 of 600 is its slow answer (rank 10 of 10).
        let s = a.total(1.0, SortKey::P99, 10);
        let p50 = s.permission[0].p50_ns.unwrap();
        assert!(p50.abs_diff(2_000_000) * 256 <= 2_000_000, "{p50}");
        assert_eq!(s.permission[0].p99_ns, Some(900_000_000));
    }

    #[test]
    fn ring_buffer_losses_by_group_are_their_tracers() {
        let mut a = Aggregate::default();
        let with_group = |mut r: Record, g: u64| {
            r.fsnotify_group = Some(g);
            r
        };
        // Group 0xa is tracer 1's from its first record; 0xb's losses come
        // before any of its records does, and wait for one; 0 and an unseen
        // group are nobody's.
        a.add(&with_group(inotify(5, 1, IN_OPEN), 0xa));
        a.add_lost(0xa, 3);
        a.add_lost(0xb, 4);
        a.add_lost(0, 5);
        a.add_lost(0xc, 6);
        let s = a.end_interval(1.0, SortKey::Pid, 10);
        assert_eq!(s.tracers.iter().map(|t| (t.tracer.pid, t.lost, t.total_lost)).collect::<Vec<_>>(), vec![(1, 3, 3)]);
        a.add(&with_group(inotify(5, 2, IN_OPEN), 0xb));
        a.add_lost(0xa, 1);
        // A daemon's answers name its fanotify group, as its events would.
        a.add(&with_group(answer(3, FaResponse::Allow, 1), 0xd));
        a.add_lost(0xd, 2);
        let s = a.end_interval(1.0, SortKey::Pid, 10);
        let rows: Vec<_> = s.tracers.iter().map(|t| (t.tracer.pid, t.kind, t.lost, t.total_lost)).collect();
        assert_eq!(rows, vec![(1, "inotify", 1, 4), (2, "inotify", 4, 4), (3, "fanotify", 2, 2)]);
        let total = a.total(2.0, SortKey::Pid, 10);
        assert_eq!(total.tracers.iter().map(|t| t.lost).sum::<u64>(), 10);
    }

    #[test]
    fn losses_are_per_interval_and_in_total() {
        let mut a = Aggregate::default();
        a.set_lost(Lost { ringbuf: 4, ..Default::default() });
        let s = a.end_interval(1.0, SortKey::Rate, 10);
        assert_eq!((s.lost.total, s.lost.ringbuf), (4, 4));
        a.set_lost(Lost { ringbuf: 6, untracked: 1, undecodable: 2, ..Default::default() });
        let s = a.end_interval(1.0, SortKey::Rate, 10);
        assert_eq!((s.lost.total, s.lost.ringbuf, s.lost.untracked, s.lost.undecodable), (5, 2, 1, 2));
        let t = a.total(2.0, SortKey::Rate, 10);
        assert_eq!((t.lost.total, t.lost.ringbuf), (9, 6));
    }

    #[test]
    fn records_without_a_tracer_or_with_odd_comms_are_kept() {
        let mut a = Aggregate::default();
        let mut r = inotify(5, 1, IN_OPEN);
        r.tracer = None;
        a.add(&r);
        let mut odd = inotify(5, 9, IN_OPEN);
        odd.tracer = proc(9, "x");
        odd.tracer.as_mut().unwrap().comm = Comm::new(b"bad\xff\n");
        a.add(&odd);
        let s = a.total(1.0, SortKey::Pid, 10);
        assert_eq!((s.tracers[0].tracer.pid, s.tracers[0].tracer.comm.as_str()), (0, ""));
        let json = serde_json::to_value(&s.tracers[1]).unwrap();
        assert_eq!(json["tracer"]["comm"], "bad\u{fffd}\n");
        assert_eq!(json["tracer"]["comm_hex"], "626164ff0a");
        assert!(json["tracer"].get("raw").is_none());
        assert!(serde_json::to_value(&s.tracers[0]).unwrap()["tracer"].get("comm_hex").is_none());
    }
}
