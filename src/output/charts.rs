//! Charts with plotters, each as PNG and SVG, with UTC time axes, thousands-separated ticks and the
//! Okabe–Ito colour-blind-safe palette: cumulative net profit, costs, profit per liquidation,
//! missed value by reason, latency and tip sensitivity, the gas-threshold curve, competition,
//! time to liquidation, base fee and price with liquidations, backstop pools, health factors,
//! gas per flow (the liquidation's part and the rest of the bundle), real sales' price impact.
//! Strategy sets are shown as one chosen set per strategy kind (its best by net profit) unless a
//! chart is about a sweep.

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

/// The Okabe–Ito palette (colour-blind safe), black last.
pub const OKABE_ITO: [(u8, u8, u8); 8] = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (213, 94, 0),
    (86, 180, 233),
    (204, 121, 167),
    (240, 228, 66),
    (0, 0, 0),
];

/// Colour `i` of the palette.
fn okabe(i: usize) -> RGBAColor {
    let (r, g, b) = OKABE_ITO[i % OKABE_ITO.len()];
    RGBColor(r, g, b).to_rgba()
}

/// Tick text with thousands separators (no decimals above 100, two below).
fn tick(v: &f64) -> String {
    if v.abs() >= 100.0 {
        crate::units::thousands(*v, 0)
    } else {
        crate::units::thousands(*v, 2)
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
    /// Unix timestamp of each block of the window.
    pub times: BTreeMap<u64, u64>,
    /// The chosen set of each strategy kind (its best by net profit), in first-appearance order.
    pub chosen: Vec<usize>,
}

impl ChartContext<'_> {
    /// UTC `HH:MM` of a (fractional) block number on the time axis.
    fn time_label(&self, block: f64) -> String {
        let first_ts = self.times.get(&self.first).copied().unwrap_or(0);
        let last_ts = self.times.get(&self.last).copied().unwrap_or(first_ts);
        let span = (self.last - self.first).max(1) as f64;
        let ts = first_ts as f64 + (block - self.first as f64) / span * (last_ts - first_ts) as f64;
        crate::units::utc_hm(ts.max(0.0) as u64)
    }

    /// The time axis' description: `time (UTC), 2021-05-19`.
    fn time_desc(&self) -> String {
        let first_ts = self.times.get(&self.first).copied().unwrap_or(0);
        let (y, m, d, ..) = crate::units::utc_parts(first_ts);
        format!("time (UTC), from {y:04}-{m:02}-{d:02}")
    }
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
        caption: "Cumulative net profit over the window (USD, UTC time) of each strategy's chosen parameter set (its best by net profit); the set ids match the summary table.",
        draw: cumulative_net_profit,
    },
    Chart {
        name: "costs_by_strategy",
        caption: "Where each chosen set's captured bonus went: gas, funding (flash-loan premium) and DEX slippage, stacked, next to its net profit (USD).",
        draw: costs_by_strategy,
    },
    Chart {
        name: "profit_per_liquidation",
        caption: "Distribution of net profit per liquidation (USD, log-spaced bins) for each chosen set.",
        draw: profit_per_liquidation,
    },
    Chart {
        name: "missed_by_reason",
        caption: "Value missed by reason for each chosen set: the best bonus of every missed opportunity after the gas that set would have paid (USD).",
        draw: missed_by_reason,
    },
    Chart {
        name: "latency_and_tip_sensitivity",
        caption: "Sensitivity: net profit against reaction latency (blocks) and against the priority fee (gwei), for the sets that sweep them with everything else equal.",
        draw: latency_and_tip_sensitivity,
    },
    Chart {
        name: "gas_threshold_tuning",
        caption: "Gas-threshold tuning: net profit and capture rate against the gas-price cap, a line per minimum profit; the best point is ringed, the dashed line is the uncapped baseline (greedy at the same latency and tip).",
        draw: gas_threshold_tuning,
    },
    Chart {
        name: "competition",
        caption: "Competition: per chosen set, opportunities won (captured) and lost to a competitor's earlier or higher-tipped liquidation, and the competitors' share of all historical liquidations.",
        draw: competition,
    },
    Chart {
        name: "time_to_liquidation",
        caption: "Time from a position's health factor falling below 1 to its liquidation (minutes): historical liquidators and each chosen set.",
        draw: time_to_liquidation,
    },
    Chart {
        name: "base_fee_and_liquidations",
        caption: "Base fee (gwei, UTC time) with every historical liquidation and every liquidation of the chosen sets on the timeline, above the native asset's oracle price (USD).",
        draw: base_fee_and_liquidations,
    },
    Chart {
        name: "backstop_pool_balance",
        caption: "Backstop pools' balance as a return on deposits (%), when a scenario runs one.",
        draw: backstop_pool_balance,
    },
    Chart {
        name: "gas_per_flow",
        caption: "Gas per liquidation by flow (mean over every set's liquidations, as the EVM measured it): the protocol's liquidation call, and the rest of the transaction (through liqsim's liquidator contract: the flash loan and its repayment, the vTokens' redeem on Compound-style markets, the sale through the real pool); flows are the protocol, the funding (own funds, flash loan, backstop pool's balance) and whether the collateral was sold through a real pool.",
        draw: gas_per_flow,
    },
    Chart {
        name: "slippage_by_asset",
        caption: "Price impact of the real sales over the window (bps below the oracle value of what was sold, the pool's fee included; UTC time), a series per collateral asset; a run with the formula DEX model makes no real sale and says so.",
        draw: slippage_by_asset,
    },
    Chart {
        name: "health_factor_distribution",
        caption: "Health-factor distribution of borrowers before, during (at the price low) and after the crash.",
        draw: health_factor_distribution,
    },
];

