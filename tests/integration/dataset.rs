//! Devnet windows, datasets on disk, replay fidelity, the opportunity ledger and what-if runs.

use std::path::Path;
use std::sync::OnceLock;

use alloy_primitives::U256;
use liqsim::data::dataset::{read_dataset, write_dataset};
use liqsim::data::records::BlockRecord;
use liqsim::engine::opportunities::{Ending, OpportunityTracker};
use liqsim::engine::replay::{replay, ReplayHooks};
use liqsim::engine::whatif::what_if_liquidation;
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::actor;
use liqsim::evm::replayed::ReplayedTx;
use liqsim::protocol::aave_v3::market::V3Position;
use liqsim::protocol::aave_v3::{
    AaveV3Market, LiquidationIndexes, LiquidationPrediction, LiquidationRequest,
};
use liqsim::protocol::AnyMarket;
use liqsim::scenario::LoadedScenario;
use liqsim::source::devnet::{build_window, BuiltWindow};
use liqsim::Error;
use revm::database::EmptyDB;

use crate::common::{aave_v3_artifacts, temp_dir};

fn small_scenario() -> LoadedScenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml");
    LoadedScenario::from_file(&path).unwrap()
}

fn built() -> &'static BuiltWindow {
    static BUILT: OnceLock<BuiltWindow> = OnceLock::new();
    BUILT.get_or_init(|| build_window(&small_scenario(), aave_v3_artifacts(), None).unwrap())
}

