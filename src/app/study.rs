//! The study commands: `liqsim plan` (the shard list of a study file), `liqsim shard run` (one
//! shard into its partition folder; a complete one is skipped), `liqsim merge` (the study's
//! outputs from the partitions) and `liqsim study` (the whole study in one process).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::analytics::result::StrategyRun;
use crate::app::cli::ArtifactArgs;
use crate::data::records::Manifest;
use crate::error::{Error, Result};
use crate::output::study::{ShardHead, ShardState, StudyMeta, StudyWindowRun};
use crate::output::RunContext;
use crate::scenario::study::{LoadedStudy, Plan, StudyWindow, WindowSource};
use crate::strategy::Instance;

/// `liqsim plan`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  liqsim plan studies/crash-depths.toml -o plan.json")]
pub struct PlanArgs {
    /// Study file (TOML: windows, strategies, seeds, parameter sets per shard).
    pub study: PathBuf,
    /// The plan file to write (JSON).
    #[arg(short, long)]
    pub out: PathBuf,
}

/// `liqsim shard ...`.
#[derive(Debug, Subcommand)]
pub enum ShardCommand {
    /// Run shard I of a plan into `OUT/shard=I/` (skipped when it is already complete for the
    /// same study id).
    #[command(
        after_help = "Examples:\n  liqsim shard run plan.json 0 -o out/study-shards\n  liqsim shard run plan.json $JOB_COMPLETION_INDEX -o /data/shards -d /data/datasets"
    )]
    Run(ShardRunArgs),
}

/// `liqsim shard run`.
#[derive(Debug, Args)]
pub struct ShardRunArgs {
    /// The plan (`liqsim plan`).
    pub plan: PathBuf,
    /// Shard index, 0-based (`liqsim plan` prints how many there are).
    pub index: usize,
    /// Folder holding the partitions (`shard=I/` folders).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Folder holding datasets (built on first use, shared by the shards of one window).
    #[arg(short, long, default_value = "datasets")]
    pub datasets: PathBuf,
    /// Threads evaluating strategies (default: all cores).
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// Artifact location.
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// `liqsim merge`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  liqsim merge out/study-shards -o out/study")]
pub struct MergeArgs {
    /// Folder holding the partitions (`shard=I/` folders).
    pub shards: PathBuf,
    /// Output folder of the study.
    #[arg(short, long)]
    pub out: PathBuf,
}

/// `liqsim study`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  liqsim study studies/crash-depths.toml -o out/crash-depths")]
pub struct StudyArgs {
    /// Study file.
    pub study: PathBuf,
    /// Output folder of the study.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Folder holding datasets.
    #[arg(short, long, default_value = "datasets")]
    pub datasets: PathBuf,
    /// Threads evaluating strategies (default: all cores).
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// Artifact location.
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// `liqsim plan`.
pub fn plan(args: &PlanArgs) -> Result<()> {
    let study = LoadedStudy::from_file(&args.study)?;
    let plan = study.plan();
    crate::data::dataset::write_file_atomic(&args.out, &plan.to_json()?)?;
    println!(
        "study {} ({}): {} windows × {} parameter sets in {} shards; plan in {}",
        plan.study_id,
        plan.name,
        plan.windows.len(),
        plan.param_sets.len(),
        plan.shards.len(),
        args.out.display()
    );
    for s in &plan.shards {
        println!(
            "  shard {}: window {}, {}",
            s.shard,
            s.window,
            s.param_sets.join(" ")
        );
    }
    Ok(())
}

fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        crate::app::cli::check_threads(n)?;
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::config("--threads", n, e.to_string()))?;
    }
    Ok(())
}

/// Runs `instances` (the study's sets `first..`) on one window: its dataset (built on first use
/// under `datasets`), the replay, the strategies; with the report context every window's
/// outputs carry.
fn run_window(
    study: &LoadedStudy,
    win: &StudyWindow,
    instances: &[Instance],
    datasets: &Path,
    artifacts: &ArtifactArgs,
) -> Result<(StrategyRun, Manifest, RunContext)> {
    let command_line = vec![
        "liqsim".into(),
        "study".into(),
        study.file.name.clone(),
        win.label.clone(),
    ];
    let read = |dir: &Path| -> Result<(crate::data::records::Window, String)> {
        let _reading = crate::data::folder::lock_shared(dir)?;
        Ok((
            crate::data::dataset::read_dataset(dir)?,
            crate::app::cli::dataset_sha256(dir)?,
        ))
    };
    let (window, context, dex) = match &win.source {
        WindowSource::Scenario(loaded) => {
            let warnings = crate::app::cli::preflight(loaded)?;
            let store = artifacts.store(loaded.scenario.market.kind())?;
            let dir = crate::app::run::ensure_dataset(loaded, &store, datasets)?;
            let (window, dataset_sha256) = read(&dir)?;
            let context = RunContext {
                scenario_sha256: loaded.sha256.clone(),
                dataset_sha256,
                command_line,
                methodology: crate::app::run::methodology(loaded),
                warnings,
                start_timestamp: loaded.scenario.window.start_timestamp,
            };
            (window, context, loaded.scenario.dex.clone())
        }
        WindowSource::Dataset { dir, .. } => {
            let (window, dataset_sha256) = read(dir)?;
            let m = &window.manifest;
            let context = RunContext {
                scenario_sha256: m.provenance.scenario_sha256.clone().unwrap_or_default(),
                dataset_sha256,
                command_line,
                methodology: vec![(
                    "Source".into(),
                    format!(
                        "the dataset {} ({} window `{}` of chain {}, blocks {}..={}, {} market), run as it is with the study's parameter sets and the default DEX model",
                        dir.display(),
                        m.provenance.kind,
                        m.name,
                        m.chain_id,
                        m.first_block,
                        m.last_block,
                        m.protocol.kind
                    ),
                )],
                warnings: Vec::new(),
                start_timestamp: window.blocks.first().map(|b| b.timestamp).unwrap_or(0),
            };
            (window, context, crate::scenario::DexConfig::default())
        }
    };
    let run = crate::app::run::run_strategies(&window, instances, &dex, false, false)?;
    crate::app::cli::report_divergences(&run.fidelity, false)?;
    Ok((run, window.manifest, context))
}