/// Draws every chart into `dir`; returns the file names written.
pub fn write_charts(
    dir: &Path,
    run: &StrategyRun,
    instances: &[Instance],
    _start_timestamp: u64,
) -> Result<Vec<String>> {
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
        labels: {
            instances
                .iter()
                .enumerate()
                .map(|(k, i)| {
                    let p = crate::analytics::summary::swept_text(i, instances);
                    format!(
                        "{} {}{}{p}",
                        crate::strategy::param_set_id(k),
                        i.kind,
                        if p.is_empty() { "" } else { " " }
                    )
                })
                .collect()
        },
        times: run.blocks.iter().map(|b| (b.number, b.timestamp)).collect(),
        chosen: chosen_sets(run, instances),
    };
    let mut files = Vec::new();
    for chart in CHARTS {
        files.extend((chart.draw)(&cx)?);
    }
    Ok(files)
}

type Svg<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws a chart in both formats with one generic drawing function.
macro_rules! chart {
    ($cx:expr, $name:expr, |$root:ident, $c:ident, $data:ident| $body:block) => {{
        fn draw_it<DB: DrawingBackend>(
            $root: &DrawingArea<DB, Shift>,
            $c: &ChartContext<'_>,
            $data: &ChartData,
        ) -> std::result::Result<(), String>
        where
            DB::ErrorType: 'static,
        {
            let _ = ($c, $data);
            $body
        }
        let _unused: Option<&Svg<'_>> = None;
        (|data: ChartData| both!($cx.dir, $name, |a| draw_it(a, $cx, &data)))
    }};
}

/// Data a chart was computed from (series by name, category bars).
#[derive(Default)]
struct ChartData {
    series: Vec<(String, Vec<(f64, f64)>)>,
    more: Vec<(String, Vec<(f64, f64)>)>,
    bars: Vec<(String, Vec<(String, f64)>)>,
    marks: Vec<(f64, f64)>,
    baseline: Option<f64>,
    title: String,
}

