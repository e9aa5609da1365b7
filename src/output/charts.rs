//! Charts with plotters, each as PNG and SVG: cumulative net profit per strategy, the backstop
//! pools' balance over time (when a scenario runs one), the gas-threshold tuning curve, missed opportunities over time by reason, the price path with liquidation
//! markers, and the health-factor distribution before, during and after the crash.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analytics::result::StrategyRun;
use crate::error::{Error, Result};
use crate::math::profit::{i256_to_f64_lossy, to_f64_lossy};
use crate::strategy::Instance;

/// Font files tried, in order, for text in PNG charts (SVG text needs no font file).
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
];

fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let path = std::env::var("LIQSIM_FONT")
                .ok()
                .into_iter()
                .chain(FONT_CANDIDATES.iter().map(|s| s.to_string()))
                .find(|p| Path::new(p).is_file())
                .ok_or_else(|| {
                    format!("no TrueType font found for chart text (tried {}); install fonts-dejavu-core or set LIQSIM_FONT", FONT_CANDIDATES.join(", "))
                })?;
            let bytes: &'static [u8] = Box::leak(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| format!("{path}: not a usable TrueType font"))
        })
        .clone()
        .map_err(Error::Artifacts)
}

type Draw<'a> =
    dyn Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> std::result::Result<(), String> + 'a;
type DrawSvg<'a> =
    dyn Fn(&DrawingArea<SVGBackend<'_>, Shift>) -> std::result::Result<(), String> + 'a;

const SIZE: (u32, u32) = (1000, 560);

fn render(dir: &Path, name: &str, png: &Draw<'_>, svg: &DrawSvg<'_>) -> Result<Vec<String>> {
    let png_path = dir.join(format!("{name}.png"));
    {
        let root = BitMapBackend::new(&png_path, SIZE).into_drawing_area();
        png(&root).map_err(|e| Error::Decode {
            what: format!("chart {name}"),
            message: e,
        })?;
        root.present().map_err(|e| Error::Decode {
            what: format!("chart {name}"),
            message: e.to_string(),
        })?;
    }
    let svg_path = dir.join(format!("{name}.svg"));
    {
        let root = SVGBackend::new(&svg_path, SIZE).into_drawing_area();
        svg(&root).map_err(|e| Error::Decode {
            what: format!("chart {name}"),
            message: e,
        })?;
        root.present().map_err(|e| Error::Decode {
            what: format!("chart {name}"),
            message: e.to_string(),
        })?;
    }
    Ok(vec![format!("{name}.png"), format!("{name}.svg")])
}

macro_rules! both {
    ($dir:expr, $name:expr, $f:expr) => {
        render($dir, $name, &|a| $f(a), &|a| $f(a))
    };
}

fn e<E: std::fmt::Debug>(err: E) -> String {
    format!("{err:?}")
}

/// A plot with two float axes.
type Plot<'a, DB> =
    plotters::chart::ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws a line with a legend entry and, when `radius` > 0, a dot of that radius at each point.
fn labelled_line<'a, DB: DrawingBackend + 'a>(
    chart: &mut Plot<'a, DB>,
    pts: Vec<(f64, f64)>,
    color: RGBAColor,
    label: String,
    radius: u32,
) -> std::result::Result<(), String> {
    chart
        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
        .map_err(e)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    if radius > 0 {
        chart
            .draw_series(
                pts.into_iter()
                    .map(|p| Circle::new(p, radius, color.filled())),
            )
            .map_err(e)?;
    }
    Ok(())
}

/// Draws the legend box with labels of font size `size`.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Plot<'a, DB>,
    size: u32,
) -> std::result::Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", size))
        .draw()
        .map_err(e)
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if (hi - lo).abs() < 1e-9 {
        (lo - 1.0, hi + 1.0)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    }
}

