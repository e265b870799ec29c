//! Prometheus metrics: `--metrics ADDR:PORT` on the tracer and `fsnotify-gadget serve`.
//!
//! Three parts, each on its own thread or side:
//! - the trace loop counts records into thread-local counters and histograms
//!   ([`Recorder`]) as it writes them, and flushes them to the shared registry after
//!   each batch, so a record costs at most a hash lookup and no atomic operation;
//! - an HTTP thread ([`http`]) answers `GET /metrics` from the registry: a scrape takes
//!   the registry's locks for microseconds and never waits on the trace loop;
//! - an inventory thread ([`inventory`]) runs what `fsnotify-gadget list` computes
//!   every `--metrics-inventory` seconds and sets the inventory gauges.
//!
//! Label cardinality is bounded: `--metrics-labels` picks the labels of the event
//! counter, and past `--metrics-max-series` distinct label sets per family new ones are
//! counted under `other` (and `fsnotify_gadget_metrics_folded_total` says how many).

pub mod http;
pub mod inventory;
pub mod latency;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::core::{Collector, Desc, Metric};
use prometheus::proto::{MetricFamily, MetricType};
use hashbrown::HashTable;
use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::backend::{Lost, Tracer};
use crate::containers::Container;
use crate::model::{Comm, EventType, Proc, Record};

/// A label the event counter can carry besides `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// The reading process's comm.
    TracerComm,
    /// The comm of the process that caused the event.
    TraceeComm,
    /// The reading process's uid.
    TracerUid,
    /// The uid of the process that caused the event.
    TraceeUid,
    /// The reading process's container: its name, or the first 12 characters of its id.
    TracerContainer,
    /// The container of the process that caused the event.
    TraceeContainer,
    /// The reading process's Kubernetes pod, `NAMESPACE/POD`.
    TracerPod,
    /// The pod of the process that caused the event.
    TraceePod,
}

impl Label {
    pub const ALL: [Label; 8] = [
        Label::TracerComm,
        Label::TraceeComm,
        Label::TracerUid,
        Label::TraceeUid,
        Label::TracerContainer,
        Label::TraceeContainer,
        Label::TracerPod,
        Label::TraceePod,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Label::TracerComm => "tracer_comm",
            Label::TraceeComm => "tracee_comm",
            Label::TracerUid => "tracer_uid",
            Label::TraceeUid => "tracee_uid",
            Label::TracerContainer => "tracer_container",
            Label::TraceeContainer => "tracee_container",
            Label::TracerPod => "tracer_pod",
            Label::TraceePod => "tracee_pod",
        }
    }
}

/// `--metrics-labels`' default: which watchers each program's activity wakes.
pub const DEFAULT_LABELS: &str = "tracer_comm,tracee_comm";

/// The labels `--metrics-labels` selected, in a fixed order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelList(pub Vec<Label>);

/// Parses `--metrics-labels`: a comma-separated subset of the labels, or `none`.
pub fn parse_labels(s: &str) -> Result<LabelList, String> {
    let mut out = Vec::new();
    for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        if word == "none" {
            continue;
        }
        let label = Label::ALL.into_iter().find(|l| l.name() == word).ok_or_else(|| {
            let known: Vec<&str> = Label::ALL.iter().map(|l| l.name()).collect();
            format!("unknown metrics label '{word}' (known: {}, none)", known.join(", "))
        })?;
        if !out.contains(&label) {
            out.push(label);
        }
    }
    out.sort_by_key(|l| *l as u8);
    Ok(LabelList(out))
}

/// Parses `ADDR:PORT`: an IP address (IPv6 in brackets) and a port.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| format!("'{s}' is not ADDR:PORT with an IP address, e.g. 127.0.0.1:9590, [::1]:9590 or 0.0.0.0:9590"))
}

/// Parses a number of seconds of at least 0.1.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..1e6).contains(&v) => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("'{s}' is not a number of seconds of at least 0.1")),
    }
}

/// Parses `--metrics-max-series`.
pub fn parse_max_series(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if (1..=1_000_000).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a whole number from 1 to 1000000")),
    }
}

/// How the metrics are labelled and refreshed (shared by the tracer and `serve`).
#[derive(Clone, Debug)]
pub struct Options {
    /// Labels of fsnotify_gadget_events_total besides `type`.
    pub labels: LabelList,
    /// At most this many label sets per metric; past it, new ones are folded into `other`.
    pub max_series: usize,
    /// How often the inventory gauges are refreshed.
    pub inventory_every: Duration,
}

/// `fsnotify-gadget serve`: the inventory gauges only, no tracing.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub options: Options,
    /// Stop after this long; None: at Ctrl-C or SIGTERM.
    pub timeout: Option<Duration>,
}

/// Label value of the fold-over series.
pub const OTHER: &str = "other";

/// The description of a family whose series carry `labels`, for the
/// families below that tell series apart by their label values themselves.
fn family_desc(opts: Opts, labels: &[&str]) -> prometheus::Result<Desc> {
    Desc::new(opts.name, opts.help, labels.iter().map(|l| l.to_string()).collect(), HashMap::new())
}

/// The options of one series of `desc`'s family: its label values as constant labels.
fn series_opts(desc: &Desc, values: &[String]) -> Opts {
    let labels: HashMap<String, String> = desc.variable_labels.iter().cloned().zip(values.iter().cloned()).collect();
    Opts::new(desc.fq_name.clone(), desc.help.clone()).const_labels(labels)
}

/// `desc`'s family with these series, for a scrape.
fn family(desc: &Desc, kind: MetricType, series: Vec<prometheus::proto::Metric>) -> Vec<MetricFamily> {
    let mut mf = MetricFamily::default();
    mf.set_name(desc.fq_name.clone());
    mf.set_help(desc.help.clone());
    mf.set_field_type(kind);
    mf.set_metric(series);
    vec![mf]
}

/// A counter family whose series are told apart by their label values
/// themselves. The prometheus crate's IntCounterVec finds a series by a hash
/// of its label values run together, so that `tracer_container="web",
/// tracee_container=""` and `tracer_container="", tracee_container="web"`
/// (or the comms `ab`, `c` and `a`, `bc`) would be counted as one.
#[derive(Clone)]
struct CounterFamily(Arc<FamilyInner>);