/// Lines over the window's time axis (x: block numbers shown as UTC times).
fn time_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    cx: &ChartContext<'_>,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    radius: u32,
) -> std::result::Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    let (ylo, yhi) = range(series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(cx.first as f64..cx.last as f64, ylo..yhi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(cx.time_desc())
        .x_label_formatter(&|x| cx.time_label(*x))
        .y_label_formatter(&tick)
        .y_desc(y_desc)
        .x_labels(9)
        .draw()
        .map_err(e)?;
    for (i, (label, pts)) in series.iter().enumerate() {
        labelled_line(&mut chart, pts.clone(), okabe(i), label.clone(), radius)?;
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// A chart of categorical bars: x at 0, 1, … labelled by `names`, `y` the value range, with the
/// bar charts' common margins, mesh and tick labels drawn.
fn category_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    (title, title_size): (&str, u32),
    names: &[String],
    y: std::ops::Range<f64>,
    y_desc: &str,
) -> std::result::Result<
    plotters::chart::ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    String,
>
where
    DB::ErrorType: 'static,
{
    let n = names.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", title_size))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(90)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let k = x.round();
            if (x - k).abs() < 0.01 && k >= 0.0 {
                names.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .disable_x_mesh()
        .y_label_formatter(&tick)
        .y_desc(y_desc)
        .draw()
        .map_err(e)?;
    Ok(chart)
}

/// Stacked bars: one bar per category, one segment per named part (same part order everywhere).
fn stacked_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    bars: &[(String, Vec<(String, f64)>)],
) -> std::result::Result<(), String>
where
    DB::ErrorType: 'static,
{
    let parts: Vec<String> = bars
        .first()
        .map(|b| b.1.iter().map(|p| p.0.clone()).collect())
        .unwrap_or_default();
    let top = bars
        .iter()
        .map(|b| b.1.iter().map(|p| p.1.max(0.0)).sum::<f64>())
        .fold(1.0, f64::max)
        * 1.15;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let mut chart = category_chart(area, (title, 18), &names, 0.0..top, y_desc)?;
    for (j, part) in parts.iter().enumerate() {
        let color = okabe(j);
        let rects: Vec<Rectangle<(f64, f64)>> = bars
            .iter()
            .enumerate()
            .map(|(i, (_, segs))| {
                let below: f64 = segs[..j].iter().map(|p| p.1.max(0.0)).sum();
                let h = segs.get(j).map(|p| p.1.max(0.0)).unwrap_or(0.0);
                Rectangle::new(
                    [(i as f64 - 0.3, below), (i as f64 + 0.3, below + h)],
                    color.filled(),
                )
            })
            .collect();
        chart
            .draw_series(rects)
            .map_err(e)?
            .label(part.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(e)
}

/// Cumulative net profit of each chosen set over time.
fn cumulative_net_profit(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let series = cx
        .chosen
        .iter()
        .map(|&i| {
            let mut sorted: Vec<_> = cx.run.actions[i]
                .iter()
                .map(|a| (a.block, i256_to_f64_lossy(a.net_profit_base, 8)))
                .collect();
            sorted.sort_by_key(|x| x.0);
            let mut total = 0.0;
            let mut pts = vec![(cx.first as f64, 0.0)];
            for (b, p) in sorted {
                pts.push((b as f64, total));
                total += p;
                pts.push((b as f64, total));
            }
            pts.push((cx.last as f64, total));
            (cx.labels[i].clone(), pts)
        })
        .collect();
    chart!(cx, "cumulative_net_profit", |root, cx, data| {
        time_lines(
            root,
            cx,
            "Cumulative net profit (USD)",
            "USD",
            &data.series,
            0,
        )
    })(ChartData {
        series,
        ..Default::default()
    })
}

/// Costs per chosen set, stacked.
fn costs_by_strategy(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let bars = cx
        .chosen
        .iter()
        .map(|&i| {
            let s = &cx.run.summary[i];
            (
                crate::strategy::param_set_id(i) + " " + &s.strategy,
                vec![
                    ("gas".to_string(), s.gas_spent_usd),
                    ("funding".to_string(), s.funding_cost_usd),
                    ("slippage".to_string(), s.slippage_usd),
                    ("net profit".to_string(), s.net_profit_usd),
                ],
            )
        })
        .collect();
    chart!(cx, "costs_by_strategy", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        stacked_bars(
            root,
            "Captured bonus = gas + funding + slippage + net profit (USD)",
            "USD",
            &data.bars,
        )
    })(ChartData {
        bars,
        ..Default::default()
    })
}

/// Net profit per liquidation: a histogram (log-spaced bins of |profit|, losses to the left).
fn profit_per_liquidation(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    // bins: signed log10 of profit, from -10^4 to 10^6
    let bin = |v: f64| -> f64 {
        let l = v.abs().max(1.0).log10();
        (if v < 0.0 { -l } else { l } * 4.0).round() / 4.0
    };
    let series = cx
        .chosen
        .iter()
        .map(|&i| {
            let mut counts: BTreeMap<i64, f64> = BTreeMap::new();
            for a in &cx.run.actions[i] {
                let b = bin(i256_to_f64_lossy(a.net_profit_base, 8));
                *counts.entry((b * 4.0) as i64).or_default() += 1.0;
            }
            let pts: Vec<(f64, f64)> = counts
                .into_iter()
                .map(|(k, c)| (k as f64 / 4.0, c))
                .collect();
            (cx.labels[i].clone(), pts)
        })
        .collect::<Vec<_>>();
    chart!(cx, "profit_per_liquidation", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        let (xlo, xhi) = range(data.series.iter().flat_map(|s| s.1.iter().map(|p| p.0)));
        let (_, yhi) = range(data.series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Net profit per liquidation (count per bin)",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(xlo.min(0.0)..xhi.max(1.0), 0.0..yhi.max(1.0))
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("net profit per liquidation (USD, log scale; losses left of 0)")
            .x_label_formatter(&|x| {
                let v = 10f64.powf(x.abs());
                let t = crate::units::thousands(v, 0);
                if *x < 0.0 {
                    format!("-{t}")
                } else {
                    t
                }
            })
            .y_desc("liquidations")
            .y_label_formatter(&|y| crate::units::thousands(*y, 0))
            .draw()
            .map_err(e)?;
        for (i, (label, pts)) in data.series.iter().enumerate() {
            labelled_line(&mut chart, pts.clone(), okabe(i), label.clone(), 3)?;
        }
        legend(&mut chart, 12)
    })(ChartData {
        series,
        ..Default::default()
    })
}

/// Missed value after gas by reason, per chosen set.
fn missed_by_reason(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let prices: crate::analytics::summary::GasPrices = cx
        .run
        .blocks
        .iter()
        .map(|b| (b.number, (b.base_fee, b.native_price)))
        .collect();
    let reasons = [
        "unprofitable",
        "over_gas_cap",
        "lost_to_competitor",
        "latency",
        "out_of_capital",
        "reverted",
    ];
    let bars = cx
        .chosen
        .iter()
        .map(|&i| {
            let mut by: BTreeMap<&str, f64> = BTreeMap::new();
            for m in cx.run.misses.iter().filter(|m| m.instance == i) {
                let v = crate::analytics::summary::missed_value_after_gas(
                    m,
                    &cx.instances[i],
                    &cx.run.opportunities,
                    &prices,
                );
                *by.entry(m.reason.as_str()).or_default() += i256_to_f64_lossy(v, 8);
            }
            (
                crate::strategy::param_set_id(i) + " " + &cx.instances[i].kind,
                reasons
                    .iter()
                    .map(|r| (r.to_string(), by.get(r).copied().unwrap_or(0.0)))
                    .collect(),
            )
        })
        .collect();
    chart!(cx, "missed_by_reason", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        stacked_bars(
            root,
            "Missed value after gas, by reason (USD)",
            "USD",
            &data.bars,
        )
    })(ChartData {
        bars,
        ..Default::default()
    })
}

/// Net profit against one swept parameter, a line per group of sets equal in everything else.
fn sensitivity(cx: &ChartContext<'_>, key: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, inst) in cx.instances.iter().enumerate() {
        let Some(x) = inst.params.get(key).and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let mut rest = inst.params.clone();
        rest.remove(key);
        let swept = crate::strategy::swept_params(cx.instances);
        let others: Vec<String> = rest
            .iter()
            .filter(|(k, _)| swept.contains(k))
            .map(|(k, v)| format!("{}={v}", crate::analytics::summary::short_param(k)))
            .collect();
        groups
            .entry(format!("{} {}", inst.kind, others.join(" ")))
            .or_default()
            .push((x, cx.run.summary[i].net_profit_usd));
    }
    groups
        .into_iter()
        .filter(|(_, pts)| pts.len() > 1)
        .map(|(k, mut pts)| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (k, pts)
        })
        .collect()
}