/// What every chart is drawn from.
pub struct ChartContext<'a> {
    /// Folder written into.
    pub dir: &'a Path,
    /// The run.
    pub run: &'a StrategyRun,
    /// Its strategy instances.
    pub instances: &'a [Instance],
    /// First block of the window.
    pub first: u64,
    /// Last block of the window (at least `first + 1`).
    pub last: u64,
    /// A legend label per instance.
    pub labels: Vec<String>,
}

/// One chart: its file stem, what it shows, and how it is drawn (PNG and SVG; none when the run
/// has nothing to show).
pub struct Chart {
    /// File stem (`<name>.png`, `<name>.svg`).
    pub name: &'static str,
    /// What it shows (the report's caption).
    pub caption: &'static str,
    /// Draws it into the context's folder; returns the files written.
    pub draw: fn(&ChartContext<'_>) -> Result<Vec<String>>,
}

/// Every chart, in report order: a new chart is one function and one line here.
pub const CHARTS: &[Chart] = &[
    Chart {
        name: "cumulative_net_profit",
        caption: "Cumulative net profit per strategy (USD)",
        draw: cumulative_net_profit,
    },
    Chart {
        name: "backstop_pool_balance",
        caption: "Backstop pools' balance as a return on deposits (%), when a scenario runs one",
        draw: backstop_pool_balance,
    },
    Chart {
        name: "gas_threshold_tuning",
        caption: "Gas-threshold tuning: net profit and capture rate against the gas cap",
        draw: gas_threshold_tuning,
    },
    Chart {
        name: "missed_by_reason",
        caption: "Missed opportunities over time by reason (best instance by net profit)",
        draw: missed_by_reason,
    },
    Chart {
        name: "price_and_liquidations",
        caption: "Price path with liquidation markers",
        draw: price_and_liquidations,
    },
    Chart {
        name: "health_factor_distribution",
        caption: "Health-factor distribution before, during and after the crash",
        draw: health_factor_distribution,
    },
];

/// Draws every chart into `dir`; returns the file names written.
pub fn write_charts(dir: &Path, run: &StrategyRun, instances: &[Instance]) -> Result<Vec<String>> {
    register_font()?;
    let first = run.blocks.first().map(|b| b.number).unwrap_or(0);
    let last = run
        .blocks
        .last()
        .map(|b| b.number)
        .unwrap_or(1)
        .max(first + 1);
    let cx = ChartContext {
        dir,
        run,
        instances,
        first,
        last,
        labels: instances
            .iter()
            .map(|i| format!("{} {}", i.kind, short_params(i)))
            .collect(),
    };
    let mut files = Vec::new();
    for chart in CHARTS {
        files.extend((chart.draw)(&cx)?);
    }
    Ok(files)
}

/// Cumulative net profit per strategy
fn cumulative_net_profit(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let ChartContext {
        dir,
        run,
        first,
        last,
        ref labels,
        ..
    } = *cx;
    let mut files = Vec::new();
    let series: Vec<Vec<(f64, f64)>> = run
        .actions
        .iter()
        .map(|acts| {
            let mut sorted: Vec<_> = acts
                .iter()
                .map(|a| (a.block, i256_to_f64_lossy(a.net_profit_base, 8)))
                .collect();
            sorted.sort_by_key(|x| x.0);
            let mut total = 0.0;
            let mut pts = vec![(first as f64, 0.0)];
            for (b, p) in sorted {
                total += p;
                pts.push((b as f64, total));
            }
            pts.push((last as f64, total));
            pts
        })
        .collect();
    files.extend(lines_over_blocks(
        dir,
        "cumulative_net_profit",
        "Cumulative net profit per strategy (USD)",
        "USD",
        (first, last),
        &series,
        labels,
    )?);
    Ok(files)
}

/// Capital of capital-limited strategies (backstop pools) over time
/// (as a share of the deposits, so pools of any size show their return on one scale)
fn backstop_pool_balance(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let ChartContext {
        dir,
        run,
        first,
        last,
        ref labels,
        ..
    } = *cx;
    let mut files = Vec::new();
    let mut pools: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    for c in &run.capital {
        pools
            .entry(c.instance)
            .or_default()
            .push((c.block as f64, to_f64_lossy(c.capital_base, 8)));
    }
    for pts in pools.values_mut() {
        let deposits = pts.first().map(|p| p.1).unwrap_or(0.0);
        if deposits > 0.0 {
            for p in pts.iter_mut() {
                p.1 = (p.1 / deposits - 1.0) * 100.0;
            }
        }
    }
    if !pools.is_empty() {
        let pool_labels: Vec<String> = pools.keys().map(|i| labels[*i].clone()).collect();
        let pool_series: Vec<Vec<(f64, f64)>> = pools.into_values().collect();
        files.extend(lines_over_blocks(
            dir,
            "backstop_pool_balance",
            "Backstop pool balance: return on deposits (%)",
            "% of deposits",
            (first, last),
            &pool_series,
            &pool_labels,
        )?);
    }
    Ok(files)
}

/// Gas-threshold tuning curve
fn gas_threshold_tuning(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let ChartContext {
        dir,
        run,
        instances,
        ..
    } = *cx;
    let mut files = Vec::new();
    let mut curves: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
    for (i, inst) in instances.iter().enumerate() {
        if inst.kind != "gas-threshold" {
            continue;
        }
        let cap: f64 = inst
            .params
            .get("max_gas_price_gwei")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let key = format!(
            "min profit {} USD",
            inst.params
                .get("min_profit_usd")
                .cloned()
                .unwrap_or_default()
        );
        curves.entry(key).or_default().push((
            cap,
            run.summary[i].net_profit_usd,
            run.summary[i].capture_rate * 100.0,
        ));
    }
    for v in curves.values_mut() {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let (xlo, xhi) = range(curves.values().flatten().map(|p| p.0));
    let (plo, phi) = range(curves.values().flatten().map(|p| p.1));
    files.extend(both!(
        dir,
        "gas_threshold_tuning",
        |root: &DrawingArea<_, Shift>| -> std::result::Result<(), String> {
            root.fill(&WHITE).map_err(e)?;
            let (left, right) = root.split_horizontally(SIZE.0 / 2);
            for (area, title, pick, lo, hi) in [
                (&left, "Net profit vs gas cap (USD)", 1usize, plo, phi),
                (&right, "Capture rate vs gas cap (%)", 2usize, 0.0, 100.0),
            ] {
                let mut chart = ChartBuilder::on(area)
                    .caption(title, ("sans-serif", 18))
                    .margin(10)
                    .x_label_area_size(36)
                    .y_label_area_size(70)
                    .build_cartesian_2d(xlo..xhi, lo..hi)
                    .map_err(e)?;
                chart
                    .configure_mesh()
                    .x_desc("max gas price (gwei)")
                    .draw()
                    .map_err(e)?;
                for (i, (name, pts)) in curves.iter().enumerate() {
                    let color = Palette99::pick(i).to_rgba();
                    let xy: Vec<(f64, f64)> = pts
                        .iter()
                        .map(|p| (p.0, if pick == 1 { p.1 } else { p.2 }))
                        .collect();
                    labelled_line(&mut chart, xy, color, name.clone(), 4)?;
                }
                legend(&mut chart, 11)?;
            }
            Ok(())
        }
    )?);
    Ok(files)
}

/// Missed opportunities over time by reason (best instance by net profit)
fn missed_by_reason(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let ChartContext {
        dir,
        run,
        first,
        last,
        ref labels,
        ..
    } = *cx;
    let mut files = Vec::new();
    let best = best_instance(run);
    let buckets = 24u64;
    let width = ((last - first) / buckets).max(1);
    let mut by_reason: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for m in run.misses.iter().filter(|m| m.instance == best) {
        let block = m.block.unwrap_or_else(|| {
            run.opportunities
                .get(m.opportunity_id as usize)
                .map(|o| o.first_block)
                .unwrap_or(first)
        });
        let slot = (((block.saturating_sub(first)) / width).min(buckets - 1)) as usize;
        by_reason
            .entry(m.reason.as_str())
            .or_insert_with(|| vec![0.0; buckets as usize])[slot] += 1.0;
    }
    let ymax = by_reason
        .values()
        .flat_map(|v| v.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;
    let best_label = labels.get(best).cloned().unwrap_or_default();
    files.extend(both!(dir, "missed_by_reason", |root: &DrawingArea<
        _,
        Shift,
    >|
     -> std::result::Result<
        (),
        String,
    > {
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Missed opportunities over time by reason — {best_label}"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(first as f64..last as f64, 0.0..ymax)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("block")
            .y_desc("missed")
            .draw()
            .map_err(e)?;
        for (i, (reason, counts)) in by_reason.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let pts: Vec<(f64, f64)> = counts
                .iter()
                .enumerate()
                .map(|(k, c)| ((first + k as u64 * width + width / 2) as f64, *c))
                .collect();
            labelled_line(&mut chart, pts, color, reason.to_string(), 3)?;
        }
        legend(&mut chart, 12)?;
        Ok(())
    })?);
    Ok(files)
}

/// Price path with liquidation markers
fn price_and_liquidations(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let ChartContext {
        dir,
        run,
        first,
        last,
        ref labels,
        ..
    } = *cx;
    let mut files = Vec::new();
    let best = best_instance(run);
    let best_label = labels.get(best).cloned().unwrap_or_default();
    let prices: Vec<(f64, f64)> = run
        .blocks
        .iter()
        .map(|b| {
            (
                b.number as f64,
                crate::math::profit::to_f64_lossy(b.native_price, 8),
            )
        })
        .collect();
    let price_at = |block: u64| {
        prices
            .iter()
            .rev()
            .find(|p| p.0 <= block as f64)
            .map(|p| p.1)
            .unwrap_or(0.0)
    };
    let historical: Vec<(f64, f64)> = run
        .opportunities
        .iter()
        .flat_map(|o| {
            o.liquidations
                .iter()
                .map(|l| (l.block as f64, price_at(l.block)))
        })
        .collect();
    let mine: Vec<(f64, f64)> = run
        .actions
        .get(best)
        .map(|a| {
            a.iter()
                .map(|a| (a.block as f64, price_at(a.block)))
                .collect()
        })
        .unwrap_or_default();
    let (plo, phi) = range(prices.iter().map(|p| p.1));
    files.extend(both!(
        dir,
        "price_and_liquidations",
        |root: &DrawingArea<_, Shift>| -> std::result::Result<(), String> {
            root.fill(&WHITE).map_err(e)?;
            let mut chart = ChartBuilder::on(root)
                .caption(
                    "Native-asset oracle price with liquidations",
                    ("sans-serif", 20),
                )
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(70)
                .build_cartesian_2d(first as f64..last as f64, plo..phi)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc("block")
                .y_desc("USD")
                .draw()
                .map_err(e)?;
            chart
                .draw_series(LineSeries::new(prices.clone(), BLUE.stroke_width(2)))
                .map_err(e)?
                .label("oracle price")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
            chart
                .draw_series(
                    historical
                        .iter()
                        .map(|p| Cross::new(*p, 5, RED.stroke_width(1))),
                )
                .map_err(e)?
                .label("historical liquidation")
                .legend(|(x, y)| Cross::new((x + 9, y), 5, RED.stroke_width(1)));
            chart
                .draw_series(mine.iter().map(|p| Circle::new(*p, 4, GREEN.filled())))
                .map_err(e)?
                .label(format!("{best_label} liquidation"))
                .legend(|(x, y)| Circle::new((x + 9, y), 4, GREEN.filled()));
            legend(&mut chart, 12)?;
            Ok(())
        }
    )?);
    Ok(files)
}

/// Health-factor distribution before / during / after
fn health_factor_distribution(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let ChartContext {
        dir,
        run,
        first,
        last,
        ..
    } = *cx;
    let mut files = Vec::new();
    let snapshots = &run.health_snapshots;
    let crash = run
        .blocks
        .iter()
        .min_by(|a, b| a.native_price.cmp(&b.native_price))
        .map(|b| b.number)
        .unwrap_or(first);
    let pick = |target: u64| snapshots.iter().min_by_key(|(b, _)| b.abs_diff(target));
    let chosen: Vec<(&str, &(u64, Vec<f64>))> = [
        ("before", first),
        ("during (price low)", crash),
        ("after", last),
    ]
    .into_iter()
    .filter_map(|(name, t)| pick(t).map(|s| (name, s)))
    .collect();
    let bins = 30usize;
    let (hlo, hhi) = (0.5f64, 3.0f64);
    let hist = |values: &[f64]| {
        let mut counts = vec![0.0; bins];
        for v in values {
            let k = (((v.clamp(hlo, hhi - 1e-9)) - hlo) / (hhi - hlo) * bins as f64) as usize;
            counts[k.min(bins - 1)] += 1.0;
        }
        counts
    };
    let hists: Vec<(String, Vec<f64>)> = chosen
        .iter()
        .map(|(n, (b, v))| (format!("{n}, block {b}"), hist(v)))
        .collect();
    let cmax = hists
        .iter()
        .flat_map(|h| h.1.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;
    files.extend(both!(
        dir,
        "health_factor_distribution",
        |root: &DrawingArea<_, Shift>| -> std::result::Result<(), String> {
            root.fill(&WHITE).map_err(e)?;
            let mut chart = ChartBuilder::on(root)
                .caption(
                    "Health-factor distribution of borrowers (clipped to 0.5–3)",
                    ("sans-serif", 20),
                )
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(60)
                .build_cartesian_2d(hlo..hhi, 0.0..cmax)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc("health factor")
                .y_desc("borrowers")
                .draw()
                .map_err(e)?;
            chart
                .draw_series(LineSeries::new(
                    vec![(1.0, 0.0), (1.0, cmax)],
                    BLACK.stroke_width(1),
                ))
                .map_err(e)?;
            for (i, (name, counts)) in hists.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let pts: Vec<(f64, f64)> = counts
                    .iter()
                    .enumerate()
                    .map(|(k, c)| (hlo + (k as f64 + 0.5) * (hhi - hlo) / bins as f64, *c))
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(e)?
                    .label(name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
            legend(&mut chart, 12)?;
            Ok(())
        }
    )?);
    Ok(files)
}

/// One line per series over the window's blocks, with a legend.
/// The instance with the highest net profit (the one the single-strategy charts show).
fn best_instance(run: &StrategyRun) -> usize {
    run.summary
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.net_profit_usd.total_cmp(&b.1.net_profit_usd))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

fn lines_over_blocks(
    dir: &Path,
    name: &str,
    title: &str,
    y_desc: &str,
    (first, last): (u64, u64),
    series: &[Vec<(f64, f64)>],
    labels: &[String],
) -> Result<Vec<String>> {
    let (ylo, yhi) = range(series.iter().flatten().map(|p| p.1));
    both!(
        dir,
        name,
        |root: &DrawingArea<_, Shift>| -> std::result::Result<(), String> {
            root.fill(&WHITE).map_err(e)?;
            let mut chart = ChartBuilder::on(root)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(80)
                .build_cartesian_2d(first as f64..last as f64, ylo..yhi)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc("block")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_desc(y_desc)
                .draw()
                .map_err(e)?;
            for (i, pts) in series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                labelled_line(&mut chart, pts.clone(), color, labels[i].clone(), 0)?;
            }
            legend(&mut chart, 11)?;
            Ok(())
        }
    )
}

fn short_params(i: &Instance) -> String {
    i.params
        .iter()
        .filter(|(k, _)| *k != "priority_fee_gwei")
        .map(|(k, v)| {
            let short = match k.as_str() {
                "latency_blocks" => "lat",
                "max_gas_price_gwei" => "cap",
                "min_profit_usd" => "min$",
                "capital_usd" => "capital$",
                other => other,
            };
            format!("{short}={v}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