/// `liqsim shard run`.
pub fn shard_run(args: &ShardRunArgs) -> Result<()> {
    let plan = Plan::read(&args.plan)?;
    if plan.liqsim_version != env!("CARGO_PKG_VERSION") {
        return Err(Error::config(
            "plan liqsim_version",
            &plan.liqsim_version,
            format!(
                "this liqsim's version ({}): run `liqsim plan` again with it",
                env!("CARGO_PKG_VERSION")
            ),
        ));
    }
    let n = plan.shards.len();
    let Some(planned) = plan.shards.get(args.index) else {
        return Err(Error::config(
            "shard index",
            args.index,
            format!(
                "0..={} (the plan {} has {n} shards)",
                n.saturating_sub(1),
                args.plan.display()
            ),
        ));
    };
    crate::data::folder::check_apart(&args.out, &args.datasets, "the datasets folder", false)?;
    if crate::output::study::completed_shard(&args.out, args.index, &plan.study_id)?.is_some() {
        println!(
            "shard {}/{n} (window {}, {}) already complete for study {}: skipped",
            args.index,
            planned.window,
            planned.param_sets.join(" "),
            plan.study_id
        );
        return Ok(());
    }
    set_threads(args.threads)?;
    let study = LoadedStudy::from_file(Path::new(&plan.study))?;
    if study.study_id != plan.study_id {
        return Err(Error::Mismatch(format!(
            "the study {} changed since {} was written (study id {} then, {} now): run `liqsim plan` again",
            plan.study,
            args.plan.display(),
            plan.study_id,
            study.study_id
        )));
    }
    let spec = study.shards[args.index];
    let win = &study.windows[spec.window];
    let start = std::time::Instant::now();
    let (run, manifest, context) = run_window(
        &study,
        win,
        &study.instances[spec.first..spec.end],
        &args.datasets,
        &args.artifacts,
    )?;
    let (what_ifs, opportunities) = (run.what_ifs, run.opportunities.len());
    let part = crate::analytics::study::WindowPart::from_run(&win.label, run, spec.first, manifest);
    let labels: Vec<String> = study.windows.iter().map(|w| w.label.clone()).collect();
    let written = crate::output::study::write_shard(
        &args.out,
        &ShardHead {
            study_id: &study.study_id,
            study: &study.file.name,
            shard: args.index,
            shards: n,
            windows: &labels,
            param_sets: &plan.param_sets,
        },
        &ShardState { context, part },
        &study.instances,
    )?;
    let rows: Vec<String> = written
        .files
        .iter()
        .filter_map(|(name, f)| {
            f.rows
                .map(|r| format!("{} {r}", name.trim_end_matches(".parquet")))
        })
        .collect();
    println!(
        "shard {}/{n} (window {}, {}): {opportunities} opportunities, {what_ifs} what-ifs in {:.1} s; rows: {}; in {}",
        args.index,
        win.label,
        planned.param_sets.join(" "),
        start.elapsed().as_secs_f64(),
        rows.join(", "),
        crate::output::study::shard_dir(&args.out, args.index).display()
    );
    Ok(())
}