/// Latency and tip sensitivity (two panels).
fn latency_and_tip_sensitivity(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let series = sensitivity(cx, "latency_blocks");
    let more = sensitivity(cx, "priority_fee_gwei");
    chart!(cx, "latency_and_tip_sensitivity", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        let (w, _) = root.dim_in_pixel();
        let (left, right) = root.split_horizontally(w / 2);
        for (area, title, x_desc, series) in [
            (
                &left,
                "Net profit vs latency",
                "latency (blocks)",
                &data.series,
            ),
            (
                &right,
                "Net profit vs priority fee",
                "priority fee (gwei)",
                &data.more,
            ),
        ] {
            let (xlo, xhi) = range(series.iter().flat_map(|s| s.1.iter().map(|p| p.0)));
            let (ylo, yhi) = range(series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(80)
                .build_cartesian_2d(xlo..xhi, ylo..yhi)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc("net profit (USD)")
                .y_label_formatter(&tick)
                .x_label_formatter(&tick)
                .draw()
                .map_err(e)?;
            for (i, (label, pts)) in series.iter().enumerate() {
                labelled_line(&mut chart, pts.clone(), okabe(i), label.clone(), 4)?;
            }
            if series.is_empty() {
                chart
                    .draw_series(std::iter::once(Text::new(
                        "not swept in this scenario",
                        (xlo + (xhi - xlo) * 0.3, (ylo + yhi) / 2.0),
                        ("sans-serif", 16),
                    )))
                    .map_err(e)?;
            } else {
                legend(&mut chart, 11)?;
            }
        }
        Ok(())
    })(ChartData {
        series,
        more,
        ..Default::default()
    })
}

