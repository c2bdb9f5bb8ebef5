//! Prometheus text exposition (format 0.0.4) of a [`Snapshot`], a [`LatencyReport`] and the
//! admin thread's own counters, for the admin socket's `metrics` command and the optional
//! loopback `/metrics` listener.
//!
//! Every family gets its `# HELP` and `# TYPE` lines before its samples, and all samples of a
//! family are written together (the format requires it), in name order. Names are `carry_`
//! followed by `[a-z0-9_]`; anything else in a name coming from a [`MetricSample`] is replaced
//! by `_`. Label values are only ever venue ids, stage names, enum names and configured names
//! (pair, instrument, instance), which keeps series cardinality bounded; error text never
//! becomes a label. Decimal values are converted to `f64` here: these are gauges for charts,
//! never inputs to a decision.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::admin::snapshot::{MetricSample, MetricValue, Snapshot};
use crate::latency::{LatencyReport, ALL_VENUES};

/// The content type of the exposition, for HTTP responses.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus metric type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Summary,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
        }
    }
}

struct Family {
    help: String,
    kind: Kind,
    lines: String,
}

/// Families being assembled; rendered grouped and in name order.
#[derive(Default)]
pub struct Exposition {
    families: BTreeMap<String, Family>,
    /// Samples dropped because their name was already registered with another type.
    conflicts: u64,
}

/// `carry_` + `[a-z0-9_]` form of `raw` (the prefix is added unless already there).
pub fn metric_name(raw: &str) -> String {
    let mut name = String::with_capacity(raw.len() + 6);
    if !raw.starts_with("carry_") {
        name.push_str("carry_");
    }
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        name.push(
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            },
        );
    }
    name
}

fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