#[test]
fn building_twice_gives_byte_identical_files() {
    let again = build_window(&small_scenario(), aave_v3_artifacts(), None).unwrap();
    let (a, b) = (temp_dir("test", "build-a"), temp_dir("test", "build-b"));
    let ma = write_dataset(&a, &built().window).unwrap();
    let mb = write_dataset(&b, &again.window).unwrap();
    assert_eq!(ma.files, mb.files);
    for file in ma.files.keys().chain(["manifest.json".to_string()].iter()) {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn window_has_crash_history_and_replays_with_every_receipt_matched() {
    let built = built();
    let w = &built.window;
    assert_eq!(w.blocks.len(), 300);
    assert!(
        w.transactions.len() > 300,
        "{} transactions",
        w.transactions.len()
    );
    assert!(
        built.competitor_liquidations > 0,
        "competitors liquidated nothing"
    );
    let dir = temp_dir("test", "replay");
    write_dataset(&dir, w).unwrap();
    let window = read_dataset(&dir).unwrap();
    assert_eq!(&window, w);
    let report = liqsim::app::run::replay_window(&window, true, false).unwrap();
    assert_eq!(report.fidelity.transactions, w.transactions.len() as u64);
    assert_eq!(
        report.fidelity.receipts_matched,
        report.fidelity.transactions
    );
    assert!(report.fidelity.price_updates > 0);
    let liquidated = report
        .opportunities
        .iter()
        .filter(|o| o.ending == Ending::Liquidated)
        .count();
    assert!(liquidated > 0, "{:?}", report.opportunities.len());
    // every historical liquidation the chain recorded is attributed to an opportunity
    let attributed: usize = report
        .opportunities
        .iter()
        .map(|o| o.liquidations.len())
        .sum();
    let recorded: u64 = report.liquidations_by.values().sum();
    assert_eq!(attributed as u64, recorded);
}

#[test]
fn a_flipped_byte_is_named() {
    let dir = temp_dir("test", "corrupt");
    write_dataset(&dir, &built().window).unwrap();
    let file = dir.join("receipts.parquet");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    match read_dataset(&dir) {
        Err(Error::InvalidFile { path, message }) => {
            assert!(path.ends_with("receipts.parquet"), "{}", path.display());
            assert!(message.contains("hash"), "{message}");
        }
        other => panic!(
            "expected a named-file error, got {:?}",
            other.map(|w| w.manifest.name)
        ),
    }
}

#[test]
fn a_modified_history_is_caught_by_the_replay() {
    let mut window = built().window.clone();
    let i = window.receipts.iter().position(|r| r.success).unwrap();
    window.receipts[i].gas_used += 1;
    let report = liqsim::app::run::replay_window(&window, false, false).unwrap();
    assert_eq!(
        report.fidelity.receipts_matched + 1,
        report.fidelity.transactions
    );
    assert!(report
        .fidelity
        .first_divergence
        .unwrap()
        .contains("gas used"));
    assert!(liqsim::app::run::replay_window(&window, true, false).is_err());
}

/// At the first price update that leaves a position liquidatable, run a what-if liquidation.
struct WhatIfProbe {
    tracker: OpportunityTracker,
    market: AaveV3Market,
    checked: u32,
}

impl ReplayHooks<EmptyDB> for WhatIfProbe {
    fn on_block_start(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
    ) -> liqsim::Result<()> {
        self.tracker.on_block_start(evm, block)
    }
    fn on_transaction(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> liqsim::Result<()> {
        self.tracker.on_transaction(evm, block, tx)
    }
    fn on_price_update(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> liqsim::Result<()> {
        self.tracker.on_price_update(evm, block, tx)?;
        // The index's natively computed normalized income and debt equal the Pool's views.
        for (i, r) in self.market.reserves.iter().enumerate() {
            let state = self.tracker.book().as_aave_v3().unwrap().reserves()[i];
            assert_eq!(
                state.liquidity_index,
                self.market.normalized_income(evm, i)?,
                "{} income",
                r.symbol
            );
            let debt = evm.view(
                self.market.pool,
                &liqsim::protocol::aave_v3::abi::IPool::getReserveNormalizedVariableDebtCall {
                    asset: r.underlying,
                },
                "debt index",
            )?;
            assert_eq!(state.variable_debt_index, debt, "{} debt", r.symbol);
            assert_eq!(state.price, self.market.price(evm, i)?);
        }
        if self.checked >= 3 {
            return Ok(());
        }
        let open: Vec<_> = self.tracker.ledger.open().map(|o| o.user).collect();
        for user in open {
            let Some(best) = self
                .tracker
                .book()
                .as_aave_v3()
                .unwrap()
                .best_liquidation(&user)?
            else {
                continue;
            };
            let request = LiquidationRequest {
                collateral: best.collateral,
                debt: best.debt,
                debt_to_cover: U256::MAX,
                receive_shares: false,
            };
            let states = self.tracker.book().as_aave_v3().unwrap().reserves();
            let indexes = LiquidationIndexes {
                collateral_liquidity_index: states[best.collateral].liquidity_index,
                debt_variable_index: states[best.debt].variable_debt_index,
            };
            let index = self.tracker.book().as_aave_v3().unwrap();
            let reserves = index.user_reserves(&user)?;
            let position = V3Position::new(reserves.clone(), index.shared_configs())?;
            let config = self.tracker.book().as_aave_v3().unwrap().configs()[best.collateral];
            let prediction =
                AaveV3Market::predict_liquidation(&reserves, &request, &config, &indexes)?;
            let before = evm.db().cache.accounts.len();
            let result = what_if_liquidation(
                evm,
                &AnyMarket::AaveV3(self.market.clone()),
                actor("what-if-liquidator"),
                user,
                &position,
                &request,
                2_000_000_000,
            )?;
            assert_eq!(
                evm.db().cache.accounts.len(),
                before,
                "the what-if wrote into the replayed state"
            );
            match prediction {
                LiquidationPrediction::Executes(o) => {
                    assert!(result.success, "{result:?}");
                    assert!(result.gas_used > 100_000);
                    assert_eq!(result.debt_repaid, o.debt_repaid);
                    assert_eq!(result.collateral_received, o.collateral_to_liquidator);
                }
                LiquidationPrediction::Reverts(code) => {
                    assert!(!result.success);
                    assert!(result.revert_reason.unwrap().starts_with(&code.to_string()));
                }
            }
            self.checked += 1;
            break;
        }
        Ok(())
    }
}

#[test]
fn what_if_runs_at_hook_points_without_touching_history() {
    let window = &built().window;
    let (details, mut evm) = liqsim::app::run::open_window(window).unwrap();
    let tracker =
        OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start).unwrap();
    let mut probe = WhatIfProbe {
        tracker,
        market: details.market.as_aave_v3().unwrap().clone(),
        checked: 0,
    };
    let fidelity = replay(&mut evm, window, true, &mut probe, None).unwrap();
    assert!(
        probe.checked > 0,
        "no liquidatable position at any price update"
    );
    // The index read positions straight from storage, and they equal the contracts' views.
    assert!(probe.tracker.book().as_aave_v3().unwrap().reads_storage());
    assert!(probe.tracker.book().as_aave_v3().unwrap().len() > 100);
    assert_eq!(
        probe
            .tracker
            .book()
            .as_aave_v3()
            .unwrap()
            .users_differing_from_views(&mut evm)
            .unwrap(),
        Vec::<alloy_primitives::Address>::new()
    );
    assert_eq!(fidelity.receipts_matched, fidelity.transactions);
}

#[test]
fn inspect_counts_the_window() {
    let dir = temp_dir("test", "inspect");
    write_dataset(&dir, &built().window).unwrap();
    let (manifest, i) = liqsim::app::run::inspect(&dir).unwrap();
    assert_eq!(manifest.name, "small-crash");
    assert_eq!(i.blocks, 300);
    assert_eq!(i.borrowers_at_start, 150);
    assert!(
        i.liquidations.contains_key("fast-searcher"),
        "{:?}",
        i.liquidations
    );
    assert!(i.price_updates > 0);
}