/// Gas-threshold tuning curve with its optimum and the uncapped baseline.
fn gas_threshold_tuning(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let (run, instances) = (cx.run, cx.instances);
    let mut curves: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
    let mut lat_tip = None;
    for (i, inst) in instances.iter().enumerate() {
        if inst.kind != "gas-threshold" {
            continue;
        }
        lat_tip = Some((
            inst.params.get("latency_blocks").cloned(),
            inst.params.get("priority_fee_gwei").cloned(),
        ));
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
    let baseline = lat_tip.and_then(|(lat, tip)| {
        instances
            .iter()
            .enumerate()
            .find(|(_, g)| {
                g.kind == "greedy"
                    && g.params.get("latency_blocks") == lat.as_ref()
                    && g.params.get("priority_fee_gwei") == tip.as_ref()
            })
            .map(|(i, _)| run.summary[i].net_profit_usd)
    });
    let mut series = Vec::new();
    let mut more = Vec::new();
    for (name, mut v) in curves {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        series.push((name.clone(), v.iter().map(|p| (p.0, p.1)).collect()));
        more.push((name, v.iter().map(|p| (p.0, p.2)).collect()));
    }
    let best = series
        .iter()
        .flat_map(|s: &(String, Vec<(f64, f64)>)| s.1.iter().copied())
        .max_by(|a, b| a.1.total_cmp(&b.1));
    chart!(cx, "gas_threshold_tuning", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        let (w, _) = root.dim_in_pixel();
        let (left, right) = root.split_horizontally(w / 2);
        let (xlo, xhi) = range(data.series.iter().flat_map(|s| s.1.iter().map(|p| p.0)));
        for (area, title, series, is_profit) in [
            (&left, "Net profit vs gas cap (USD)", &data.series, true),
            (&right, "Capture rate vs gas cap (%)", &data.more, false),
        ] {
            let values = series
                .iter()
                .flat_map(|s| s.1.iter().map(|p| p.1))
                .chain(if is_profit { data.baseline } else { None });
            let (mut lo, mut hi) = range(values);
            if !is_profit {
                lo = 0.0;
                hi = hi.max(1.0);
            }
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(80)
                .build_cartesian_2d(xlo..xhi, lo..hi)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc("max gas price (gwei)")
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .draw()
                .map_err(e)?;
            for (i, (name, pts)) in series.iter().enumerate() {
                labelled_line(&mut chart, pts.clone(), okabe(i), name.clone(), 4)?;
            }
            if is_profit {
                if let Some(b) = data.baseline {
                    let c = okabe(7);
                    chart
                        .draw_series(DashedLineSeries::new(
                            vec![(xlo, b), (xhi, b)],
                            6,
                            4,
                            c.stroke_width(2),
                        ))
                        .map_err(e)?
                        .label("uncapped (greedy)")
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                        });
                }
                for m in &data.marks {
                    chart
                        .draw_series(std::iter::once(Circle::new(
                            *m,
                            9,
                            okabe(3).stroke_width(3),
                        )))
                        .map_err(e)?
                        .label(format!("best: cap {} gwei", tick(&m.0)))
                        .legend(|(x, y)| Circle::new((x + 9, y), 5, okabe(3).stroke_width(2)));
                }
            }
            legend(&mut chart, 11)?;
        }
        Ok(())
    })(ChartData {
        series,
        more,
        marks: best.into_iter().collect(),
        baseline,
        ..Default::default()
    })
}

/// Wins and losses against competitors, and the competitors' share of historical liquidations.
fn competition(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let mut bars: Vec<(String, Vec<(String, f64)>)> = cx
        .chosen
        .iter()
        .map(|&i| {
            let lost = cx
                .run
                .misses
                .iter()
                .filter(|m| m.instance == i && m.reason.as_str() == "lost_to_competitor")
                .count() as f64;
            (
                crate::strategy::param_set_id(i) + " " + &cx.instances[i].kind,
                vec![
                    (
                        "won (captured)".to_string(),
                        cx.run.summary[i].captured as f64,
                    ),
                    ("lost to a competitor".to_string(), lost),
                ],
            )
        })
        .collect();
    let mut by: BTreeMap<String, f64> = BTreeMap::new();
    for o in &cx.run.opportunities {
        for l in &o.liquidations {
            let a = format!("{:#x}", l.liquidator);
            *by.entry(format!("{}…{}", &a[..6], &a[a.len() - 4..]))
                .or_default() += 1.0;
        }
    }
    let total: f64 = by.values().sum();
    let share: Vec<(String, f64)> = by
        .into_iter()
        .map(|(k, v)| (k, if total > 0.0 { v / total * 100.0 } else { 0.0 }))
        .collect();
    bars.retain(|b| !b.1.is_empty());
    chart!(cx, "competition", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        let (w, _) = root.dim_in_pixel();
        let (left, right) = root.split_horizontally(w * 3 / 5);
        stacked_bars(
            &left,
            "Opportunities won and lost to competitors",
            "opportunities",
            &data.bars,
        )?;
        let share = data.more.first().map(|s| s.1.clone()).unwrap_or_default();
        let bars: Vec<(String, Vec<(String, f64)>)> = share
            .iter()
            .enumerate()
            .map(|(k, (_, v))| {
                (
                    data.title.split('|').nth(k).unwrap_or("").to_string(),
                    vec![("share of historical liquidations".to_string(), *v)],
                )
            })
            .collect();
        stacked_bars(&right, "Competitors' share (%)", "%", &bars)
    })(ChartData {
        bars,
        title: share
            .iter()
            .map(|s| s.0.clone())
            .collect::<Vec<_>>()
            .join("|"),
        more: vec![(
            "share".into(),
            share
                .iter()
                .enumerate()
                .map(|(k, s)| (k as f64, s.1))
                .collect(),
        )],
        ..Default::default()
    })
}