fn label_key_ok(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with("__")
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A sample value: exact integers for counters, floats for gauges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Adds one sample of family `family` (full `carry_...` name); `suffix` is appended to the
    /// sample name (`_sum`, `_count` of a summary, else empty).
    pub fn sample(
        &mut self,
        family: &str,
        suffix: &str,
        help: &str,
        kind: Kind,
        labels: &[(&str, &str)],
        value: Value,
    ) {
        let fam = self
            .families
            .entry(family.to_string())
            .or_insert_with(|| Family {
                help: escape_help(help),
                kind,
                lines: String::new(),
            });
        if fam.kind != kind {
            self.conflicts += 1;
            return;
        }
        let out = &mut fam.lines;
        out.push_str(family);
        out.push_str(suffix);
        let mut first = true;
        for (k, v) in labels.iter().filter(|(k, _)| label_key_ok(k)) {
            out.push(if first { '{' } else { ',' });
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label(out, v);
            out.push('"');
        }
        if !first {
            out.push('}');
        }
        out.push(' ');
        match value {
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Float(f) => write_value(out, f),
        }
        out.push('\n');
    }

    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        self.sample(name, "", help, Kind::Gauge, labels, Value::Float(v));
    }

    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], n: u64) {
        self.sample(name, "", help, Kind::Counter, labels, Value::Int(n));
    }

    fn decimal(&mut self, name: &str, help: &str, labels: &[(&str, &str)], d: Option<Decimal>) {
        if let Some(v) = d.and_then(|d| d.to_f64()) {
            self.gauge(name, help, labels, v);
        }
    }

    /// Adds a sample published by the engine or the admin thread.
    pub fn metric(&mut self, m: &MetricSample) {
        if m.name.is_empty() {
            return;
        }
        let name = metric_name(m.name);
        let labels: Vec<(&str, &str)> = m
            .labels()
            .iter()
            .map(|l| (l.key, l.value.as_str()))
            .collect();
        match m.value {
            MetricValue::Counter(n) => self.counter(&name, m.help, &labels, n),
            MetricValue::Gauge(v) => self.gauge(&name, m.help, &labels, v),
        }
    }

    /// The exposition text.
    pub fn render(&self, out: &mut String) {
        for (name, fam) in &self.families {
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {}", fam.kind.as_str());
            out.push_str(&fam.lines);
        }
    }

    /// Samples dropped because their family was registered with another type.
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Adds the engine snapshot's families.
pub fn add_snapshot(x: &mut Exposition, snap: &Snapshot) {
    let st = &snap.status;
    x.gauge(
        "carry_info",
        "Constant 1, labelled with the instance name and mode.",
        &[("instance", &st.instance), ("mode", st.mode.as_str())],
        1.0,
    );
    x.gauge(
        "carry_uptime_seconds",
        "Seconds since the engine started.",
        &[],
        st.uptime_s as f64,
    );
    x.counter(
        "carry_events_total",
        "Market events processed by the engine.",
        &[],
        st.events,
    );
    x.counter(
        "carry_intents_total",
        "Order intents journaled.",
        &[],
        st.intents,
    );
    x.counter("carry_fills_total", "Fills received.", &[], st.fills);
    x.counter(
        "carry_cycles_completed_total",
        "Pair cycles completed (entered and exited).",
        &[],
        st.cycles_completed,
    );
    x.gauge(
        "carry_events_per_second",
        "Market events per second over the engine's last window.",
        &[],
        st.events_per_s,
    );
    x.gauge(
        "carry_journal_seq",
        "Sequence number of the last journal record.",
        &[],
        st.journal_seq as f64,
    );
    x.gauge(
        "carry_paused",
        "1 while entries are paused by the operator.",
        &[],
        flag(st.paused),
    );

    for r in snap.spreads.iter() {
        let pair = [("pair", r.pair.as_str())];
        x.decimal(
            "carry_spread",
            "Funding spread per interval, short leg minus long leg.",
            &pair,
            r.spread,
        );
        x.decimal(
            "carry_spread_apr",
            "Annualized funding spread.",
            &pair,
            r.apr,
        );
        x.decimal(
            "carry_spread_net_apr",
            "Annualized funding spread after costs.",
            &pair,
            r.net_apr,
        );
        for (leg, venue, rate, stale) in [
            ("long", r.long_venue, r.long_rate, r.long_stale),
            ("short", r.short_venue, r.short_rate, r.short_stale),
        ] {
            let labels = [
                ("pair", r.pair.as_str()),
                ("leg", leg),
                ("venue", venue.as_str()),
            ];
            x.decimal(
                "carry_funding_rate",
                "Current funding rate of a pair's leg, per its own interval.",
                &labels,
                rate,
            );
            x.gauge(
                "carry_leg_stale",
                "1 while a pair's leg is stale.",
                &labels,
                flag(stale),
            );
        }
    }

    for p in snap.positions.iter() {
        let labels = [
            ("venue", p.venue.as_str()),
            ("instrument", p.instrument.as_str()),
        ];
        x.decimal(
            "carry_position_qty",
            "Position in base units, negative when short.",
            &labels,
            Some(p.qty),
        );
        x.decimal(
            "carry_position_entry_price",
            "Average entry price.",
            &labels,
            Some(p.entry),
        );
        x.decimal("carry_position_mark_price", "Mark price.", &labels, p.mark);
        x.decimal(
            "carry_position_liq_price",
            "Estimated liquidation price.",
            &labels,
            p.liq_price,
        );
        x.decimal(
            "carry_position_liq_distance",
            "Distance from mark to liquidation price, as a fraction of mark.",
            &labels,
            p.liq_distance,
        );
        x.decimal(
            "carry_position_margin_ratio",
            "Margin ratio of the position.",
            &labels,
            p.margin_ratio,
        );
    }

    for b in snap.breakers.iter() {
        x.gauge(
            "carry_breaker_tripped",
            "1 while a circuit breaker is tripped.",
            &[("breaker", b.name), ("scope", &b.scope), ("state", b.state)],
            flag(b.tripped),
        );
    }

    for c in snap.cycles.iter() {
        x.gauge(
            "carry_cycle_state",
            "1 for the current cycle state of a pair.",
            &[("pair", &c.pair), ("state", c.state)],
            1.0,
        );
        x.gauge(
            "carry_cycle_number",
            "Number of the current or last cycle of a pair.",
            &[("pair", &c.pair)],
            c.cycle as f64,
        );
    }

    for m in snap.metrics.iter() {
        x.metric(m);
    }
}