struct FamilyInner {
    desc: Desc,
    series: Mutex<HashMap<Vec<String>, IntCounter>>,
}

impl CounterFamily {
    fn new(opts: Opts, labels: &[&str]) -> prometheus::Result<CounterFamily> {
        let desc = family_desc(opts, labels)?;
        Ok(CounterFamily(Arc::new(FamilyInner { desc, series: Mutex::new(HashMap::new()) })))
    }

    /// The series of these label values (in the order of the family's labels), made on first use.
    fn with_label_values(&self, values: Vec<String>) -> IntCounter {
        let inner = &self.0;
        let mut series = inner.series.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = series.get(&values) {
            return c.clone();
        }
        let c = IntCounter::with_opts(series_opts(&inner.desc, &values)).expect("the family's labels are valid");
        series.insert(values, c.clone());
        c
    }
}

impl Collector for CounterFamily {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = self.0.series.lock().unwrap_or_else(|e| e.into_inner());
        family(&self.0.desc, MetricType::COUNTER, series.values().map(|c| c.metric()).collect())
    }
}

/// Every metric family, registered in one registry.
pub struct Metrics {
    pub registry: Registry,
    labels: Vec<Label>,
    events: CounterFamily,
    lost: IntCounterVec,
    discarded: IntCounterVec,
    table_entries: IntGaugeVec,
    table_capacity: IntGaugeVec,
    delivery: latency::Family,
    permission: latency::Family,
    folded: IntCounter,
    pub inventory: inventory::Gauges,
}

fn name(short: &str) -> String {
    format!("fsnotify_gadget_{short}")
}

impl Metrics {
    pub fn new(labels: &[Label], backend: &str) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let mut event_labels = vec!["type"];
        event_labels.extend(labels.iter().map(|l| l.name()));
        let events = CounterFamily::new(
            Opts::new(name("events_total"), "Records of fsnotify events read by their tracer (type inotify or fanotify) and permission answers (type fa_resp)."),
            &event_labels,
        )?;
        let lost = IntCounterVec::new(Opts::new(name("records_lost_total"), "Records not printed, by cause (as in the exit line)."), &["cause"])?;
        let discarded = IntCounterVec::new(
            Opts::new(name("events_discarded_total"), "Events dequeued that never reached their tracer, so have no record, by cause: close (the queue was emptied at close), copy (the read could not copy it out)."),
            &["cause"],
        )?;
        let table_entries = IntGaugeVec::new(Opts::new(name("table_entries"), "Entries in each table that joins the halves of an event (0 once the machine is quiet)."), &["table"])?;
        let table_capacity = IntGaugeVec::new(Opts::new(name("table_capacity"), "Capacity of each table that joins the halves of an event."), &["table"])?;
        let delivery = latency::Family::new(Opts::new(name("delivery_latency_seconds"), "Time from queueing an event to its tracer reading it."), &["type", "tracer_comm"])?;
        let permission = latency::Family::new(
            Opts::new(name("permission_latency_seconds"), "Time from queueing a fanotify permission event to its answer, by tracer and answer (allow, deny, interrupted)."),
            &["tracer_comm", "answer"],
        )?;
        let folded = IntCounter::new(name("metrics_folded_total"), "Records counted under label value `other` because --metrics-max-series was reached.")?;
        let info = IntGaugeVec::new(Opts::new(name("build_info"), "Always 1: the version and the backend that traces (none for serve)."), &["version", "backend"])?;
        info.with_label_values(&[env!("CARGO_PKG_VERSION"), backend]).set(1);
        registry.register(Box::new(events.clone()))?;
        for m in [&lost, &discarded] {
            registry.register(Box::new(m.clone()))?;
        }
        registry.register(Box::new(table_entries.clone()))?;
        registry.register(Box::new(table_capacity.clone()))?;
        registry.register(Box::new(delivery.clone()))?;
        registry.register(Box::new(permission.clone()))?;
        registry.register(Box::new(folded.clone()))?;
        registry.register(Box::new(info))?;
        let inventory = inventory::Gauges::register(&registry)?;
        Ok(Metrics { registry, labels: labels.to_vec(), events, lost, discarded, table_entries, table_capacity, delivery, permission, folded, inventory })
    }

    /// The text exposition of everything registered.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&self.registry.gather(), &mut s) {
            s = format!("# fsnotify-gadget: cannot encode metrics: {e}\n");
        }
        s
    }
}

/// A word-at-a-time multiplicative hash (as rustc's FxHash): the keys are small, a
/// flood of distinct ones is capped by the series bound anyway, and SipHash was most
/// of a record's metrics cost.
#[derive(Default)]
pub struct WordHash(u64);

impl WordHash {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHash>>;
type FastSet<K> = HashSet<K, BuildHasherDefault<WordHash>>;

/// How the trace loop finds a record's counters: the label values of its
/// events_total series (a label not chosen stays 0; containers and pods as
/// their [`Interned`] ids), with its tracer's comm and its answer beside them
/// (the latency histograms' labels), in eight words that hash and compare at
/// once. Word 0: the type, the answer, the comms' lengths and the `other` bit;
/// 1-2 the tracer's comm; 3-4 the tracee's; 5 the uids; 6 the containers; 7
/// the pods (tracer in the low half, tracee in the high).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Key([u64; 8]);

const OTHER_BIT: u64 = 1 << 32;

impl Key {
    /// The key of the events_total series `self` is counted in: what only the
    /// histograms tell apart cleared.
    fn series(self, tracer_comm: bool) -> Key {
        let mut k = self;
        // The answer and, when it is no label, the tracer's comm.
        k.0[0] &= !(0xff << 8);
        if !tracer_comm {
            k.0[0] &= !(0xff << 16);
            k.0[1] = 0;
            k.0[2] = 0;
        }
        k
    }

    /// The fold-over series of this key's type.
    fn other(self) -> Key {
        let mut k = Key::default();
        k.0[0] = (self.0[0] & 0xff) | OTHER_BIT;
        k
    }

    /// A key with a container or pod value the intern table had no room for:
    /// counted under `other`.
    fn has_folded_value(&self) -> bool {
        [self.0[6], self.0[7]].iter().any(|&w| w as u32 == FOLDED || (w >> 32) as u32 == FOLDED)
    }

