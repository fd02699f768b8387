//! Turns the tracker's slots into distributions (HdrHistogram, 3 significant digits,
//! 1 µs to 1 h), the per-stage breakdown, the timeline and the histogram buckets.

use crate::{
    report::{Bucket, ErrorCount, Percentiles, Stages, Window},
    run::Engine,
    tracker::{ACCEPTED, DISPATCHED, DONE, FAILED, REVERTED, SENT, SlotView},
};
use hdrhistogram::Histogram;
use std::{io::Write, path::Path};

/// Largest latency tracked, µs (one hour).
const MAX_TRACKED_US: u64 = 3_600_000_000;
/// At most this many timeline windows.
const MAX_WINDOWS: f64 = 120.0;
/// Window widths the timeline picks from, seconds.
const WINDOW_WIDTHS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_US, sigfig).expect("static histogram bounds")
}

/// Percentiles of `h`.
pub(crate) fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: h.len(),
        min: h.min(),
        mean: (h.mean() * 10.0).round() / 10.0,
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

/// Counts and distributions of one run.
pub(crate) struct Measured {
    pub(crate) dispatched: u64,
    pub(crate) sent: u64,
    pub(crate) accepted: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) incomplete: u64,
    pub(crate) reverted: u64,
    pub(crate) duration_s: f64,
    pub(crate) latency: Histogram<u64>,
    pub(crate) service: Histogram<u64>,
    pub(crate) send_lag: Histogram<u64>,
    pub(crate) stages: Option<Stages>,
    pub(crate) timeline: Vec<Window>,
    pub(crate) errors: Vec<ErrorCount>,
}

fn ns_to_us(ns: u64) -> u64 {
    ns / 1000
}

/// Measures a finished run.
pub(crate) fn measure(engine: &Engine, dispatch_end_ns: u64) -> Measured {
    let t = &engine.tracker;
    let start_epoch_us = t.clock.start_epoch_us;
    let mut latency = histogram(3);
    let mut service = histogram(3);
    let mut send_lag = histogram(3);
    let mut stage_h: Vec<Histogram<u64>> = (0..7).map(|_| histogram(3)).collect();
    let mut with_stamps = 0u64;
    let (mut dispatched, mut sent, mut accepted, mut completed, mut failed, mut reverted) =
        (0, 0, 0, 0, 0, 0);
    let mut last_ns = 0u64;
    let views: Vec<SlotView> = (0..t.len()).map(|i| t.view(i)).collect();
    for v in &views {
        if !v.has(DISPATCHED) {
            continue;
        }
        dispatched += 1;
        if v.has(SENT) {
            sent += 1;
            send_lag.saturating_record(ns_to_us(v.sent_ns.saturating_sub(v.intended_ns)).max(1));
        }
        if v.has(ACCEPTED) {
            accepted += 1;
        }
        if v.has(FAILED) {
            failed += 1;
            last_ns = last_ns.max(v.done_ns);
        }
        if v.has(DONE) {
            completed += 1;
            if v.has(REVERTED) {
                reverted += 1;
            }
            last_ns = last_ns.max(v.done_ns);
            latency.saturating_record(ns_to_us(v.done_ns.saturating_sub(v.intended_ns)).max(1));
            service.saturating_record(ns_to_us(v.done_ns.saturating_sub(v.sent_ns)).max(1));
            if let Some(s) = v.stamps {
                with_stamps += 1;
                let client_sent_us = start_epoch_us + ns_to_us(v.sent_ns);
                let d = |a: u64, b: u64| b.saturating_sub(a).max(1);
                stage_h[0].saturating_record(d(client_sent_us, s.received));
                stage_h[1].saturating_record(d(s.received, s.ordered));
                stage_h[2].saturating_record(d(s.ordered, s.executed));
                stage_h[3].saturating_record(d(s.executed, s.signed));
                stage_h[4].saturating_record(d(s.signed, s.sent));
                stage_h[5].saturating_record(d(s.sent, v.arrival_epoch_us));
                stage_h[6].saturating_record(d(s.received, s.sent));
            }
        }
    }
    let incomplete = dispatched - completed - failed;
    let duration_s = (last_ns.max(dispatch_end_ns) as f64 / 1e9).max(1e-6);
    let stages = (with_stamps > 0).then(|| Stages {
        client_to_ingress: percentiles(&stage_h[0]),
        ingress_to_ordered: percentiles(&stage_h[1]),
        ordered_to_executed: percentiles(&stage_h[2]),
        executed_to_signed: percentiles(&stage_h[3]),
        signed_to_sent: percentiles(&stage_h[4]),
        sent_to_client_received: percentiles(&stage_h[5]),
        ingress_to_sent: percentiles(&stage_h[6]),
    });
    let timeline = timeline(&views, dispatch_end_ns);
    let mut errors: Vec<ErrorCount> = t
        .errors
        .lock()
        .entries
        .iter()
        .map(|(class, example, count)| ErrorCount {
            code: class.code,
            class: class.class.clone(),
            count: *count,
            example: example.clone(),
        })
        .collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.count));
    Measured {
        dispatched,
        sent,
        accepted,
        completed,
        failed,
        incomplete,
        reverted,
        duration_s,
        latency,
        service,
        send_lag,
        stages,
        timeline,
        errors,
    }
}