/// Adds the latency families: a summary per stage and venue (`venue="all"` aggregates).
pub fn add_latency(x: &mut Exposition, rep: &LatencyReport) {
    const HELP: &str = "Latency of a pipeline stage since start, in seconds.";
    for s in &rep.cumulative {
        let labels = [("stage", s.stage), ("venue", s.venue)];
        for (q, v) in [
            ("0.5", s.p50),
            ("0.9", s.p90),
            ("0.99", s.p99),
            ("0.999", s.p999),
        ] {
            x.sample(
                "carry_latency_seconds",
                "",
                HELP,
                Kind::Summary,
                &[labels[0], labels[1], ("quantile", q)],
                Value::Float(v as f64 / 1e9),
            );
        }
        x.sample(
            "carry_latency_seconds",
            "_sum",
            HELP,
            Kind::Summary,
            &labels,
            Value::Float(s.sum as f64 / 1e9),
        );
        x.sample(
            "carry_latency_seconds",
            "_count",
            HELP,
            Kind::Summary,
            &labels,
            Value::Int(s.count),
        );
        x.gauge(
            "carry_latency_max_seconds",
            "Largest latency of a pipeline stage since start, in seconds.",
            &labels,
            s.max as f64 / 1e9,
        );
    }
    for s in rep.last_interval.iter().filter(|s| s.venue == ALL_VENUES) {
        let labels = [("stage", s.stage)];
        x.gauge(
            "carry_latency_interval_p99_seconds",
            "99th percentile latency of a stage over the last interval, in seconds.",
            &labels,
            s.p99 as f64 / 1e9,
        );
        x.gauge(
            "carry_latency_interval_count",
            "Latency samples of a stage in the last interval.",
            &labels,
            s.count as f64,
        );
    }
    for (stage, n) in &rep.saturated {
        x.counter(
            "carry_latency_saturated_total",
            "Latency samples above the histogram bound (60 s), clamped to it.",
            &[("stage", stage)],
            *n,
        );
    }
    x.counter(
        "carry_latency_intervals_total",
        "Interval histogram sets merged by the admin thread.",
        &[],
        rep.intervals_merged,
    );
    x.counter(
        "carry_latency_deferred_publishes_total",
        "Interval publishes a recorder deferred because the admin thread held every spare set.",
        &[],
        rep.deferred_publishes,
    );
}

/// The whole metrics page: engine snapshot (when one was published), latency, admin counters.
pub fn render_prometheus(
    snap: Option<&Snapshot>,
    latency: &LatencyReport,
    admin: &[MetricSample],
) -> String {
    let mut x = Exposition::new();
    x.gauge(
        "carry_snapshot_available",
        "1 once the engine has published a snapshot.",
        &[],
        flag(snap.is_some()),
    );
    if let Some(s) = snap {
        add_snapshot(&mut x, s);
    }
    add_latency(&mut x, latency);
    for m in admin {
        x.metric(m);
    }
    let mut out = String::with_capacity(16 * 1024);
    x.render(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_sanitized() {
        assert_eq!(metric_name("feed_drops_total"), "carry_feed_drops_total");
        assert_eq!(metric_name("carry_x"), "carry_x");
        assert_eq!(metric_name("Feed-Drops.total"), "carry_feed_drops_total");
    }

    #[test]
    fn families_are_grouped_with_help_and_type_first() {
        let mut x = Exposition::new();
        x.counter("carry_b_total", "B.", &[("venue", "okx-perp")], 1);
        x.gauge("carry_a", "A.", &[], 0.5);
        x.counter("carry_b_total", "B.", &[("venue", "gate-spot")], 2);
        let mut out = String::new();
        x.render(&mut out);
        assert_eq!(
            out,
            "# HELP carry_a A.\n# TYPE carry_a gauge\ncarry_a 0.5\n\
             # HELP carry_b_total B.\n# TYPE carry_b_total counter\n\
             carry_b_total{venue=\"okx-perp\"} 1\ncarry_b_total{venue=\"gate-spot\"} 2\n"
        );
    }

    #[test]
    fn label_values_are_escaped_and_bad_keys_dropped() {
        let mut x = Exposition::new();
        x.gauge(
            "carry_g",
            "G.",
            &[("pair", "a\"b\\c\nd"), ("bad key", "x")],
            f64::INFINITY,
        );
        let mut out = String::new();
        x.render(&mut out);
        assert!(
            out.ends_with("carry_g{pair=\"a\\\"b\\\\c\\nd\"} +Inf\n"),
            "{out}"
        );
    }

    #[test]
    fn a_type_conflict_drops_the_sample() {
        let mut x = Exposition::new();
        x.gauge("carry_g", "G.", &[], 1.0);
        x.counter("carry_g", "G.", &[], 1);
        let mut out = String::new();
        x.render(&mut out);
        assert_eq!(x.conflicts(), 1);
        assert_eq!(out.lines().filter(|l| !l.starts_with('#')).count(), 1);
    }
}