    /// Its hash under `seed`: four products of two words each, independent
    /// of each other, folded into a fifth (the multiply-and-fold of the
    /// wyhash family), so that the eight words cost about two multiplications'
    /// latency, not eight in a chain.
    fn seeded_hash(&self, seed: &[u64; 8]) -> u64 {
        fn mix(a: u64, b: u64) -> u64 {
            let p = u128::from(a) * u128::from(b);
            (p as u64) ^ ((p >> 64) as u64)
        }
        let w = &self.0;
        let a = mix(w[0] ^ seed[0], w[1] ^ seed[1]);
        let b = mix(w[2] ^ seed[2], w[3] ^ seed[3]);
        let c = mix(w[4] ^ seed[4], w[5] ^ seed[5]);
        let d = mix(w[6] ^ seed[6], w[7] ^ seed[7]);
        mix(a ^ c ^ seed[0], b ^ d ^ seed[5])
    }
}

/// The id of a container or pod label value past the intern table's bound.
const FOLDED: u32 = u32::MAX;

/// At most this many containers' shared values are kept by [`Interned`] at a
/// time: each scan of the runtimes makes new ones for the same containers.
const INTERNED_CONTAINERS: usize = 4096;

/// The container and pod label values, each given a small id once, so that a
/// record's key holds a number and counting it allocates nothing.
struct Interned {
    /// The label value of each id; id 0 is the empty value (the host, a side not known).
    values: Vec<String>,
    ids: HashMap<String, u32>,
    /// At most this many values besides the empty one; past it, [`FOLDED`].
    max_values: usize,
    /// Whether container names, and pods, are labels at all (else their id is 0).
    names: bool,
    pods: bool,
    /// The ids (name, pod) of a container by the address of its shared value.
    /// The entry holds the value, so that while it is here no other
    /// container can be given that address.
    by_ptr: FastMap<usize, (Arc<Container>, u32, u32)>,
}

impl Interned {
    fn new(labels: &[Label], max_values: usize) -> Interned {
        let has = |a: Label, b: Label| labels.contains(&a) || labels.contains(&b);
        Interned {
            values: vec![String::new()],
            ids: HashMap::new(),
            max_values,
            names: has(Label::TracerContainer, Label::TraceeContainer),
            pods: has(Label::TracerPod, Label::TraceePod),
            by_ptr: FastMap::default(),
        }
    }

    /// The ids (name, pod) of a side's container; 0 for the host or no side.
    fn of(&mut self, p: Option<&Proc>) -> (u32, u32) {
        let Some(c) = p.and_then(|p| p.container.as_ref()) else { return (0, 0) };
        match self.by_ptr.get(&(Arc::as_ptr(c) as usize)) {
            Some(&(_, name, pod)) => (name, pod),
            None => self.add(c),
        }
    }

    /// A container not seen yet (or not since the table was emptied).
    #[cold]
    fn add(&mut self, c: &Arc<Container>) -> (u32, u32) {
        let name = if self.names { self.id(label_value(c.label().as_bytes())) } else { 0 };
        let pod = if self.pods { self.id(label_value(pod_label(c).as_bytes())) } else { 0 };
        if self.by_ptr.len() >= INTERNED_CONTAINERS {
            // Most entries are then of containers whose values a rescan of the
            // runtimes replaced: the ids stay, only the way from an address to
            // them is forgotten.
            self.by_ptr.clear();
        }
        self.by_ptr.insert(Arc::as_ptr(c) as usize, (c.clone(), name, pod));
        (name, pod)
    }

    fn id(&mut self, value: String) -> u32 {
        if value.is_empty() {
            return 0;
        }
        if let Some(&id) = self.ids.get(&value) {
            return id;
        }
        if self.values.len() > self.max_values {
            return FOLDED;
        }
        let id = self.values.len() as u32;
        self.values.push(value.clone());
        self.ids.insert(value, id);
        id
    }

    fn value(&self, id: u32) -> &str {
        self.values.get(id as usize).map_or(OTHER, String::as_str)
    }
}

/// A Kubernetes container's pod as a label value, `NAMESPACE/POD`; empty when
/// either is not known.
fn pod_label(c: &Container) -> String {
    match c.k8s.as_ref().map(|k| (k.namespace.as_deref(), k.pod.as_deref())) {
        Some((Some(ns), Some(pod))) => format!("{ns}/{pod}"),
        _ => String::new(),
    }
}

/// A comm as a label value (see [`label_value`]).
fn comm_label(c: &Comm) -> String {
    label_value(c.as_bytes())
}

/// Untrusted bytes (a comm, a container's name or pod, a user name) as a label value,
/// escaped as the columns output escapes names ([`crate::output::escape_terminal`]):
/// controls, format characters such as U+202E, other invisible characters and bytes
/// that are not UTF-8 become `\xNN`, `\r`, `\u{NNNN}`, and a backslash `\\`, so none
/// reaches a dashboard or a terminal raw, and the escaping loses nothing. Printable
/// text is kept as it is. (The text format then escapes `\`, `"` and newlines.)
fn label_value(bytes: &[u8]) -> String {
    let mut s = String::new();
    crate::output::escape_terminal(bytes, &mut s);
    s
}

fn kind_str(kind: u8) -> &'static str {
    match kind {
        0 => EventType::Inotify.as_str(),
        1 => EventType::Fanotify.as_str(),
        _ => EventType::FaResp.as_str(),
    }
}

fn kind_of(t: EventType) -> u8 {
    match t {
        EventType::Inotify => 0,
        EventType::Fanotify => 1,
        EventType::FaResp => 2,
    }
}

/// Where a record of one [`Key`] is counted: a local share of its events_total
/// series and of its latency histogram (made at its first latency).
struct Slot {
    key: Key,
    events: IntCounter,
    /// Records counted since the last flush.
    count: u64,
    latency: Option<latency::Local>,
    /// What each record of the slot adds to metrics_folded_total: 1 for each of
    /// its series that is `other`.
    folds: u8,
}