fn timeline(views: &[SlotView], dispatch_end_ns: u64) -> Vec<Window> {
    let span_s = dispatch_end_ns as f64 / 1e9;
    let width = WINDOW_WIDTHS
        .iter()
        .copied()
        .find(|w| span_s / w <= MAX_WINDOWS)
        .unwrap_or(60.0);
    let n = ((span_s / width).ceil() as usize).max(1);
    let mut hists: Vec<Histogram<u64>> = (0..n).map(|_| histogram(2)).collect();
    let mut failed = vec![0u64; n];
    let mut done_in = vec![0u64; n];
    let width_ns = width * 1e9;
    let win = |ns: u64| ((ns as f64 / width_ns) as usize).min(n - 1);
    for v in views {
        if !v.has(DISPATCHED) {
            continue;
        }
        let w = win(v.intended_ns);
        if v.has(DONE) {
            hists[w].saturating_record(ns_to_us(v.done_ns.saturating_sub(v.intended_ns)).max(1));
            let d = (v.done_ns as f64 / width_ns) as usize;
            if d < n {
                done_in[d] += 1;
            }
        } else if v.has(FAILED) {
            failed[w] += 1;
        }
    }
    hists
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let p = percentiles(h);
            Window {
                t_s: (i as f64 * width * 1000.0).round() / 1000.0,
                width_s: width,
                count: p.count,
                failed: failed[i],
                completed_tps: done_in[i] as f64 / width,
                p50_us: p.p50,
                p90_us: p.p90,
                p99_us: p.p99,
                max_us: p.max,
            }
        })
        .collect()
}

/// Log-spaced buckets (ten per decade) covering the distribution.
pub(crate) fn buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let lo_exp = ((h.min().max(1) as f64).log10() * 10.0).floor() as i32;
    let hi_exp = ((h.max().max(1) as f64).log10() * 10.0).floor() as i32 + 1;
    let edge = |e: i32| 10f64.powf(e as f64 / 10.0).round() as u64;
    let mut edges: Vec<u64> = (lo_exp..=hi_exp).map(edge).collect();
    edges.dedup();
    if edges[0] > h.min() {
        edges.insert(0, h.min());
    }
    if *edges.last().expect("at least one edge") <= h.max() {
        edges.push(h.max() + 1);
    }
    let mut out: Vec<Bucket> = edges
        .windows(2)
        .map(|w| Bucket {
            lo_us: w[0],
            hi_us: w[1],
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        let value = h.median_equivalent(v.value_iterated_to());
        let k = out.partition_point(|b| b.hi_us <= value).min(out.len() - 1);
        out[k].count += v.count_at_value();
    }
    out
}

/// Writes one CSV line per transaction.
pub(crate) fn write_samples(engine: &Engine, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        w,
        "index,account,nonce,kind,state,intended_us,sent_us,done_us,latency_us,service_us,hash,error"
    )?;
    let t = &engine.tracker;
    let errors = t.errors.lock();
    for i in 0..t.len() {
        let v = t.view(i);
        if !v.has(DISPATCHED) {
            continue;
        }
        let tx = &engine.workload.txs[i];
        let state = if v.has(DONE) {
            if v.has(REVERTED) {
                "reverted"
            } else {
                "confirmed"
            }
        } else if v.has(FAILED) {
            "failed"
        } else if v.has(SENT) {
            "incomplete"
        } else {
            "unsent"
        };
        let finished = v.has(DONE) || v.has(FAILED);
        let opt = |b: bool, x: u64| if b { x.to_string() } else { String::new() };
        let err = v
            .error
            .and_then(|e| errors.entries.get(e as usize))
            .map(|(c, _, _)| c.class.replace([',', '"', '\n'], " "))
            .unwrap_or_default();
        writeln!(
            w,
            "{i},{},{},{:?},{state},{},{},{},{},{},{},{err}",
            tx.account,
            tx.nonce,
            tx.kind,
            ns_to_us(v.intended_ns),
            opt(v.has(SENT), ns_to_us(v.sent_ns)),
            opt(finished, ns_to_us(v.done_ns)),
            opt(
                v.has(DONE),
                ns_to_us(v.done_ns.saturating_sub(v.intended_ns))
            ),
            opt(
                v.has(DONE) && v.has(SENT),
                ns_to_us(v.done_ns.saturating_sub(v.sent_ns))
            ),
            tx.hash,
        )?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = histogram(3);
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let p = percentiles(&h);
        assert_eq!((p.count, p.min, p.max), (1000, 1, 1000));
        assert_eq!(p.p50, 500);
        assert_eq!(p.p90, 900);
        assert_eq!(p.p99, 990);
        assert_eq!(p.p999, 999);
        assert!((p.mean - 500.5).abs() < 0.5);
        assert_eq!(percentiles(&histogram(3)), Percentiles::default());
    }

    #[test]
    fn buckets_cover_every_sample() {
        let mut h = histogram(3);
        for v in [3u64, 40, 41, 900, 12_345, 2_000_000] {
            h.record(v).unwrap();
        }
        let b = buckets(&h);
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 6);
        assert!(b.windows(2).all(|w| w[0].hi_us == w[1].lo_us));
    }
}
