//! `-F/--filter EXPR`: conditions on any field `--fields` knows, all of which
//! a record must meet to be printed.
//!
//! EXPR is `FIELD OP VALUE` with OP one of `==`, `!=`, `~` (regular
//! expression, searched anywhere: anchor with `^`/`$`), `!~`, `>=`, `<=`.
//! A field is compared as it is printed: numbers as numbers (`0x` hex
//! allowed), masks by their names (`i_mask~IN_OPEN`), names and paths as
//! bytes. A field a record does not have (`null`) meets only `!=` and `!~`.
//!
//! The conditions the kernel can apply (a pid of either side, the event kind,
//! the group) are also handed to the backend, so that the other events are
//! not even sent; every condition is then checked in user space, which keeps
//! one meaning for all of them.

use regex::bytes::Regex;

use crate::backend::Filters;
use crate::fields::{self, Field, Value};
use crate::model::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Match,
    NoMatch,
    Ge,
    Le,
}

/// What a condition compares with.
#[derive(Debug, Clone)]
enum Operand {
    Text(Vec<u8>),
    Regex(Regex),
    Number(i128),
}

#[derive(Debug, Clone)]
pub struct Condition {
    field: &'static Field,
    /// For the flags about either side (`-c NAME`): the condition also holds
    /// when this field meets it.
    or_field: Option<&'static Field>,
    op: Op,
    operand: Operand,
    /// The text as given, for messages.
    pub expr: String,
}

/// A number as `--filter` takes it: decimal, or hex with `0x`.
fn number(s: &str) -> Option<i128> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i128::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses one EXPR; the error says what is wrong and what would be right.
pub fn parse(expr: &str) -> Result<Condition, String> {
    let name_end = expr.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_')).unwrap_or(expr.len());
    let (name, rest) = expr.split_at(name_end);
    let name = name.trim();
    let rest = rest.trim_start();
    let (op, value) = [("==", Op::Eq), ("!=", Op::Ne), ("!~", Op::NoMatch), (">=", Op::Ge), ("<=", Op::Le), ("~", Op::Match)]
        .iter()
        .find_map(|(text, op)| rest.strip_prefix(text).map(|v| (*op, v)))
        .ok_or_else(|| format!("'{expr}' is not FIELD==VALUE, FIELD!=VALUE, FIELD~REGEX, FIELD!~REGEX, FIELD>=N or FIELD<=N"))?;
    if name.is_empty() {
        return Err(format!("'{expr}' names no field before the operator"));
    }
    let field = fields::find(name).ok_or_else(|| format!("unknown field '{name}' in '{expr}': `fsnotify-gadget --help` lists them"))?;
    let operand = match op {
        Op::Match | Op::NoMatch => Operand::Regex(Regex::new(value).map_err(|e| format!("'{value}' in '{expr}' is not a regular expression: {e}"))?),
        Op::Ge | Op::Le => Operand::Number(number(value).ok_or_else(|| format!("'{value}' in '{expr}' is not a number"))?),
        Op::Eq | Op::Ne => Operand::Text(value.as_bytes().to_vec()),
    };
    Ok(Condition { field, or_field: None, op, operand, expr: expr.to_string() })
}

/// `FIELD==VALUE` on either of two fields (`tracer.container.name` or
/// `tracee.container.name`), as the flag `flag` asks it.
pub fn either(a: &str, b: &str, value: &str, flag: &str) -> Condition {
    let find = |n: &str| fields::find(n).unwrap_or_else(|| panic!("{n} is a field"));
    Condition {
        field: find(a),
        or_field: Some(find(b)),
        op: Op::Eq,
        operand: Operand::Text(value.as_bytes().to_vec()),
        expr: format!("{flag} {value}"),
    }
}

/// `FIELD==VALUE`, as the flag `flag` asks it.
pub fn equal(field: &str, value: &str, flag: &str) -> Condition {
    let field = fields::find(field).unwrap_or_else(|| panic!("{field} is a field"));
    Condition { field, or_field: None, op: Op::Eq, operand: Operand::Text(value.as_bytes().to_vec()), expr: format!("{flag} {value}") }
}