/// The trace loop's side: thread-local counters and histograms, flushed to the shared
/// registry by [`Recorder::flush`].
///
/// A record costs at most one lookup (none when its key is the last record's):
/// its [`Key`] finds a [`Slot`] holding both its event counter and its latency
/// histogram. The series themselves, and the
/// bound on them, are kept apart (`events`, `delivery`, `permission`), and only
/// a key not seen yet goes there.
pub struct Recorder {
    metrics: Arc<Metrics>,
    max_series: usize,
    /// What of each word of a record's [`Key`] the chosen labels keep.
    masks: [u64; 8],
    /// Whether a container or pod label of the tracer, and of the tracee, is chosen.
    tracer_containers: bool,
    tracee_containers: bool,
    containers: Interned,
    slots: Vec<Slot>,
    /// Where each key's slot is, by [`Key::seeded_hash`] under `seed`, which is
    /// random per recorder, so that no process can name itself into a chain of
    /// collisions.
    index: HashTable<u32>,
    seed: [u64; 8],
    /// The slot of the last record (past the end when there is none).
    last: usize,
    /// At most this many slots; past it they are flushed and forgotten (their series stay).
    max_slots: usize,
    events: FastMap<Key, IntCounter>,
    /// The latency series made: the delivery histogram's by type, the
    /// permission histogram's by answer, then the tracer's comm and whether
    /// it is `other`.
    delivery: FastSet<(u8, Comm, bool)>,
    permission: FastSet<(u8, Comm, bool)>,
    folded: u64,
    lost_seen: Lost,
    next_tables: Instant,
}

/// A word of two halves.
fn pair(low: u32, high: u32) -> u64 {
    u64::from(low) | u64::from(high) << 32
}

/// The low and high halves of a word.
fn halves(w: u64) -> (u32, u32) {
    (w as u32, (w >> 32) as u32)
}

impl Recorder {
    pub fn new(metrics: Arc<Metrics>, max_series: usize) -> Recorder {
        let labels = &metrics.labels;
        let has = |l: Label| labels.contains(&l);
        let half = |l: Label| if has(l) { u32::MAX } else { 0 };
        let tracee_comm = if has(Label::TraceeComm) { u64::MAX } else { 0 };
        // The type, the answer and the tracer's comm are always kept: the
        // histograms are labelled by them.
        let masks = [
            0xff_ffff | (tracee_comm & 0xff << 24),
            u64::MAX,
            u64::MAX,
            tracee_comm,
            tracee_comm,
            pair(half(Label::TracerUid), half(Label::TraceeUid)),
            pair(half(Label::TracerContainer), half(Label::TraceeContainer)),
            pair(half(Label::TracerPod), half(Label::TraceePod)),
        ];
        let random = std::hash::RandomState::new();
        Recorder {
            max_series,
            masks,
            tracer_containers: has(Label::TracerContainer) || has(Label::TracerPod),
            tracee_containers: has(Label::TraceeContainer) || has(Label::TraceePod),
            containers: Interned::new(labels, max_series),
            slots: Vec::new(),
            index: HashTable::new(),
            last: usize::MAX,
            seed: std::array::from_fn(|i| random.hash_one(i)),
            max_slots: 4 * max_series + 64,
            events: FastMap::default(),
            delivery: FastSet::default(),
            permission: FastSet::default(),
            folded: 0,
            lost_seen: Lost::default(),
            next_tables: Instant::now(),
            metrics,
        }
    }

    /// A record's key: every word it could have, then what the chosen labels keep.
    fn key(&mut self, r: &Record) -> Key {
        let (tracer, tracee) = (r.tracer.as_ref(), r.tracee.as_ref());
        let (tracer_len, tracer_comm) = tracer.map(|p| p.comm).unwrap_or_default().words();
        let (tracee_len, tracee_comm) = tracee.map(|p| p.comm).unwrap_or_default().words();
        let answer = if r.event_type == EventType::FaResp { r.fa_response as u8 } else { 0 };
        let uid = |p: Option<&Proc>| p.map_or(u32::MAX, |p| p.uid);
        let tracer_ids = if self.tracer_containers { self.containers.of(tracer) } else { (0, 0) };
        let tracee_ids = if self.tracee_containers { self.containers.of(tracee) } else { (0, 0) };
        let words = [
            u64::from(kind_of(r.event_type)) | u64::from(answer) << 8 | u64::from(tracer_len) << 16 | u64::from(tracee_len) << 24,
            tracer_comm[0],
            tracer_comm[1],
            tracee_comm[0],
            tracee_comm[1],
            pair(uid(tracer), uid(tracee)),
            pair(tracer_ids.0, tracee_ids.0),
            pair(tracer_ids.1, tracee_ids.1),
        ];
        Key(std::array::from_fn(|i| words[i] & self.masks[i]))
    }

    /// Counts one record.
    pub fn observe(&mut self, r: &Record) {
        let key = self.key(r);
        // Records come in runs of one watcher and one writer: the last slot first.
        let i = match self.slots.get(self.last) {
            Some(s) if s.key == key => self.last,
            _ => {
                let hash = key.seeded_hash(&self.seed);
                let slots = &self.slots;
                match self.index.find(hash, |&i| slots[i as usize].key == key) {
                    Some(&i) => i as usize,
                    None => return self.new_slot(hash, key, r),
                }
            }
        };
        self.last = i;
        let slot = &mut self.slots[i];
        slot.count += 1;
        self.folded += u64::from(slot.folds);
        let Some(ns) = r.latency_ns else { return };
        match &mut slot.latency {
            Some(h) => h.observe(ns),
            None => self.first_latency(i, r, ns),
        }
    }

    /// The first record of a key: its slot, on the series of its label values
    /// (made now when they are new, or `other` past the bound).
    #[cold]
    fn new_slot(&mut self, hash: u64, key: Key, r: &Record) {
        if self.slots.len() >= self.max_slots {
            self.flush_slots();
            self.slots.clear();
            self.index.clear();
        }
        let (counter, folded) = self.event_series(key, r);
        self.folded += u64::from(folded);
        let i = self.slots.len();
        self.slots.push(Slot { key, events: counter, count: 1, latency: None, folds: u8::from(folded) });
        let (slots, seed) = (&self.slots, &self.seed);
        self.index.insert_unique(hash, i as u32, |&i| slots[i as usize].key.seeded_hash(seed));
        self.last = i;
        if let Some(ns) = r.latency_ns {
            self.first_latency(i, r, ns);
        }
    }