/// Minutes from HF < 1 to liquidation: histograms (5-minute bins).
fn time_to_liquidation(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let minutes = |block: u64, first: u64| {
        let t0 = cx.times.get(&first).copied().unwrap_or(0);
        let t1 = cx.times.get(&block).copied().unwrap_or(t0);
        t1.saturating_sub(t0) as f64 / 60.0
    };
    let hist = |values: Vec<f64>| -> Vec<(f64, f64)> {
        let mut counts: BTreeMap<u64, f64> = BTreeMap::new();
        for v in values {
            *counts.entry((v / 5.0).floor() as u64).or_default() += 1.0;
        }
        counts
            .into_iter()
            .map(|(k, c)| (k as f64 * 5.0 + 2.5, c))
            .collect()
    };
    let mut series = vec![(
        "historical liquidators".to_string(),
        hist(
            cx.run
                .opportunities
                .iter()
                .filter_map(|o| {
                    o.liquidations
                        .first()
                        .map(|l| minutes(l.block, o.first_block))
                })
                .collect(),
        ),
    )];
    for &i in &cx.chosen {
        series.push((
            cx.labels[i].clone(),
            hist(
                cx.run.actions[i]
                    .iter()
                    .filter_map(|a| {
                        cx.run
                            .opportunities
                            .get(a.opportunity_id as usize)
                            .map(|o| minutes(a.block, o.first_block))
                    })
                    .collect(),
            ),
        ));
    }
    chart!(cx, "time_to_liquidation", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        let (xlo, xhi) = range(data.series.iter().flat_map(|s| s.1.iter().map(|p| p.0)));
        let (_, yhi) = range(data.series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
        let mut chart = ChartBuilder::on(root)
            .caption("Time from HF < 1 to liquidation", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(xlo.min(0.0)..xhi, 0.0..yhi.max(1.0))
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("minutes after the health factor fell below 1 (5-minute bins)")
            .y_desc("liquidations")
            .x_label_formatter(&tick)
            .y_label_formatter(&|y| crate::units::thousands(*y, 0))
            .draw()
            .map_err(e)?;
        for (i, (label, pts)) in data.series.iter().enumerate() {
            labelled_line(&mut chart, pts.clone(), okabe(i), label.clone(), 3)?;
        }
        legend(&mut chart, 12)
    })(ChartData {
        series,
        ..Default::default()
    })
}

/// Base fee and the oracle price over time, with liquidation markers.
fn base_fee_and_liquidations(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let fee: Vec<(f64, f64)> = cx
        .run
        .blocks
        .iter()
        .map(|b| (b.number as f64, b.base_fee as f64 / 1e9))
        .collect();
    let price: Vec<(f64, f64)> = cx
        .run
        .blocks
        .iter()
        .map(|b| (b.number as f64, to_f64_lossy(b.native_price, 8)))
        .collect();
    let at = |pts: &[(f64, f64)], block: u64| {
        pts.iter()
            .rev()
            .find(|p| p.0 <= block as f64)
            .map(|p| p.1)
            .unwrap_or(0.0)
    };
    let mut marks = vec![(
        "historical liquidations".to_string(),
        cx.run
            .opportunities
            .iter()
            .flat_map(|o| {
                o.liquidations
                    .iter()
                    .map(|l| (l.block as f64, at(&fee, l.block)))
            })
            .collect::<Vec<_>>(),
    )];
    for &i in &cx.chosen {
        marks.push((
            cx.labels[i].clone(),
            cx.run.actions[i]
                .iter()
                .map(|a| (a.block as f64, at(&fee, a.block)))
                .collect(),
        ));
    }
    chart!(cx, "base_fee_and_liquidations", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        let (_, h) = root.dim_in_pixel();
        let (upper, lower) = root.split_vertically(h * 3 / 5);
        let fee = &data.series[0].1;
        let (_, fhi) = range(fee.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(&upper)
            .caption("Base fee and liquidations", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(cx.first as f64..cx.last as f64, 0.0..fhi)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| cx.time_label(*x))
            .y_label_formatter(&tick)
            .y_desc("base fee (gwei)")
            .draw()
            .map_err(e)?;
        let c = okabe(7);
        chart
            .draw_series(LineSeries::new(fee.clone(), c.stroke_width(2)))
            .map_err(e)?
            .label("base fee")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        for (k, (label, pts)) in data.more.iter().enumerate() {
            let color = okabe(k);
            let offset = k as f64 * fhi * 0.03;
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Cross::new((p.0, p.1 + offset), 4, color.stroke_width(2))),
                )
                .map_err(e)?
                .label(label.clone())
                .legend(move |(x, y)| Cross::new((x + 9, y), 4, color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(e)?;
        let price = &data.series[1].1;
        let (plo, phi) = range(price.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(&lower)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(cx.first as f64..cx.last as f64, plo..phi)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(cx.time_desc())
            .x_label_formatter(&|x| cx.time_label(*x))
            .y_label_formatter(&tick)
            .y_desc("native asset (USD)")
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(price.clone(), okabe(0).stroke_width(2)))
            .map_err(e)?;
        Ok(())
    })(ChartData {
        series: vec![("base fee".into(), fee), ("price".into(), price)],
        more: marks,
        ..Default::default()
    })
}

/// Capital of capital-limited strategies (backstop pools) over time, as a return on deposits.
fn backstop_pool_balance(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let mut pools: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    for c in &cx.run.capital {
        pools
            .entry(c.instance)
            .or_default()
            .push((c.block as f64, to_f64_lossy(c.capital_base, 8)));
    }
    if pools.is_empty() {
        return Ok(Vec::new());
    }
    let series = pools
        .into_iter()
        .map(|(i, mut pts)| {
            let deposits = pts.first().map(|p| p.1).unwrap_or(0.0);
            if deposits > 0.0 {
                for p in pts.iter_mut() {
                    p.1 = (p.1 / deposits - 1.0) * 100.0;
                }
            }
            (cx.labels[i].clone(), pts)
        })
        .collect();
    chart!(cx, "backstop_pool_balance", |root, cx, data| {
        time_lines(
            root,
            cx,
            "Backstop pool balance: return on deposits (%)",
            "% of deposits",
            &data.series,
            0,
        )
    })(ChartData {
        series,
        ..Default::default()
    })
}

/// A flow's label in `gas_per_flow`: the protocol, the funding, whether it sold through a real
/// pool, and whether it took several liquidation calls (two-step decisions).
fn flow_label(
    protocol: &str,
    funding: crate::strategy::Funding,
    sold: bool,
    calls: bool,
) -> String {
    let funding = match funding {
        crate::strategy::Funding::Own => "own funds",
        crate::strategy::Funding::FlashLoan => "flash loan",
        crate::strategy::Funding::BackstopPool => "backstop",
    };
    let kept = if sold { "sold" } else { "kept" };
    let calls = if calls { ", 2+ calls" } else { "" };
    format!("{protocol} {funding}, {kept}{calls}")
}

/// A flow of `gas_per_flow`: (funding order, sold through a real pool, several calls).
type FlowKey = (u8, bool, bool);
/// A flow's funding, liquidations, and their liquidation-call and remaining gas.
type FlowGas = (crate::strategy::Funding, u64, u128, u128);

/// Mean gas per liquidation by flow, stacked: the liquidation call's part and the rest.
fn gas_per_flow(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let protocol = cx.run.market.kind().as_str();
    // (funding, sold, several calls) in the Funding order, kept before sold: (count, liquidation
    // gas, the rest).
    let mut flows: BTreeMap<FlowKey, FlowGas> = BTreeMap::new();
    for a in cx.run.actions.iter().flatten() {
        let order = match a.funding {
            crate::strategy::Funding::Own => 0,
            crate::strategy::Funding::FlashLoan => 1,
            crate::strategy::Funding::BackstopPool => 2,
        };
        let f = flows
            .entry((order, a.route.is_some(), a.calls > 1))
            .or_insert((a.funding, 0, 0, 0));
        f.1 += 1;
        f.2 += u128::from(a.liquidation_gas.min(a.gas_used));
        f.3 += u128::from(a.gas_used.saturating_sub(a.liquidation_gas));
    }
    let bars: Vec<(String, Vec<(String, f64)>)> = flows
        .into_iter()
        .map(|((_, sold, calls), (funding, n, liq, rest))| {
            let n = n.max(1) as f64;
            (
                format!("{} (n={n})", flow_label(protocol, funding, sold, calls)),
                vec![
                    ("liquidation call".to_string(), liq as f64 / n),
                    ("rest of the transaction".to_string(), rest as f64 / n),
                ],
            )
        })
        .collect();
    let title = if bars.is_empty() {
        "Gas per liquidation by flow: no liquidation in this run".to_string()
    } else {
        "Gas per liquidation by flow (mean, EVM-measured)".to_string()
    };
    chart!(cx, "gas_per_flow", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        stacked_bars(root, &data.title, "gas", &data.bars)
    })(ChartData {
        bars,
        title,
        ..Default::default()
    })
}

/// Real sales' price impact (bps) by block, a series of dots per collateral asset.
fn slippage_by_asset(cx: &ChartContext<'_>) -> Result<Vec<String>> {
    let symbols = crate::protocol::LendingMarket::symbols(&cx.run.market);
    let mut assets: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    for a in cx.run.actions.iter().flatten() {
        if a.route.is_some() {
            assets
                .entry(a.collateral)
                .or_default()
                .push((a.block as f64, a.price_impact_bps as f64));
        }
    }
    let series: Vec<(String, Vec<(f64, f64)>)> = assets
        .into_iter()
        .map(|(c, mut pts)| {
            pts.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)));
            pts.dedup();
            let name = symbols.get(c).cloned().unwrap_or_else(|| format!("#{c}"));
            (name, pts)
        })
        .collect();
    let title = if series.is_empty() {
        "Price impact of real sales: no real sales in this run (formula DEX model)".to_string()
    } else {
        "Price impact of real sales by collateral asset (bps)".to_string()
    };
    chart!(cx, "slippage_by_asset", |root, cx, data| {
        root.fill(&WHITE).map_err(e)?;
        let (_, yhi) = range(data.series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
        let top = if data.series.is_empty() {
            100.0
        } else {
            yhi.max(1.0) * 1.1
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&data.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(cx.first as f64..cx.last as f64, 0.0..top)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(cx.time_desc())
            .x_label_formatter(&|x| cx.time_label(*x))
            .y_label_formatter(&tick)
            .y_desc("price impact (bps)")
            .x_labels(9)
            .draw()
            .map_err(e)?;
        if data.series.is_empty() {
            let middle = (cx.first as f64 + cx.last as f64) / 2.0;
            chart
                .draw_series(std::iter::once(Text::new(
                    "no real sales".to_string(),
                    (middle, top / 2.0),
                    ("sans-serif", 18).into_font().color(&BLACK),
                )))
                .map_err(e)?;
            return Ok(());
        }
        for (i, (label, pts)) in data.series.iter().enumerate() {
            let color = okabe(i);
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(e)?
                .label(label.clone())
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(e)
    })(ChartData {
        series,
        title,
        ..Default::default()
    })
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
                let color = okabe(i);
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

/// The best set (by net profit) of each strategy kind, in order of first appearance.
fn chosen_sets(run: &StrategyRun, instances: &[Instance]) -> Vec<usize> {
    let mut best: Vec<(String, usize)> = Vec::new();
    for (i, inst) in instances.iter().enumerate() {
        let net = |k: usize| run.summary.get(k).map(|s| s.net_profit_usd).unwrap_or(0.0);
        match best.iter_mut().find(|(kind, _)| *kind == inst.kind) {
            Some(entry) if net(i) > net(entry.1) => entry.1 = i,
            Some(_) => {}
            None => best.push((inst.kind.clone(), i)),
        }
    }
    best.into_iter().map(|(_, i)| i).collect()
}

/// A study's chart (not one of [`CHARTS`], which draw one window): each parameter set's net
/// profit (USD) on every window as grouped bars, one colour per window, into
/// `dir/study_net_profit.{png,svg}`; `sets` are `(label, net profit per window)`.
pub fn study_net_profit(
    dir: &Path,
    windows: &[String],
    sets: &[(String, Vec<f64>)],
) -> Result<Vec<String>> {
    register_font()?;
    both!(dir, "study_net_profit", |a| grouped_bars(a, windows, sets))
}

/// Grouped bars: one group per set, one bar per window (negative values below the axis).
fn grouped_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    windows: &[String],
    sets: &[(String, Vec<f64>)],
) -> std::result::Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(e)?;
    let values = || sets.iter().flat_map(|s| s.1.iter().copied());
    let top = values().fold(1.0, f64::max) * 1.15;
    let bottom = values().fold(0.0, f64::min) * 1.15;
    let names: Vec<String> = sets.iter().map(|s| s.0.clone()).collect();
    let mut chart = category_chart(
        root,
        ("Net profit per parameter set on each window (USD)", 20),
        &names,
        bottom..top,
        "net profit, USD",
    )?;
    let width = 0.8 / windows.len().max(1) as f64;
    for (j, window) in windows.iter().enumerate() {
        let color = okabe(j);
        let rects: Vec<Rectangle<(f64, f64)>> = sets
            .iter()
            .enumerate()
            .map(|(i, (_, nets))| {
                let x = i as f64 - 0.4 + j as f64 * width;
                let v = nets.get(j).copied().unwrap_or(0.0);
                Rectangle::new(
                    [(x, 0.0f64.min(v)), (x + width, 0.0f64.max(v))],
                    color.filled(),
                )
            })
            .collect();
        chart
            .draw_series(rects)
            .map_err(e)?
            .label(window.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(e)
}