/// A value's number, when it is one.
fn value_number(v: &Value) -> Option<i128> {
    match *v {
        Value::U64(n) | Value::Hex(n) | Value::Time(n) | Value::Rfc3339(n) | Value::Latency(n) => Some(n.into()),
        Value::I64(n) => Some(n.into()),
        _ => None,
    }
}

/// A value as the text a condition matches: numbers in decimal (addresses as
/// `0x…`), masks by name; None for `null`.
fn value_text(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null | Value::Unknown => None,
        Value::U64(n) | Value::Time(n) | Value::Latency(n) => Some(n.to_string().into_bytes()),
        // As JSON prints it, so that a filter reads like the output.
        Value::Rfc3339(ns) => {
            let mut t = Vec::new();
            crate::output::time::TimeText::utc().push(*ns, crate::output::time::TimestampFormat::Rfc3339, &mut t);
            Some(t)
        }
        Value::NotApplicable(s) => Some(s.as_bytes().to_vec()),
        Value::I64(n) => Some(n.to_string().into_bytes()),
        Value::Hex(n) => Some(format!("{n:#x}").into_bytes()),
        Value::Decoded(d) => Some(d.text().into_bytes()),
        Value::Static(s) => Some(s.as_bytes().to_vec()),
        Value::Bytes(b) => Some(b.to_vec()),
    }
}

impl Condition {
    pub fn matches(&self, r: &Record) -> bool {
        self.holds_on(self.field, r) || self.or_field.is_some_and(|f| self.holds_on(f, r))
    }

    fn holds_on(&self, field: &'static Field, r: &Record) -> bool {
        let v = (field.get)(r);
        match (&self.operand, self.op) {
            (Operand::Number(n), Op::Ge) => value_number(&v).is_some_and(|x| x >= *n),
            (Operand::Number(n), Op::Le) => value_number(&v).is_some_and(|x| x <= *n),
            (Operand::Regex(re), op) => {
                let found = value_text(&v).is_some_and(|t| re.is_match(&t));
                found == (op == Op::Match)
            }
            (Operand::Text(want), op) => {
                let text = std::str::from_utf8(want).ok();
                // An address is hex with or without 0x, as --tracer-group takes it.
                let want_number = match v {
                    Value::Hex(_) => text.and_then(|t| crate::cli::parse_group(t).ok()).map(i128::from),
                    _ => text.and_then(number),
                };
                let equal = match (value_number(&v), want_number) {
                    (Some(x), Some(n)) => x == n,
                    _ => value_text(&v).is_some_and(|t| &t == want),
                };
                equal == (op == Op::Eq)
            }
            _ => false,
        }
    }

    /// The equality this condition states, as `(field name, value)`.
    fn equality(&self) -> Option<(&'static str, &[u8])> {
        match (&self.operand, self.op) {
            (Operand::Text(t), Op::Eq) if self.or_field.is_none() => Some((self.field.name, t)),
            _ => None,
        }
    }
}

/// Every condition must hold.
pub fn matches_all(conditions: &[Condition], r: &Record) -> bool {
    conditions.iter().all(|c| c.matches(r))
}