    /// The events_total series of a record whose key is `key`, and whether it is `other`.
    fn event_series(&mut self, key: Key, r: &Record) -> (IntCounter, bool) {
        let key = key.series(self.metrics.labels.contains(&Label::TracerComm));
        if let Some(c) = self.events.get(&key) {
            return (c.clone(), false);
        }
        let folded = self.events.len() >= self.max_series || key.has_folded_value();
        let key = if folded { key.other() } else { key };
        if let Some(c) = self.events.get(&key) {
            return (c.clone(), folded);
        }
        let (tracer, tracee) = (r.tracer.as_ref(), r.tracee.as_ref());
        let comm = |p: Option<&Proc>| comm_label(&p.map(|p| p.comm).unwrap_or_default());
        let uid = |p: Option<&Proc>| uid_label(p.map_or(u32::MAX, |p| p.uid));
        let (containers, pods) = (halves(key.0[6]), halves(key.0[7]));
        let mut values: Vec<String> = vec![kind_str(key.0[0] as u8).to_string()];
        for &l in &self.metrics.labels {
            values.push(if folded {
                OTHER.to_string()
            } else {
                match l {
                    Label::TracerComm => comm(tracer),
                    Label::TraceeComm => comm(tracee),
                    Label::TracerUid => uid(tracer),
                    Label::TraceeUid => uid(tracee),
                    Label::TracerContainer => self.containers.value(containers.0).to_string(),
                    Label::TraceeContainer => self.containers.value(containers.1).to_string(),
                    Label::TracerPod => self.containers.value(pods.0).to_string(),
                    Label::TraceePod => self.containers.value(pods.1).to_string(),
                }
            });
        }
        let c = self.metrics.events.with_label_values(values);
        self.events.insert(key, c.clone());
        (c, folded)
    }

    /// The first latency of a slot: its share of the delivery histogram (or,
    /// for an answer, of the permission histogram), then the observation.
    #[cold]
    fn first_latency(&mut self, i: usize, r: &Record, ns: u64) {
        let tracer_comm = r.tracer.as_ref().map(|p| p.comm).unwrap_or_default();
        let kind = kind_of(r.event_type);
        let answer = r.fa_response;
        let fa_resp = r.event_type == EventType::FaResp;
        let (seen, tag) = if fa_resp { (&mut self.permission, answer as u8) } else { (&mut self.delivery, kind) };
        let folded = !seen.contains(&(tag, tracer_comm, false)) && seen.len() >= self.max_series;
        seen.insert(if folded { (tag, Comm::default(), true) } else { (tag, tracer_comm, false) });
        let comm = if folded { OTHER.to_string() } else { comm_label(&tracer_comm) };
        let mut local = if fa_resp {
            self.metrics.permission.local(vec![comm, answer.as_str().to_string()])
        } else {
            self.metrics.delivery.local(vec![kind_str(kind).to_string(), comm])
        };
        local.observe(ns);
        let slot = &mut self.slots[i];
        slot.latency = Some(local);
        slot.folds += u8::from(folded);
        self.folded += u64::from(folded);
    }

    /// Publishes what the slots counted since the last flush.
    fn flush_slots(&mut self) {
        for s in self.slots.iter_mut() {
            if s.count > 0 {
                s.events.inc_by(s.count);
                s.count = 0;
            }
            if let Some(h) = &mut s.latency {
                h.flush();
            }
        }
    }

    /// Publishes the local counts, the loss counters and (at most once a second) the
    /// table occupancy.
    pub fn flush(&mut self, tracer: Option<&dyn Tracer>) {
        self.flush_slots();
        if self.folded > 0 {
            self.metrics.folded.inc_by(self.folded);
            self.folded = 0;
        }
        let Some(tracer) = tracer else { return };
        let lost = tracer.lost();
        if lost != self.lost_seen {
            let d = lost.since(&self.lost_seen);
            for (cause, n) in [("ringbuf", d.ringbuf), ("untracked", d.untracked), ("undecodable", d.undecodable)] {
                if n > 0 {
                    self.metrics.lost.with_label_values(&[cause]).inc_by(n);
                }
            }
            for (cause, n) in [("close", d.discarded.at_close), ("copy", d.discarded.copy_failed)] {
                if n > 0 {
                    self.metrics.discarded.with_label_values(&[cause]).inc_by(n);
                }
            }
            self.lost_seen = lost;
        }
        if Instant::now() >= self.next_tables {
            for t in tracer.tables() {
                self.metrics.table_entries.with_label_values(&[t.name]).set(t.entries as i64);
                self.metrics.table_capacity.with_label_values(&[t.name]).set(t.capacity as i64);
            }
            self.next_tables = Instant::now() + Duration::from_secs(1);
        }
    }

    /// Creates every loss cause's series at 0, so rate() works from the first scrape.
    pub fn init_lost(&self) {
        for cause in ["ringbuf", "untracked", "undecodable"] {
            self.metrics.lost.with_label_values(&[cause]);
        }
        for cause in ["close", "copy"] {
            self.metrics.discarded.with_label_values(&[cause]);
        }
    }
}

fn uid_label(uid: u32) -> String {
    if uid == u32::MAX {
        String::new()
    } else {
        uid.to_string()
    }
}


/// What `--metrics` started for the trace loop: its recorder; the threads live on.
pub fn start_for_trace(addr: SocketAddr, options: &Options, backend: &str) -> Option<Recorder> {
    let metrics = match Metrics::new(&options.labels.0, backend) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("fsnotify-gadget: warning: metrics: {e}; tracing goes on without /metrics");
            return None;
        }
    };
    // The first scan before the first scrape: a limit of 0 would fire every alert.
    inventory::refresh(&metrics.inventory);
    let bound = match http::spawn(addr, metrics.clone()) {
        Ok(bound) => bound,
        Err(e) => {
            eprintln!("fsnotify-gadget: warning: metrics: cannot listen on {addr}: {e}; tracing goes on without /metrics");
            return None;
        }
    };
    eprintln!("fsnotify-gadget: metrics on http://{bound}/metrics");
    inventory::spawn(metrics.clone(), options.inventory_every);
    let r = Recorder::new(metrics, options.max_series);
    r.init_lost();
    Some(r)
}