/// `liqsim merge`.
pub fn merge(args: &MergeArgs) -> Result<()> {
    crate::output::check_writable(&args.out)?;
    crate::data::folder::check_apart(&args.out, &args.shards, "the shards folder", false)?;
    let shards = crate::output::study::read_shards(&args.shards)?;
    let head = shards[0].manifest.clone();
    for s in &shards {
        if s.manifest.windows != head.windows || s.manifest.param_sets != head.param_sets {
            return Err(Error::Mismatch(format!(
                "{} lists other windows or parameter sets than {}: not one study",
                s.dir.display(),
                shards[0].dir.display()
            )));
        }
        if !head.windows.contains(&s.manifest.window) {
            return Err(Error::Mismatch(format!(
                "{} is of window `{}`, which the study does not list",
                s.dir.display(),
                s.manifest.window
            )));
        }
    }
    let instances: Vec<Instance> = head
        .param_sets
        .iter()
        .map(|p| Instance {
            kind: p.strategy.clone(),
            params: p.params.clone(),
        })
        .collect();
    let mut runs = Vec::new();
    for label in &head.windows {
        let mine: Vec<&crate::output::study::ShardFolder> = shards
            .iter()
            .filter(|s| &s.manifest.window == label)
            .collect();
        let Some(first) = mine.first() else {
            return Err(Error::Mismatch(format!(
                "window `{label}`: no partition holds it"
            )));
        };
        if let Some(other) = mine.iter().find(|s| s.state.context != first.state.context) {
            return Err(Error::Mismatch(format!(
                "{} and {} ran window `{label}` on different scenarios or datasets (their hashes differ)",
                other.dir.display(),
                first.dir.display()
            )));
        }
        let parts: Vec<(String, crate::analytics::study::WindowPart)> = mine
            .iter()
            .map(|s| (s.dir.display().to_string(), s.state.part.clone()))
            .collect();
        let run = crate::analytics::study::assemble(&parts, &instances)?;
        runs.push((label.clone(), run, first.state.context.clone()));
    }
    let windows: Vec<StudyWindowRun<'_>> = runs
        .iter()
        .map(|(label, run, context)| StudyWindowRun {
            label,
            run,
            context,
        })
        .collect();
    crate::output::study::write_study(
        &args.out,
        &StudyMeta {
            study_id: &head.study_id,
            name: &head.study,
        },
        &windows,
        &instances,
        Some(&shards),
    )?;
    println!(
        "merged {} shards of study {} ({} windows × {} parameter sets) into {} (report.html)",
        shards.len(),
        head.study_id,
        head.windows.len(),
        instances.len(),
        args.out.display()
    );
    print!("{}", table(&windows, &instances));
    Ok(())
}

/// `liqsim study`: every window with every parameter set in this process.
pub fn study(args: &StudyArgs) -> Result<()> {
    let study = LoadedStudy::from_file(&args.study)?;
    crate::output::check_writable(&args.out)?;
    crate::data::folder::check_apart(&args.out, &args.datasets, "the datasets folder", false)?;
    set_threads(args.threads)?;
    let mut runs = Vec::new();
    for win in &study.windows {
        let (run, _, context) = run_window(
            &study,
            win,
            &study.instances,
            &args.datasets,
            &args.artifacts,
        )?;
        eprintln!(
            "window {}: {} opportunities, {} what-ifs",
            win.label,
            run.opportunities.len(),
            run.what_ifs
        );
        runs.push((win.label.clone(), run, context));
    }
    let windows: Vec<StudyWindowRun<'_>> = runs
        .iter()
        .map(|(label, run, context)| StudyWindowRun {
            label,
            run,
            context,
        })
        .collect();
    crate::output::study::write_study(
        &args.out,
        &StudyMeta {
            study_id: &study.study_id,
            name: &study.file.name,
        },
        &windows,
        &study.instances,
        None,
    )?;
    println!(
        "study {} ({}): {} windows × {} parameter sets; outputs in {} (report.html)",
        study.study_id,
        study.file.name,
        windows.len(),
        study.instances.len(),
        args.out.display()
    );
    print!("{}", table(&windows, &study.instances));
    Ok(())
}

/// The terminal table of a study: each set's net profit (USD) per window and in total, and its
/// captures in total.
fn table(windows: &[StudyWindowRun<'_>], instances: &[Instance]) -> String {
    use crate::units::thousands;
    let rows = crate::analytics::study::study_rows(
        &windows
            .iter()
            .map(|w| (w.label.to_string(), w.run))
            .collect::<Vec<_>>(),
        instances,
    );
    let width = windows
        .iter()
        .map(|w| w.label.len())
        .max()
        .unwrap_or(0)
        .max(11);
    let kind = instances
        .iter()
        .map(|i| i.kind.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut out = format!("{:<3} {:<kind$}", "set", "strategy");
    for w in windows {
        out.push_str(&format!(" {:>width$}", w.label));
    }
    out.push_str(&format!(" {:>width$} {:>9}\n", "total net", "captured"));
    for (i, inst) in instances.iter().enumerate() {
        let id = crate::strategy::param_set_id(i);
        out.push_str(&format!("{id:<3} {:<kind$}", inst.kind));
        for r in rows.iter().filter(|r| r.param_set_id == id) {
            out.push_str(&format!(" {:>width$}", thousands(r.net_profit_usd, 0)));
            if r.window == crate::analytics::study::TOTAL {
                out.push_str(&format!(
                    " {:>9}",
                    format!("{}/{}", r.captured, r.opportunities)
                ));
            }
        }
        out.push('\n');
    }
    out
}