/// Narrows the kernel's filters by what the conditions make certain: the
/// equalities on `tracee.pid`, `tracer.pid`, `tracee.comm`, `tracer.comm`,
/// `tracee.cgroup_id`, `tracer.cgroup_id`, `fsnotify_group` and `type`.
/// Returns an error when they contradict a flag (or each other), which would
/// print nothing.
pub fn push_down(conditions: &[Condition], f: &mut Filters) -> Result<(), String> {
    for c in conditions {
        let Some((name, value)) = c.equality() else { continue };
        let text = String::from_utf8_lossy(value);
        let set = |slot: &mut Option<u32>, what: &str| -> Result<(), String> {
            let pid = crate::cli::parse_pid(&text).map_err(|e| format!("{}: {e}", c.expr))?;
            match slot {
                Some(p) if *p != pid => Err(format!("{} contradicts {what} {p}: nothing would be shown", c.expr)),
                _ => {
                    *slot = Some(pid);
                    Ok(())
                }
            }
        };
        match name {
            // A comm is at most 15 bytes in the kernel: a longer one is left to user space (it matches nothing).
            "tracee.comm" | "tracer.comm" if !value.is_empty() && value.len() < 16 => {
                let slot = if name == "tracee.comm" { &mut f.tracee_comm } else { &mut f.tracer_comm };
                let comm = crate::model::Comm::new(value);
                if slot.is_some_and(|have| have != comm) {
                    return Err(format!("{} contradicts another comm equality: nothing would be shown", c.expr));
                }
                *slot = Some(comm);
            }
            "tracee.cgroup_id" | "tracer.cgroup_id" => {
                let id: u64 = text.parse().ok().filter(|&id| id != 0).ok_or_else(|| format!("{}: a cgroup id is a positive number", c.expr))?;
                let slot = if name == "tracee.cgroup_id" { &mut f.tracee_cgroup } else { &mut f.tracer_cgroup };
                if slot.is_some_and(|have| have != id) {
                    return Err(format!("{} contradicts another cgroup id equality: nothing would be shown", c.expr));
                }
                *slot = Some(id);
            }
            "tracee.pid" => set(&mut f.tracee_pid, "the tracee pid")?,
            "tracer.pid" => set(&mut f.tracer_pid, "the tracer pid")?,
            "fsnotify_group" => {
                let g = crate::cli::parse_group(&text).map_err(|e| format!("{}: {e}", c.expr))?;
                if f.tracer_group.is_some_and(|have| have != g) {
                    return Err(format!("{} contradicts the group already chosen: nothing would be shown", c.expr));
                }
                f.tracer_group = Some(g);
            }
            "type" => match &*text {
                "inotify" => f.fanotify = false,
                "fanotify" | "fa_resp" => f.inotify = false,
                other => return Err(format!("{}: type is inotify, fanotify or fa_resp, not '{other}'", c.expr)),
            },
            _ => {}
        }
    }
    if !f.inotify && !f.fanotify {
        return Err("the filters leave neither inotify nor fanotify: nothing would be shown".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventType, Proc};

    fn record() -> Record {
        let mut r = Record::new(EventType::Inotify, 1_000);
        r.tracee = Some(Proc { pid: 42, comm: "python3".into(), ..Default::default() });
        r.tracer = Some(Proc { pid: 7, comm: "inotifywait".into(), ..Default::default() });
        r.i_mask = Some(0x20); // IN_OPEN
        r.latency_ns = Some(1_500_000);
        r.fsnotify_group = Some(0xffff_8881_0000_1000);
        r.name = b"nginx.conf".to_vec();
        r.path = Some(b"/etc/nginx/nginx.conf".to_vec());
        r
    }

    fn holds(expr: &str) -> bool {
        parse(expr).unwrap().matches(&record())
    }

    #[test]
    fn each_operator_on_each_kind_of_value() {
        assert!(holds("tracee.comm~^python"));
        assert!(!holds("tracee.comm!~^python"));
        assert!(holds("tracee_comm==python3"));
        assert!(holds("tracer.comm!=python3"));
        assert!(holds("path~^/etc/"));
        assert!(holds("type!=fa_resp"));
        assert!(holds("type==inotify"));
        assert!(holds("latency_ns>=1000000"));
        assert!(!holds("latency_ns<=1000000"));
        assert!(holds("i_mask~IN_OPEN"));
        assert!(holds("i_mask==IN_OPEN"));
        assert!(holds("tracee.pid==42"));
        assert!(holds("fsnotify_group==0xffff888100001000"));
        assert!(holds("fsnotify_group>=0x1"));
    }

    #[test]
    fn container_flags_match_their_side_or_either() {
        use crate::containers::{Container, K8s};
        let web = |name: &str| {
            let k8s = K8s { namespace: Some("prod".into()), pod: Some("web-0".into()), ..Default::default() };
            std::sync::Arc::new(Container { id: "1".repeat(64), name: Some(name.into()), k8s: Some(k8s), ..Default::default() })
        };
        let mut r = record();
        r.tracer.as_mut().unwrap().container = Some(web("av"));
        assert!(either("tracee.container.name", "tracer.container.name", "av", "-c").matches(&r));
        assert!(!either("tracee.container.name", "tracer.container.name", "db", "-c").matches(&r));
        assert!(equal("tracer.container.name", "av", "--tracer-container").matches(&r));
        assert!(!equal("tracee.container.name", "av", "--tracee-container").matches(&r), "the tracee is on the host");
        assert!(either("tracee.k8s.pod", "tracer.k8s.pod", "web-0", "--k8s-podname").matches(&r));
        assert!(!either("tracee.k8s.namespace", "tracer.k8s.namespace", "dev", "--k8s-namespace").matches(&r));
        r.tracee.as_mut().unwrap().container = Some(web("db"));
        assert!(either("tracee.container.name", "tracer.container.name", "db", "-c").matches(&r));
        assert!(parse("tracee.container.name==db").unwrap().matches(&r));
        assert!(parse("runtime.containerName==db").unwrap().matches(&r), "IG's name is the tracee's");
        let mut f = Filters { inotify: true, fanotify: true, ..Default::default() };
        push_down(&[either("tracee.pid", "tracer.pid", "42", "--either")], &mut f).unwrap();
        assert_eq!((f.tracee_pid, f.tracer_pid), (None, None), "an either-side condition is not one side's kernel filter");
    }

    #[test]
    fn a_missing_value_meets_only_the_negations() {
        assert!(!holds("fa_mask~FAN"));
        assert!(holds("fa_mask!~FAN"));
        assert!(!holds("fa_pid==0"));
        assert!(holds("fa_pid!=0"));
        assert!(!holds("fa_pid>=0"));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        assert!(parse("tracee.comm").unwrap_err().contains("FIELD==VALUE"));
        assert!(parse("bogus==1").unwrap_err().contains("unknown field 'bogus'"));
        assert!(parse("latency_ns>=fast").unwrap_err().contains("not a number"));
        assert!(parse("name~(").unwrap_err().contains("not a regular expression"));
        assert!(parse("==3").unwrap_err().contains("names no field"));
    }

    #[test]
    fn equalities_reach_the_kernel_filters() {
        let mut f = Filters { inotify: true, fanotify: true, ..Default::default() };
        let c: Vec<_> = ["tracee.pid==42", "type==inotify", "tracer.comm~x", "fsnotify_group==ff00"].iter().map(|e| parse(e).unwrap()).collect();
        push_down(&c, &mut f).unwrap();
        assert_eq!((f.tracee_pid, f.tracer_pid, f.tracer_group, f.inotify, f.fanotify), (Some(42), None, Some(0xff00), true, false));
        let mut f = Filters { inotify: true, fanotify: true, ..Default::default() };
        let c: Vec<_> = ["tracer.comm==inotifywait", "tracee_comm==touch", "tracee.comm~^x"].iter().map(|e| parse(e).unwrap()).collect();
        push_down(&c, &mut f).unwrap();
        assert_eq!((f.tracer_comm, f.tracee_comm), (Some("inotifywait".into()), Some("touch".into())));
        assert_eq!(&Filters::comm_bytes(&f.tracee_comm)[..6], &[b't' as std::ffi::c_char, b'o' as _, b'u' as _, b'c' as _, b'h' as _, 0]);
        let mut f = Filters { inotify: true, fanotify: true, ..Default::default() };
        push_down(&[parse("tracee.comm==a-name-longer-than-15").unwrap()], &mut f).unwrap();
        assert_eq!(f.tracee_comm, None, "a comm the kernel cannot hold stays in user space");
        let mut f = Filters { inotify: true, fanotify: true, ..Default::default() };
        push_down(&[parse("tracee.cgroup_id==7421").unwrap(), parse("tracer_cgroup_id==1").unwrap()], &mut f).unwrap();
        assert_eq!((f.tracee_cgroup, f.tracer_cgroup), (Some(7421), Some(1)));
        assert!(push_down(&[parse("tracee.cgroup_id==8").unwrap()], &mut f).unwrap_err().contains("contradicts"));
        let mut f = Filters { inotify: true, fanotify: true, tracee_pid: Some(1), ..Default::default() };
        assert!(push_down(&[parse("tracee.pid==2").unwrap()], &mut f).unwrap_err().contains("contradicts"));
        let mut f = Filters { inotify: true, fanotify: false, ..Default::default() };
        assert!(push_down(&[parse("type==fanotify").unwrap()], &mut f).unwrap_err().contains("nothing would be shown"));
    }
}