/// `fsnotify-gadget serve`: /metrics with the inventory gauges, until a signal or the timeout.
pub fn serve(args: &ServeOptions) -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let missing = crate::privileges::missing(crate::privileges::effective_caps(&status).unwrap_or(0));
    if !missing.is_empty() {
        anyhow::bail!(
            "missing {} (or CAP_SYS_ADMIN): `serve` reads every process's fdinfo and runs a BPF iterator; run it as root",
            missing.join(" and ")
        );
    }
    crate::backend::quiet_libbpf();
    let metrics = Arc::new(Metrics::new(&args.options.labels.0, "none").map_err(|e| anyhow::anyhow!("metrics: {e}"))?);
    // The first scan before the first scrape: a limit of 0 would fire every alert.
    inventory::refresh(&metrics.inventory);
    let mut next = Instant::now() + args.options.inventory_every;
    let bound = http::spawn(args.addr, metrics.clone()).map_err(|e| anyhow::anyhow!("metrics: cannot listen on {}: {e}", args.addr))?;
    eprintln!("fsnotify-gadget: serving the inventory on http://{bound}/metrics; Ctrl-C stops");
    http::install_stop_handlers();
    let deadline = args.timeout.map(|t| Instant::now() + t);
    while !http::stopped() && deadline.is_none_or(|d| Instant::now() < d) {
        if Instant::now() >= next {
            inventory::refresh(&metrics.inventory);
            next = Instant::now() + args.options.inventory_every;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FaResponse, Proc};

    fn record(t: EventType, tracer: &str, tracee: &str, latency_ns: u64) -> Record {
        let mut r = Record::new(t, 1);
        r.tracer = Some(Proc { comm: tracer.into(), uid: 1000, ..Default::default() });
        r.tracee = Some(Proc { comm: tracee.into(), ..Default::default() });
        r.latency_ns = Some(latency_ns);
        r
    }

    #[test]
    fn labels_parse_in_a_fixed_order() {
        assert_eq!(parse_labels("tracee_comm,tracer_comm").unwrap().0, vec![Label::TracerComm, Label::TraceeComm]);
        assert_eq!(parse_labels("none").unwrap().0, vec![]);
        assert!(parse_labels("tracer_comm,container").unwrap_err().contains("unknown metrics label 'container'"));
        assert!(parse_labels("pod").unwrap_err().contains("tracer_container, tracee_container, tracer_pod, tracee_pod, none)"));
        assert_eq!(
            parse_labels("tracee_pod,tracee_container,tracer_comm").unwrap().0,
            vec![Label::TracerComm, Label::TraceeContainer, Label::TraceePod]
        );
    }

    fn container(id: &str, name: Option<&str>) -> Arc<Container> {
        Arc::new(Container { id: id.into(), name: name.map(String::from), runtime: Some("podman"), ..Default::default() })
    }

    /// An inotify record read on the host's side or in `tracer`, caused in `tracee`.
    fn in_containers(tracer: Option<&Arc<Container>>, tracee: Option<&Arc<Container>>) -> Record {
        let mut r = record(EventType::Inotify, "inotifywait", "touch", 5_000);
        r.tracer.as_mut().unwrap().container = tracer.cloned();
        r.tracee.as_mut().unwrap().container = tracee.cloned();
        r
    }

    #[test]
    fn records_are_counted_by_container_and_a_nameless_one_by_its_id() {
        let m = Arc::new(Metrics::new(&[Label::TracerContainer, Label::TraceeContainer], "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 100);
        let web = container(&"a".repeat(64), Some("web"));
        let bare = container("0123456789abcdef0123", None);
        for _ in 0..3 {
            rec.observe(&in_containers(None, Some(&web)));
        }
        // The same container as a rescan of the runtimes gives it: a new shared value.
        rec.observe(&in_containers(None, Some(&Arc::new((*web).clone()))));
        rec.observe(&in_containers(None, Some(&bare)));
        rec.observe(&in_containers(None, Some(&bare)));
        rec.observe(&in_containers(None, None));
        let mut no_tracee = in_containers(None, None);
        no_tracee.tracee = None;
        rec.observe(&no_tracee);
        rec.observe(&in_containers(Some(&web), None));
        rec.observe(&in_containers(Some(&bare), Some(&web)));
        rec.flush(None);
        let text = m.encode();
        let series = |tracer: &str, tracee: &str, n: u64| {
            format!("fsnotify_gadget_events_total{{tracee_container=\"{tracee}\",tracer_container=\"{tracer}\",type=\"inotify\"}} {n}\n")
        };
        for want in [series("", "web", 4), series("", "0123456789ab", 2), series("", "", 2), series("web", "", 1), series("0123456789ab", "web", 1)] {
            assert!(text.contains(&want), "no {want} in {text}");
        }
        assert_eq!(text.lines().filter(|l| l.starts_with("fsnotify_gadget_events_total{")).count(), 5, "{text}");
        assert!(text.contains("fsnotify_gadget_metrics_folded_total 0"), "{text}");
        assert_eq!(rec.containers.values, ["", "web", "0123456789ab"], "one value per container, whatever its shared values");
    }

    #[test]
    fn a_kubernetes_container_is_labelled_by_its_pod() {
        let m = Arc::new(Metrics::new(&[Label::TraceeContainer, Label::TraceePod], "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 100);
        let k8s = crate::containers::K8s { namespace: Some("prod".into()), pod: Some("web-0".into()), container: Some("app".into()), pod_uid: None };
        let app = Arc::new(Container { id: "b".repeat(64), name: Some("app".into()), runtime: Some("containerd"), k8s: Some(k8s), ..Default::default() });
        let plain = container(&"c".repeat(64), Some("db"));
        rec.observe(&in_containers(None, Some(&app)));
        rec.observe(&in_containers(None, Some(&app)));
        rec.observe(&in_containers(Some(&app), Some(&plain)));
        rec.observe(&in_containers(Some(&app), None));
        rec.flush(None);
        let text = m.encode();
        // The tracer's container is no label here: the last two differ by their tracee only.
        for want in [
            r#"fsnotify_gadget_events_total{tracee_container="app",tracee_pod="prod/web-0",type="inotify"} 2"#,
            r#"fsnotify_gadget_events_total{tracee_container="db",tracee_pod="",type="inotify"} 1"#,
            r#"fsnotify_gadget_events_total{tracee_container="",tracee_pod="",type="inotify"} 1"#,
        ] {
            assert!(text.contains(&format!("{want}\n")), "no {want} in {text}");
        }
        assert_eq!(text.lines().filter(|l| l.starts_with("fsnotify_gadget_events_total{")).count(), 3, "{text}");
    }

    /// Comms, container names and pods reach the exposition as the columns show
    /// them: no ESC, BEL, CR, U+202E or byte that is not UTF-8 raw, and two comms
    /// that differ in bytes that are not UTF-8 stay two series.
    #[test]
    fn hostile_label_values_are_escaped_as_the_columns_escape_names() {
        let labels = [Label::TracerComm, Label::TraceeComm, Label::TracerContainer, Label::TraceePod];
        let m = Arc::new(Metrics::new(&labels, "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 100);
        let k8s = crate::containers::K8s { namespace: Some("ns\x07".into()), pod: Some("p\u{202e}od".into()), container: None, pod_uid: None };
        let ctr = Arc::new(Container { id: "d".repeat(64), name: Some("web\x1b]0;x\x07\r".into()), k8s: Some(k8s), ..Default::default() });
        for tracee in [&b"t\xff\\"[..], &b"t\xfe\\"[..]] {
            let mut r = in_containers(Some(&ctr), Some(&ctr));
            r.tracer.as_mut().unwrap().comm = Comm::new(b"w\x1b[2J\x07\r\xe2\x80\xae");
            r.tracee.as_mut().unwrap().comm = Comm::new(tracee);
            rec.observe(&r);
        }
        rec.flush(None);
        let text = m.encode();
        // The text format doubles each backslash of the escaped values.
        for t in [r"t\\xff\\\\", r"t\\xfe\\\\"] {
            let want = format!(
                r#"fsnotify_gadget_events_total{{tracee_comm="{t}",tracee_pod="ns\\x07/p\\u{{202e}}od",tracer_comm="w\\x1b[2J\\x07\\r\\u{{202e}}",tracer_container="web\\x1b]0;x\\x07\\r",type="inotify"}} 1"#
            );
            assert!(text.contains(&format!("{want}\n")), "no {want} in {text}");
        }
        assert!(text.contains(r#"fsnotify_gadget_delivery_latency_seconds_count{tracer_comm="w\\x1b[2J\\x07\\r\\u{202e}",type="inotify"} 2"#), "{text}");
        for raw in ['\x1b', '\x07', '\r', '\u{202e}', '\u{fffd}'] {
            assert!(!text.contains(raw), "{raw:?} in {text}");
        }
    }

    #[test]
    fn container_values_past_the_bound_are_folded() {
        // At most 4 label sets and so at most 4 container names: the 5th name is
        // folded while the series are still below their bound.
        let m = Arc::new(Metrics::new(&[Label::TracerContainer, Label::TraceeContainer], "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 4);
        let [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(|n| container(&n.repeat(64), Some(n)));
        rec.observe(&in_containers(Some(&a), Some(&b)));
        rec.observe(&in_containers(Some(&b), Some(&a)));
        rec.observe(&in_containers(Some(&c), Some(&d)));
        rec.observe(&in_containers(Some(&e), Some(&a)));
        rec.observe(&in_containers(Some(&a), Some(&b)));
        // The 4th series was `other`: past the bound of series, names already
        // interned are folded too.
        rec.observe(&in_containers(Some(&c), Some(&a)));
        rec.flush(None);
        let text = m.encode();
        for want in [
            r#"fsnotify_gadget_events_total{tracee_container="b",tracer_container="a",type="inotify"} 2"#,
            r#"fsnotify_gadget_events_total{tracee_container="a",tracer_container="b",type="inotify"} 1"#,
            r#"fsnotify_gadget_events_total{tracee_container="d",tracer_container="c",type="inotify"} 1"#,
            r#"fsnotify_gadget_events_total{tracee_container="other",tracer_container="other",type="inotify"} 2"#,
            "fsnotify_gadget_metrics_folded_total 2",
        ] {
            assert!(text.contains(&format!("{want}\n")), "no {want} in {text}");
        }
        assert_eq!(text.lines().filter(|l| l.starts_with("fsnotify_gadget_events_total{")).count(), 4, "{text}");
        assert_eq!(rec.containers.values, ["", "a", "b", "c", "d"]);
    }

    #[test]
    fn comms_that_run_together_alike_are_two_series() {
        let m = Arc::new(Metrics::new(&[Label::TracerComm, Label::TraceeComm], "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 100);
        rec.observe(&record(EventType::Inotify, "ab", "c", 5_000));
        rec.observe(&record(EventType::Inotify, "a", "bc", 5_000));
        rec.observe(&record(EventType::Inotify, "a", "bc", 5_000));
        rec.flush(None);
        let text = m.encode();
        assert!(text.contains("fsnotify_gadget_events_total{tracee_comm=\"c\",tracer_comm=\"ab\",type=\"inotify\"} 1\n"), "{text}");
        assert!(text.contains("fsnotify_gadget_events_total{tracee_comm=\"bc\",tracer_comm=\"a\",type=\"inotify\"} 2\n"), "{text}");
    }

    #[test]
    fn the_table_of_shared_values_stays_bounded_and_keeps_the_counts() {
        let m = Arc::new(Metrics::new(&[Label::TraceeContainer], "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 10);
        let web = container(&"a".repeat(64), Some("web"));
        // Every rescan of the runtimes makes new shared values of the same containers.
        let n = INTERNED_CONTAINERS + 100;
        for _ in 0..n {
            rec.observe(&in_containers(None, Some(&Arc::new((*web).clone()))));
        }
        assert!(rec.containers.by_ptr.len() <= INTERNED_CONTAINERS, "{}", rec.containers.by_ptr.len());
        rec.flush(None);
        let text = m.encode();
        let want = format!("fsnotify_gadget_events_total{{tracee_container=\"web\",type=\"inotify\"}} {n}\n");
        assert!(text.contains(&want), "no {want} in {text}");
    }

    /// The events_total and delivery-histogram lines of a scrape, sorted.
    fn counted(m: &Metrics) -> Vec<String> {
        let text = m.encode();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("fsnotify_gadget_events_total{") || l.starts_with("fsnotify_gadget_delivery_latency_seconds_count{"))
            .map(String::from)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn a_latency_is_counted_from_the_first_record_that_has_one() {
        let m = Arc::new(Metrics::new(&[Label::TracerUid, Label::TraceeComm], "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 100);
        let mut no_latency = record(EventType::Inotify, "inotifywait", "touch", 0);
        no_latency.latency_ns = None;
        rec.observe(&no_latency);
        rec.flush(None);
        assert_eq!(counted(&m), [r#"fsnotify_gadget_events_total{tracee_comm="touch",tracer_uid="1000",type="inotify"} 1"#]);
        rec.observe(&record(EventType::Inotify, "inotifywait", "touch", 3_000));
        rec.observe(&no_latency);
        rec.observe(&record(EventType::Inotify, "inotifywait", "touch", 5_000));
        // No tracer: its uid is no value, its comm the empty one.
        let mut no_tracer = record(EventType::Inotify, "-", "touch", 7_000);
        no_tracer.tracer = None;
        rec.observe(&no_tracer);
        rec.flush(None);
        assert_eq!(
            counted(&m),
            [
                r#"fsnotify_gadget_delivery_latency_seconds_count{tracer_comm="",type="inotify"} 1"#,
                r#"fsnotify_gadget_delivery_latency_seconds_count{tracer_comm="inotifywait",type="inotify"} 2"#,
                r#"fsnotify_gadget_events_total{tracee_comm="touch",tracer_uid="",type="inotify"} 1"#,
                r#"fsnotify_gadget_events_total{tracee_comm="touch",tracer_uid="1000",type="inotify"} 4"#,
            ]
        );
        // 3 µs and 5 µs: one in the bucket up to 4 µs, both in the one up to 16 µs.
        let text = m.encode();
        for (le, n) in [("0.000001", 0), ("0.000004", 1), ("0.000016", 2)] {
            let want = format!("fsnotify_gadget_delivery_latency_seconds_bucket{{tracer_comm=\"inotifywait\",type=\"inotify\",le=\"{le}\"}} {n}\n");
            assert!(text.contains(&want), "no {want} in {text}");
        }
    }

    #[test]
    fn a_tracer_told_apart_by_its_histogram_alone_shares_the_event_series() {
        // No comm is a label of events_total, but the histograms are labelled
        // by the tracer's comm and the answer.
        let m = Arc::new(Metrics::new(&[], "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 100);
        for (tracer, answer, n) in [("a", FaResponse::Allow, 2), ("b", FaResponse::Allow, 1), ("a", FaResponse::Deny, 3)] {
            for _ in 0..n {
                let mut r = record(EventType::FaResp, tracer, "cat", 1_000);
                r.fa_response = answer;
                rec.observe(&r);
            }
        }
        rec.flush(None);
        let text = m.encode();
        assert!(text.contains("fsnotify_gadget_events_total{type=\"fa_resp\"} 6\n"), "{text}");
        for want in [r#"{answer="allow",tracer_comm="a"} 2"#, r#"{answer="allow",tracer_comm="b"} 1"#, r#"{answer="deny",tracer_comm="a"} 3"#] {
            assert!(text.contains(&format!("fsnotify_gadget_permission_latency_seconds_count{want}\n")), "no {want} in {text}");
        }
    }

    #[test]
    fn the_table_of_slots_stays_bounded_and_keeps_the_counts() {
        // 2 series at most (and `other`), so at most 4 * 2 + 64 = 72 slots:
        // 500 tracees make 500 keys, all but the first two folded.
        let m = Arc::new(Metrics::new(&[Label::TraceeComm], "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 2);
        for round in 0..3 {
            for i in 0..500 {
                rec.observe(&record(EventType::Inotify, "inotifywait", &format!("t{i}"), 1_000));
                assert!(rec.slots.len() <= 72, "{} slots in round {round}", rec.slots.len());
            }
        }
        rec.flush(None);
        assert_eq!(
            counted(&m),
            [
                r#"fsnotify_gadget_delivery_latency_seconds_count{tracer_comm="inotifywait",type="inotify"} 1500"#,
                r#"fsnotify_gadget_events_total{tracee_comm="other",type="inotify"} 1494"#,
                r#"fsnotify_gadget_events_total{tracee_comm="t0",type="inotify"} 3"#,
                r#"fsnotify_gadget_events_total{tracee_comm="t1",type="inotify"} 3"#,
            ]
        );
        assert!(m.encode().contains("fsnotify_gadget_metrics_folded_total 1494\n"));
    }

    #[test]
    fn records_are_counted_by_the_chosen_labels_and_folded_past_the_bound() {
        let m = Arc::new(Metrics::new(&[Label::TracerComm, Label::TraceeComm], "test").unwrap());
        let mut rec = Recorder::new(m.clone(), 2);
        for _ in 0..3 {
            rec.observe(&record(EventType::Inotify, "inotifywait", "touch", 5_000));
        }
        rec.observe(&record(EventType::Fanotify, "fatrace", "cat", 5_000));
        rec.observe(&record(EventType::Inotify, "a\"b\nc", "x", 5_000));
        let mut resp = record(EventType::FaResp, "fsg-fanotify-pe", "cat", 2_000_000);
        resp.fa_response = FaResponse::Deny;
        rec.observe(&resp);
        rec.flush(None);
        let text = m.encode();
        assert!(text.contains(r#"fsnotify_gadget_events_total{tracee_comm="touch",tracer_comm="inotifywait",type="inotify"} 3"#), "{text}");
        assert!(text.contains(r#"fsnotify_gadget_events_total{tracee_comm="cat",tracer_comm="fatrace",type="fanotify"} 1"#), "{text}");
        // The third label set and the answer went past the bound of 2, and so did the
        // third tracer of the delivery histogram.
        assert!(text.contains(r#"fsnotify_gadget_events_total{tracee_comm="other",tracer_comm="other",type="inotify"} 1"#), "{text}");
        assert!(text.contains(r#"fsnotify_gadget_events_total{tracee_comm="other",tracer_comm="other",type="fa_resp"} 1"#), "{text}");
        assert!(text.contains("fsnotify_gadget_metrics_folded_total 3"), "{text}");
        assert!(text.contains(r#"fsnotify_gadget_permission_latency_seconds_bucket{answer="deny",tracer_comm="fsg-fanotify-pe",le="0.004096"} 1"#), "{text}");
        assert!(text.contains(r#"fsnotify_gadget_delivery_latency_seconds_count{tracer_comm="inotifywait",type="inotify"} 3"#), "{text}");
    }
}
