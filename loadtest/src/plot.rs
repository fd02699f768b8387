//! Plots of a report: latency percentiles over time and the latency histogram, each as SVG
//! (text rendered by the viewer) and PNG (plotters' bitmap backend, text drawn with a
//! system TrueType font found at run time; without one the PNGs are skipped with a note).

use crate::report::Report;
use plotters::{coord::Shift, prelude::*, style::FontStyle};
use std::{
    fs::File,
    io::BufWriter,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// Plot size, pixels.
const SIZE: (u32, u32) = (1100, 620);
/// Where the PNG font is looked for (`PEREGRINE_LOADTEST_FONT` first).
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
];
const FONT: &str = "sans-serif";

/// Registers a TrueType font for the bitmap backend once; `false` if none was found.
fn bitmap_font() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let candidates = std::env::var("PEREGRINE_LOADTEST_FONT")
            .ok()
            .into_iter()
            .chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // The registry keeps the font for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

type Drawn = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn title(report: &Report) -> String {
    format!("{} — {}", report.target, report.workload_line())
}

fn draw_timeline<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Drawn {
    root.fill(&WHITE).map_err(err)?;
    let windows: Vec<_> = report.timeline.iter().filter(|w| w.count > 0).collect();
    let x_max = report
        .timeline
        .last()
        .map_or(1.0, |w| w.t_s + w.width_s)
        .max(0.1);
    let y_max = windows.iter().map(|w| w.max_us).max().unwrap_or(10).max(10) as f64 * 2.0;
    let y_min = windows.iter().map(|w| w.p50_us).min().unwrap_or(1).max(1) as f64 / 2.0;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Latency over time (from intended send) — {}", title(report)),
            (FONT, 16),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max, (y_min.max(0.5)..y_max).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since start (by intended send time)")
        .y_desc("latency, µs (log)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    type Pick = fn(&crate::report::Window) -> u64;
    let series: [(&str, RGBColor, Pick); 4] = [
        ("p50", RGBColor(31, 119, 180), |w| w.p50_us),
        ("p90", RGBColor(44, 160, 44), |w| w.p90_us),
        ("p99", RGBColor(255, 127, 14), |w| w.p99_us),
        ("max", RGBColor(214, 39, 40), |w| w.max_us),
    ];
    for (name, color, pick) in series {
        let points: Vec<(f64, f64)> = windows
            .iter()
            .map(|w| (w.t_s + w.width_s / 2.0, pick(w).max(1) as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 2, color.filled())),
            )
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn draw_histogram<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Drawn {
    root.fill(&WHITE).map_err(err)?;
    let b = &report.histogram;
    let x_min = b.first().map_or(1, |b| b.lo_us).max(1) as f64;
    let x_max = b.last().map_or(10, |b| b.hi_us).max(2) as f64;
    let y_max = b.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut chart = ChartBuilder::on(root)
        .caption(format!("Latency histogram — {}", title(report)), (FONT, 16))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d((x_min..x_max).log_scale(), 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency, µs (log, from intended send)")
        .y_desc("transactions")
        .x_labels(8)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let fill = RGBColor(31, 119, 180).mix(0.7).filled();
    chart
        .draw_series(b.iter().map(|b| {
            Rectangle::new(
                [
                    (b.lo_us.max(1) as f64, 0.0),
                    (b.hi_us as f64, b.count as f64),
                ],
                fill,
            )
        }))
        .map_err(err)?;
    let l = &report.latency_us;
    for (name, v, color) in [
        ("p50", l.p50, RGBColor(44, 160, 44)),
        ("p99", l.p99, RGBColor(255, 127, 14)),
        ("p99.9", l.p999, RGBColor(214, 39, 40)),
    ] {
        if l.count == 0 {
            break;
        }
        let x = (v.max(1) as f64).clamp(x_min, x_max);
        chart
            .draw_series(LineSeries::new(
                vec![(x, 0.0), (x, y_max)],
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("{name} = {v} µs"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn write_png(path: &Path, rgb: &[u8], (w, h): (u32, u32)) -> Result<(), String> {
    let file = File::create(path).map_err(err)?;
    let mut enc = png::Encoder::new(BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(rgb).map_err(err)?;
    writer.finish().map_err(err)
}

/// Writes `<stem>-latency-over-time.{svg,png}` and `<stem>-latency-histogram.{svg,png}` in
/// `dir`; returns the files written and notes on anything skipped.
pub(crate) fn write_plots(report: &Report, dir: &Path, stem: &str) -> (Vec<PathBuf>, Vec<String>) {
    let mut written = Vec::new();
    let mut notes = Vec::new();
    if let Err(e) = std::fs::create_dir_all(dir) {
        notes.push(format!(
            "plots skipped: cannot create {}: {e}",
            dir.display()
        ));
        return (written, notes);
    }
    #[derive(Clone, Copy)]
    enum Which {
        Timeline,
        Histogram,
    }
    fn draw<DB: DrawingBackend>(which: Which, root: &DrawingArea<DB, Shift>, r: &Report) -> Drawn {
        match which {
            Which::Timeline => draw_timeline(root, r),
            Which::Histogram => draw_histogram(root, r),
        }
    }
    let plots = [
        ("latency-over-time", Which::Timeline),
        ("latency-histogram", Which::Histogram),
    ];
    let font = bitmap_font();
    if !font {
        notes.push(
            "PNG plots skipped: no TrueType font found (install fonts-dejavu-core or set \
             PEREGRINE_LOADTEST_FONT); the SVG plots are complete"
                .into(),
        );
    }
    for (name, which) in plots {
        let svg_path = dir.join(format!("{stem}-{name}.svg"));
        let drawn = {
            let root = SVGBackend::new(&svg_path, SIZE).into_drawing_area();
            draw(which, &root, report)
        };
        match drawn {
            Ok(()) => written.push(svg_path),
            Err(e) => notes.push(format!("{}: {e}", svg_path.display())),
        }
        if !font {
            continue;
        }
        let png_path = dir.join(format!("{stem}-{name}.png"));
        let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
        let drawn = {
            let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
            draw(which, &root, report)
        };
        match drawn.and_then(|()| write_png(&png_path, &rgb, SIZE)) {
            Ok(()) => written.push(png_path),
            Err(e) => notes.push(format!("{}: {e}", png_path.display())),
        }
    }
    (written, notes)
}
